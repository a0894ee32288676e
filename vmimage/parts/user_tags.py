"""The config's `tags` on every resource of the pipeline that takes tags.

One transformation on the pipeline reaches every resource below it (as the type-alias
one does), so a new resource type is tagged without anyone remembering to: whether a
type takes tags is read from its azure-native constructor. The program's own tags
(`vmimage-*`, what a resource is) win over the config's; the spec refuses config keys
that would collide with them.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Mapping
from typing import Any

import pulumi


@functools.cache
def takes_tags(resource_type: Any) -> bool:
    """Whether the resource's constructor has a `tags` input (azure-native resources
    declare their inputs in `_internal_init`); once per type."""
    init = getattr(resource_type, "_internal_init", None)
    return init is not None and "tags" in inspect.signature(init).parameters


def merged(user: Mapping[str, str], own: Any) -> Any:
    """The config's tags under the resource's own (which win); Outputs stay Outputs."""
    if own is None or isinstance(own, Mapping) and not any(
            isinstance(v, pulumi.Output) for v in own.values()):
        return {**user, **(own or {})}
    return pulumi.Output.from_input(own).apply(lambda tags: {**user, **(tags or {})})


def user_tags(tags: Mapping[str, str]) -> pulumi.ResourceTransformation:
    user = dict(tags)

    def transform(args: pulumi.ResourceTransformationArgs,
                  ) -> pulumi.ResourceTransformationResult | None:
        resource_type: Any = type(args.resource)  # hashable; typeshed's Resource is not
        if not takes_tags(resource_type):
            return None  # components, dynamic VM actions, random passwords
        props = dict(args.props)
        props["tags"] = merged(user, props.get("tags"))
        return pulumi.ResourceTransformationResult(props, args.opts)

    return transform
