"""Recipes: a build that names `recipe: R` gets R's keys (size, customize, dataDisks,
regions, ...) unless it sets them itself. Merged on the raw config before the models
validate, so a merged build is checked, fingerprinted and built exactly as if it had been
written out in full (vmimage/config/fingerprint.py sees no difference)."""

from __future__ import annotations

from typing import Any

from vmimage.config.models import RECIPE_FIELDS, BuildSpec

#: The YAML keys a recipe passes on (others are refused at `recipes.<name>` by its model).
RECIPE_KEYS = {BuildSpec.model_fields[name].alias or name for name in RECIPE_FIELDS}


def expand_recipes(data: dict[str, Any]) -> list[str]:
    """Merge each build's recipe into it (in `data`); the problems with `recipe:` keys."""
    recipes = data.get("recipes")
    builds = data.get("builds")
    if not isinstance(builds, list | tuple):
        return []
    known = recipes if isinstance(recipes, dict) else {}
    problems = []
    merged = []
    for i, build in enumerate(builds):
        name = build.get("recipe") if isinstance(build, dict) else None
        if name is None:
            merged.append(build)
            continue
        recipe = known.get(name) if isinstance(name, str) else None
        if not isinstance(recipe, dict):
            if isinstance(name, str) and name not in known:
                listed = ", ".join(map(str, known)) or "none"
                problems.append(f"builds[{i}].recipe: no recipe {name!r} in recipes "
                                f"(recipes: {listed})")
            merged.append(build)
            continue
        # The build's own keys win; a recipe holds no version or source (its model).
        merged.append({**{k: v for k, v in recipe.items() if k in RECIPE_KEYS}, **build})
    data["builds"] = merged
    return problems
