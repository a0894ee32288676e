"""Dropping azure-native's type aliases from the resources this program registers.

azure-native gives every resource an alias per API version its type was ever published
under (`azure-native:compute/v20230301:VirtualMachine`, about 30 for a VM), so stacks that
once used a versioned type token find their resources under the default one. Pulumi's
SDK turns each alias into a spec or URN as the resource is constructed: for this program
that was most of its CPU (pulumi/pulumi#10010). vmimage has only ever registered the
default, unversioned types, so its stacks never need them; a stack that adopted resources
registered under versioned types keeps them with `vmimage:keepTypeAliases: true`.

The SDK applies a component's `transformations` to its children before it reads their
aliases (pulumi `resource.py`, `Resource.__init__`), so one on the pipeline reaches every
resource. Only type aliases of azure-native are dropped: the aliases vmimage itself gives
(ImageBuild's children to their old parent) stay.
"""

from __future__ import annotations

import copy
from typing import Any

import pulumi

#: The config key that keeps the aliases (stacks migrated from versioned type tokens).
KEEP_TYPE_ALIASES = "keepTypeAliases"


def is_type_alias(alias: Any) -> bool:
    """An alias azure-native gives: another type token, the same name, parent and stack."""
    if not isinstance(alias, pulumi.Alias):
        return False
    only_type = all(getattr(alias, field) is ... for field in ("name", "parent", "stack",
                                                                 "project"))
    type_ = getattr(alias, "type_", ...)
    return only_type and isinstance(type_, str) and type_.startswith("azure-native:")


def drop_type_aliases(
    args: pulumi.ResourceTransformationArgs,
) -> pulumi.ResourceTransformationResult | None:
    """A transformation: the resource as registered, without azure-native's type aliases."""
    aliases = args.opts.aliases or []
    kept = [alias for alias in aliases if not is_type_alias(alias)]
    if len(kept) == len(aliases):
        return None
    opts = copy.copy(args.opts)
    opts.aliases = kept or None
    return pulumi.ResourceTransformationResult(args.props, opts)
