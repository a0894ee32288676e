"""The plan as a pull-request comment: `python -m offline up ... --markdown FILE`, and the
same plan from a real `pulumi preview --json` (offline/preview_plan.py).

What a reviewer needs to say yes or no, in GitHub-flavoured Markdown: per image version
its source, regions, disks, steps and whether it is new, unchanged or retired; per clone
group its kind, size, count, version (old -> new) and rollout batches; every change with
its values (old -> new, secrets `[secret]`), creates with their key values, replacements
with the property that forces them; and a Mermaid diagram grouped by image version and
stage, coloured by change. The offline runner adds its simulated stages, critical path
and policy findings.

Everything is read from the resources as registered (types, tags, inputs, dependencies),
never from the spec, so a preview's JSON gives the same plan. Everything is sorted by
stable keys (never by registration order, which follows thread timing), so the same
config always gives the same bytes.

One concern per module, each building on the ones before it:

- model.py: the plan's data (`PlanItem`, `PlanView`) and building it from an offline run
- values.py: values as shown, key values, old -> new diffs (written through the one
  Markdown escaper, offline/escape/markdown.py, as every section is)
- summaries.py: per image version and per clone group, and the count of changes
- mermaid.py: the dependency diagram
- render.py: the Markdown text (`render_markdown`, `plan_sections`)
"""
