"""vmimage: golden Azure VM images and their clones. Thin on purpose: load the spec,
build the pipeline, export what other stacks and people need."""

from pathlib import Path

import pulumi

from vmimage.gc_tuning import tune_gc

tune_gc()  # first: the imports below allocate a lot too (bench/README.md, B1)

from vmimage.components.pipeline import ImagePipeline, ImagePipelineArgs  # noqa: E402
from vmimage.config.provenance import provenance_output  # noqa: E402
from vmimage.parts.type_aliases import KEEP_TYPE_ALIASES  # noqa: E402
from vmimage.release import run_identity  # noqa: E402
from vmimage.stack.config import admin_password, captures_of, load_from_stack  # noqa: E402
from vmimage.stack.definitions import definition_login, definition_subscription  # noqa: E402
from vmimage.stack.evictions import find_evictions  # noqa: E402

loaded = load_from_stack()
# The commit and release are read here, at the boundary, for the provenance tags.
captures = captures_of(loaded, run_identity(Path(__file__).resolve().parent))
pipeline = ImagePipeline(
    "vmimage",
    ImagePipelineArgs(
        spec=loaded.spec,
        captures=captures,
        evictions=find_evictions(loaded.spec, captures),
        admin_password=admin_password(),
        environment=pulumi.Config("azure-native").get("environment"),
        keep_type_aliases=pulumi.Config("vmimage").get_bool(KEEP_TYPE_ALIASES) or False,
        deployment_subscription=definition_subscription(loaded.spec),
        login=definition_login(loaded.spec),
    ),
)

for output, image_ids in pipeline.image_ids.items():  # one per capture target
    pulumi.export(output, image_ids)
pulumi.export("galleryImageId", pipeline.gallery_image_id)
# For other stacks (StackReference, see examples/consumer): which version 'latest' means
# here, and the regions each gallery version is replicated to (a VM can only be created
# from a version in a region it is replicated to).
pulumi.export("latestVersion", loaded.spec.resolve_version("latest"))
pulumi.export("imageRegions", {
    b.version: [r.name for r in loaded.spec.regions_of(b)]
    for b in loaded.spec.builds if loaded.spec.uses_gallery
})
pulumi.export("buildVmStates", pipeline.build_vm_states)
pulumi.export("clones", pipeline.clones)
# What each version is made from and who built it (`vmimage lineage` reads the same).
pulumi.export("provenance", provenance_output(loaded.spec, captures, pipeline.step_digests))
if pipeline.generated_password is not None:
    pulumi.export("adminPassword", pulumi.Output.secret(pipeline.generated_password))
