"""Capture targets (vmimage/capture/): one module each behind one interface; `capture`
may name one, `both`, or a list, and every target a build lists gets its image, its
stack output and its lookup."""

from __future__ import annotations

from typing import Any

import pytest
from conftest import load_stack_dict
from program_mocks import run_program

from offline.latency import LatencyModel
from offline.runner import StackConfig
from offline.up import up
from vmimage.capture import TARGETS, targets_of
from vmimage.config.capture import BOTH
from vmimage.config.validate import load_spec
from vmimage.vocabulary import GALLERY_IMAGE_VERSION, MANAGED_IMAGE, VIRTUAL_MACHINE


def with_capture(capture: Any) -> dict[str, Any]:
    config = load_stack_dict("dev")
    pipeline = config["vmimage:pipeline"]
    pipeline["capture"] = capture
    if "gallery" not in capture:
        del pipeline["builds"][0]["regions"]  # one region without a gallery
    pipeline["managedImage"] = {"name": "web-ubuntu"}
    pipeline["security"] = {"trustedLaunch": False}  # managed images have none
    return config


def test_each_target_is_a_module_in_the_table() -> None:
    assert list(TARGETS) == ["gallery", "managedImage", "vhd"]
    assert list(BOTH) == ["gallery", "managedImage"]  # `both`: the images, not the export
    for key, target in TARGETS.items():
        assert target.key == key and target.register.__module__.startswith("vmimage.capture.")
    assert sorted(t.preference for t in TARGETS.values()) == [0, 1, 2]


@pytest.mark.parametrize("capture", ["both", ["managedImage", "gallery"]])
def test_a_list_of_targets_captures_into_each(capture: Any) -> None:
    config = with_capture(capture)
    spec = load_spec(config["vmimage:pipeline"], location="westeurope").spec
    assert [t.key for t in targets_of(spec)] == ["gallery", "managedImage"]  # by preference
    outcome = up(StackConfig("dev", config), latency=LatencyModel())
    run = outcome.run
    assert not (run.failures or run.error), run.error or run.failures
    types = [r.type for r in run.registrations]
    assert types.count(GALLERY_IMAGE_VERSION) == 1 and types.count(MANAGED_IMAGE) == 1
    assert set(run.outputs["imageVersionIds"]) == {"1.0.0"}
    assert set(run.outputs["managedImageIds"]) == {"1.0.0"}
    # clones boot from the preferred target: the gallery version
    clone = next(r for r in run.registrations if r.type == VIRTUAL_MACHINE
                 and "clone" in r.name)
    image_ref = clone.inputs["storageProfile"]["imageReference"]["id"]
    assert "/galleries/" in image_ref


def test_one_managed_image_target_is_what_clones_boot_from() -> None:
    config = with_capture(["managedImage"])
    recorded = run_program(config)
    assert recorded.of_type(GALLERY_IMAGE_VERSION) == []
    (image,) = recorded.of_type(MANAGED_IMAGE)
    clones = [r for r in recorded.of_type(VIRTUAL_MACHINE) if "clone" in r.name]
    assert clones and all(image.urn in c.dependencies for c in clones)


#: Asked for every build not captured yet: is its VM deallocated by a failed step
#: (onFailure: deallocate) and to be started again (vmimage/stack/evictions.py)?
DEALLOCATED_CHECK = "azure-native:compute:getVirtualMachine"


def test_the_lookup_asks_the_preferred_target() -> None:
    recorded = run_program(with_capture(["managedImage", "gallery"]))
    assert set(recorded.invokes) - {DEALLOCATED_CHECK} == {
        "azure-native:compute:getGalleryImageVersion"}
    recorded = run_program(with_capture("managedImage"))
    assert set(recorded.invokes) - {DEALLOCATED_CHECK} == {"azure-native:compute:getImage"}
