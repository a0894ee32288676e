"""Destroy safety, as registered under plain Pulumi mocks: images are protected (unless
`protectImages: false`); clones are not, are replaced create-before-delete, and take their
disks and NICs with them; nothing an image needs depends on a clone."""

from __future__ import annotations

from typing import Any

import pytest
from conftest import load_stack_dict
from program_mocks import Recorded, Registered, run_program

VM = "azure-native:compute:VirtualMachine"
IMAGE_TYPES = (
    "azure-native:compute:Gallery",
    "azure-native:compute:GalleryImage",
    "azure-native:compute:GalleryImageVersion",
    "azure-native:compute:Image",
)


def program(stack: str = "dev", **changes: Any) -> Recorded:
    config = load_stack_dict(stack)
    config["vmimage:pipeline"].update(changes)
    return run_program(config, stack=stack)


def images(recorded: Recorded) -> list[Registered]:
    return [r for r in recorded.resources if r.type in IMAGE_TYPES]


def clone_resources(recorded: Recorded) -> list[Registered]:
    """Every resource inside a CloneSet component (VMs, NICs, public IPs)."""
    clone_sets = {r.urn for r in recorded.resources if r.type == "vmimage:index:CloneSet"}
    return [r for r in recorded.resources if r.parent in clone_sets]


@pytest.fixture(scope="module")
def both() -> Recorded:
    """Gallery and managed image, two clone groups: every image type is registered."""
    clones = load_stack_dict("dev")["vmimage:pipeline"]["clones"]
    clones = [*clones, {**clones[0], "name": "api", "count": 2}]
    return program(capture="both", managedImage={"name": "web-ubuntu"}, clones=clones)


def test_images_are_protected_by_default(both: Recorded) -> None:
    found = images(both)
    assert {r.type for r in found} == set(IMAGE_TYPES)
    assert all(r.protect for r in found), [r.name for r in found if not r.protect]
    assert all(not r.retain_on_delete or r.protect for r in found)


def test_protect_images_false_turns_it_off() -> None:
    found = images(program(capture="both", managedImage={"name": "web-ubuntu"},
                           protectImages=False))
    assert found and not any(r.protect for r in found)


def test_win_images_are_protected_too() -> None:
    found = images(program("win"))
    assert found and all(r.protect for r in found)


def test_clones_are_not_protected_and_replaced_create_before_delete(both: Recorded) -> None:
    clones = clone_resources(both)
    assert [r for r in clones if r.type == VM]
    for r in clones:
        assert not r.protect, r.name
        # Create-before-delete is Pulumi's default; a clone must never opt out of it,
        # or a rollout would take a clone down before its successor is up.
        assert not r.delete_before_replace, r.name
        assert not r.retain_on_delete, r.name  # deleting a clone really deletes it


@pytest.mark.parametrize("stack", ["dev", "win"])
def test_clone_disks_and_nics_go_with_the_vm(stack: str) -> None:
    recorded = program(stack)
    vms = [r for r in recorded.resources if r.type == VM]
    assert len(vms) >= 2
    for vm in vms:  # clones and build VMs alike: nothing orphaned, nothing billed after
        storage = vm.inputs["storageProfile"]
        assert storage["osDisk"]["deleteOption"] == "Delete", vm.name
        for disk in storage.get("dataDisks") or []:
            assert disk["deleteOption"] == "Delete", (vm.name, disk["lun"])
        nics = vm.inputs["networkProfile"]["networkInterfaces"]
        # The build VM's NIC outlives a delete-first replacement; Pulumi deletes it.
        expected = "Detach" if vm.name.endswith("-build-vm") else "Delete"
        assert nics and all(n["deleteOption"] == expected for n in nics), vm.name
    clone_vms = [vm for vm in vms if "-clones-" in vm.name]
    captured_luns = sorted(
        d["lun"] for d in load_stack_dict(stack)["vmimage:pipeline"]["builds"][0]["dataDisks"])
    for vm in clone_vms:  # every captured data disk is there, and so deleted with the VM
        assert sorted(d["lun"] for d in vm.inputs["storageProfile"]["dataDisks"]) == \
            captured_luns


def dependency_closure(recorded: Recorded, start: Registered) -> set[str]:
    """Every URN `start` depends on, directly or through what it depends on, its parents
    and their dependencies included."""
    by_urn = {r.urn: r for r in recorded.registered}
    seen: set[str] = set()
    todo = [start.urn]
    while todo:
        reg = by_urn.get(todo.pop())
        if reg is None:
            continue
        edges = [*reg.dependencies, *(u for us in reg.property_dependencies.values() for u in us)]
        if reg.parent:
            edges.append(reg.parent)
        for urn in edges:
            if urn not in seen:
                seen.add(urn)
                todo.append(urn)
    return seen


def test_images_never_depend_on_clones(both: Recorded) -> None:
    clone_urns = {r.urn for r in clone_resources(both)}
    clone_urns |= {r.urn for r in both.resources if r.type == "vmimage:index:CloneSet"}
    for image in images(both):
        assert not dependency_closure(both, image) & clone_urns, image.name
        assert image.deleted_with not in clone_urns


def test_clones_depend_on_images_only_through_data(both: Recorded) -> None:
    """A clone reads its image id (so it is created after, and deleted before, the image);
    it is never parent of, or deleted with, anything outside its clone set."""
    clone_urns = {r.urn for r in clone_resources(both)}
    for r in clone_resources(both):
        assert not r.deleted_with, r.name
    assert not [r for r in both.resources if r.parent in clone_urns]
    for vm in (r for r in clone_resources(both) if r.type == VM):
        image_deps = set(vm.property_dependencies.get("storageProfile", []))
        assert image_deps & {i.urn for i in images(both)}, vm.name
