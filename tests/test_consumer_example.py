"""examples/consumer under Pulumi mocks: the StackReference is mocked with the outputs the
vmimage stack really exports (from an offline run of the dev stack), and the VM must boot
the referenced image."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pulumi
import pytest
from conftest import ROOT, run_offline, stack_config

from offline.pulumi_host import EngineMonitor, run_program

CONSUMER = ROOT / "examples" / "consumer"
STACK_REFERENCE = "pulumi:pulumi:StackReference"
VM = "azure-native:compute:VirtualMachine"


class RecordingMocks(pulumi.runtime.Mocks):
    def __init__(self, stack_outputs: dict[str, Any]) -> None:
        self.stack_outputs = stack_outputs
        self.resources: list[Any] = []

    def new_resource(self, args: pulumi.runtime.MockResourceArgs) -> tuple[str, dict[str, Any]]:
        self.resources.append(args)
        if args.typ == STACK_REFERENCE:
            # A StackReference is read as a resource whose `outputs` are the other stack's.
            return args.name, {**args.inputs, "outputs": self.stack_outputs}
        return f"{args.name}-id", {**args.inputs, "name": args.inputs.get("name", args.name)}

    def call(self, args: pulumi.runtime.MockCallArgs) -> dict[str, Any]:
        return {}


def run_consumer(stack_outputs: dict[str, Any], **config: str) -> RecordingMocks:
    mocks = RecordingMocks(stack_outputs)
    values = {
        "azure-native:location": "westeurope",
        "vmimage-consumer:vmimageStack": "my-org/vmimage/dev",
        "vmimage-consumer:resourceGroup": "rg-consumer-dev",
        "vmimage-consumer:sshPublicKey": "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAA demo",
        **{f"vmimage-consumer:{k}": v for k, v in config.items()},
    }
    run_program(CONSUMER / "__main__.py", EngineMonitor(mocks), project="vmimage-consumer",
                stack="dev", config=values)
    return mocks


@pytest.fixture(scope="module")
def vmimage_outputs() -> dict[str, Any]:
    """What `pulumi stack output --json` of the vmimage dev stack holds, from the simulator."""
    result = run_offline(stack_config("dev"))
    assert not result.failures and not result.error
    return json.loads(json.dumps(result.outputs))


def the_vm(mocks: RecordingMocks) -> Any:
    (vm,) = [r for r in mocks.resources if r.typ == VM]
    return vm


def test_outputs_fit_for_stack_reference(vmimage_outputs: dict[str, Any]) -> None:
    ids = vmimage_outputs["imageVersionIds"]
    assert isinstance(ids, dict) and set(ids) == {"1.0.0"}
    assert ids["1.0.0"].endswith("/galleries/galvmimagedev/images/web-ubuntu/versions/1.0.0")
    assert ids["1.0.0"].startswith(vmimage_outputs["galleryImageId"] + "/versions/")
    assert vmimage_outputs["latestVersion"] == "1.0.0"
    assert vmimage_outputs["imageRegions"] == {"1.0.0": ["westeurope", "northeurope"]}


def test_pinned_version_boots_the_referenced_version(vmimage_outputs: dict[str, Any]) -> None:
    mocks = run_consumer(vmimage_outputs, imageVersion="1.0.0")
    (ref,) = [r for r in mocks.resources if r.typ == STACK_REFERENCE]
    assert ref.name == "my-org/vmimage/dev"
    image = the_vm(mocks).inputs["storageProfile"]["imageReference"]
    assert image["id"] == vmimage_outputs["imageVersionIds"]["1.0.0"]


def test_latest_follows_the_vmimage_stacks_latest_version(
        vmimage_outputs: dict[str, Any]) -> None:
    """`latest` is pinned by id to the vmimage stack's latestVersion, so a new version
    there is a new image id here (a replaced VM), as the README says."""
    mocks = run_consumer(vmimage_outputs, imageVersion="latest")
    image = the_vm(mocks).inputs["storageProfile"]["imageReference"]
    assert image["id"] == vmimage_outputs["imageVersionIds"]["1.0.0"]
    newer = {**vmimage_outputs, "latestVersion": "1.1.0", "imageVersionIds": {
        **vmimage_outputs["imageVersionIds"],
        "1.1.0": vmimage_outputs["imageVersionIds"]["1.0.0"].replace("1.0.0", "1.1.0")}}
    moved = the_vm(run_consumer(newer, imageVersion="latest"))
    assert moved.inputs["storageProfile"]["imageReference"]["id"].endswith("/versions/1.1.0")


def test_unknown_version_fails_naming_the_versions(vmimage_outputs: dict[str, Any]) -> None:
    with pytest.raises(Exception, match=r"2\.0\.0 is not built.*versions: 1\.0\.0"):
        run_consumer(vmimage_outputs, imageVersion="2.0.0")


def test_consumer_project_files() -> None:
    import yaml

    project = yaml.safe_load((CONSUMER / "Pulumi.yaml").read_text())
    assert project["name"] == "vmimage-consumer" and project["runtime"]["name"] == "python"
    stack = yaml.safe_load((CONSUMER / "Pulumi.dev.yaml").read_text())["config"]
    assert stack["vmimage-consumer:vmimageStack"].count("/") == 2
    assert Path(CONSUMER / "README.md").is_file()
