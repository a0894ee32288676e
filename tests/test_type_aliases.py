"""Dropping azure-native's type aliases (vmimage/parts/type_aliases.py) changes what
the engine is told about aliases and nothing else: every registration's inputs, options
and dependencies are the same with and without it."""

from __future__ import annotations

from typing import Any

import pulumi
import pytest
from conftest import load_stack_dict
from program_mocks import Recorded, Registered, run_program

from vmimage.parts.type_aliases import drop_type_aliases, is_type_alias
from vmimage.vocabulary import IMAGE_BUILD, VIRTUAL_MACHINE


def registrations(stack: str, *, keep: bool) -> Recorded:
    config = load_stack_dict(stack)
    if keep:
        config["vmimage:keepTypeAliases"] = True
    return run_program(config, stack=stack)


def alias_types(reg: Registered) -> list[str]:
    return [a.spec.type for a in reg.request.aliases if a.spec.type]


def everything_but_aliases(reg: Registered) -> dict[str, Any]:
    request = reg.request
    return {"urn": reg.urn, "inputs": reg.inputs, "parent": reg.parent,
            "dependencies": sorted(reg.dependencies),
            "property_dependencies": {k: sorted(v) for k, v in
                                      reg.property_dependencies.items()},
            "protect": reg.protect, "ignore_changes": list(request.ignoreChanges),
            "secret_outputs": sorted(reg.additional_secret_outputs),
            "deleted_with": reg.deleted_with, "delete_before_replace":
            reg.delete_before_replace, "custom": reg.custom}


@pytest.mark.parametrize("stack", ["dev", "win"])
def test_registrations_are_identical_but_for_the_aliases(stack: str) -> None:
    dropped, kept = registrations(stack, keep=False), registrations(stack, keep=True)
    # (registrations arrive in the order their inputs resolve: compared by URN)
    without = {r.urn: everything_but_aliases(r) for r in dropped.registered}
    with_ = {r.urn: everything_but_aliases(r) for r in kept.registered}
    assert len(without) == len(dropped.registered) > 10
    assert without == with_
    vm = next(r for r in kept.registered if r.type == VIRTUAL_MACHINE)
    assert len(alias_types(vm)) >= 20  # azure-native's, one per API version
    assert all(t.startswith("azure-native:compute/v") for t in alias_types(vm))
    assert not any(alias_types(r) for r in dropped.registered)


def test_vmimage_s_own_aliases_stay() -> None:
    """ImageBuild's children keep the alias to their old parent."""
    dropped = registrations("dev", keep=False)
    builds = {r.urn for r in dropped.registered if r.type == IMAGE_BUILD}
    children = [r for r in dropped.registered if r.parent in builds]
    assert children and all(len(r.request.aliases) == 1 and r.request.aliases[0].spec.parentUrn
                            for r in children)


def test_only_azure_native_type_aliases_count() -> None:
    assert is_type_alias(pulumi.Alias(type_="azure-native:compute/v20230301:VirtualMachine"))
    assert not is_type_alias(pulumi.Alias(type_="azure-native:compute:VirtualMachine",
                                          name="old"))
    assert not is_type_alias(pulumi.Alias(type_="vmimage:index:Old"))
    assert not is_type_alias("urn:pulumi:dev::vmimage::x::y")


def test_a_resource_without_type_aliases_is_left_as_it_is() -> None:
    args = pulumi.ResourceTransformationArgs(
        resource=None, type_="t", name="n", props={},  # type: ignore[arg-type]
        opts=pulumi.ResourceOptions(aliases=[pulumi.Alias(parent=None)]))
    assert drop_type_aliases(args) is None
