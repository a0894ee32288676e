"""Fleets: scale sets do not grow with count, individual clones do not deepen the
dependency graph, replicas follow Azure's guidance, limits are config errors."""

from __future__ import annotations

from functools import cache
from typing import Any

import pytest

from offline.arm import SimulatedArm
from offline.report import report_json
from offline.runner import load_stack, run, stack_file
from vmimage.azure.limits import MAX_SCALE_SET_INSTANCES
from vmimage.config.errors import SpecError
from vmimage.config.validate import load_spec

VMSS = "azure-native:compute:VirtualMachineScaleSet"
VERSION = "azure-native:compute:GalleryImageVersion"


@cache
def report(*overrides: str) -> dict[str, Any]:
    stack = load_stack(stack_file("dev"), "dev", list(overrides))
    result = run(stack, SimulatedArm())
    assert not result.failures and not result.error, result.failures or result.error
    return report_json(result)


#: A subnet for a thousand instances (the dev /24 has 251 usable addresses): a /22.
WIDE_SUBNET = "network.subnetPrefix=10.42.4.0/22"


def scale_set(count: int, *extra: str) -> dict[str, Any]:
    return report("clones[0].kind=scaleSet", f"clones[0].count={count}", WIDE_SUBNET, *extra)


def of_type(rep: dict[str, Any], token: str) -> list[dict[str, Any]]:
    return [r for r in rep["resources"] if r["type"] == token]


def inputs(token: str, *overrides: str) -> dict[str, Any]:
    """The registered inputs of the one resource of `token` (plain values)."""
    from offline.secrets import unwrap

    stack = load_stack(stack_file("dev"), "dev", list(overrides))
    result = run(stack, SimulatedArm())
    (reg,) = [r for r in result.registrations if r.type == token]
    return unwrap(reg.inputs)


def spec_problems(*overrides: str) -> list[str]:
    stack = load_stack(stack_file("dev"), "dev", list(overrides))
    try:
        load_spec(stack.pipeline, location=stack.config["azure-native:location"])
    except SpecError as exc:
        return exc.problems
    return []


def depth(rep: dict[str, Any]) -> int:
    """The longest chain of dependsOn edges (in resources), components included."""
    deps = {r["urn"]: r["dependsOn"] for r in rep["resources"]}
    memo: dict[str, int] = {}

    def longest(urn: str) -> int:
        if urn not in memo:
            memo[urn] = 1 + max((longest(d) for d in deps.get(urn, []) if d in deps), default=0)
        return memo[urn]

    return max(longest(u) for u in deps)


# -- scale sets ---------------------------------------------------------------------------

def test_scale_set_resource_count_is_constant_in_count():
    one, thousand = scale_set(1), scale_set(MAX_SCALE_SET_INSTANCES)
    assert len(one["resources"]) == len(thousand["resources"])
    assert [r["type"] for r in one["resources"]] == [r["type"] for r in thousand["resources"]]
    assert len(of_type(thousand, VMSS)) == 1


def test_scale_set_is_one_flexible_vmss_from_the_version():
    props = inputs(VMSS, "clones[0].kind=scaleSet", "clones[0].count=1000", WIDE_SUBNET,
                   'clones[0].zones=["1","2","3"]')
    assert props["orchestrationMode"] == "Flexible"
    assert props["platformFaultDomainCount"] == 1
    assert props["sku"] == {"name": "Standard_B2s", "capacity": 1000}
    assert props["zones"] == ["1", "2", "3"]
    profile = props["virtualMachineProfile"]
    assert profile["storageProfile"]["imageReference"]["id"].endswith("/versions/1.0.0")
    disks = profile["storageProfile"]["dataDisks"]
    assert [(d["lun"], d["createOption"]) for d in disks] == [(0, "FromImage"), (1, "FromImage")]
    nic = profile["networkProfile"]["networkInterfaceConfigurations"][0]
    assert nic["ipConfigurations"][0]["subnet"]["id"].endswith("/subnets/snet-web-ubuntu")
    assert "publicIPAddressConfiguration" not in nic["ipConfigurations"][0]
    assert profile["osProfile"]["linuxConfiguration"]["disablePasswordAuthentication"] is True
    assert props["tags"]["vmimage-role"] == "clone"
    assert props["tags"]["vmimage-clone-group"] == "web"


def test_scale_set_image_is_a_data_dependency_on_the_version():
    rep = scale_set(5)
    (vmss,) = of_type(rep, VMSS)
    (version,) = of_type(rep, VERSION)
    assert version["urn"] in vmss["dependsOn"]
    assert vmss["stage"] == "clone"


@pytest.mark.parametrize(("count", "batch", "percent"), [
    (100, None, 20),  # Azure's default
    (100, 10, 10),
    (1000, 25, 5),  # 2.5% rounds up to Azure's minimum of 5
    (30, 7, 24),  # rounded up: a batch is never smaller than asked
    (4, 10, 100),
])
def test_rolling_upgrade_batch_percent_from_rollout(count, batch, percent):
    extra = [f"clones[0].rollout.batchSize={batch}"] if batch else []
    props = inputs(VMSS, "clones[0].kind=scaleSet", f"clones[0].count={count}", WIDE_SUBNET,
                   *extra)
    policy = props["upgradePolicy"]
    assert policy["mode"] == "Rolling"
    assert policy["rollingUpgradePolicy"]["maxBatchInstancePercent"] == percent
    # Flexible orchestration needs the Application Health extension for Rolling.
    extensions = props["virtualMachineProfile"]["extensionProfile"]["extensions"]
    assert [e["type"] for e in extensions] == ["ApplicationHealthLinux"]


def test_simulator_refuses_rolling_flexible_without_health_extension():
    from offline.arm import ArmError

    props = inputs(VMSS, "clones[0].kind=scaleSet", "clones[0].count=3")
    arm = SimulatedArm()
    arm.put("azure-native:resources:ResourceGroup", {"resourceGroupName": "rg-x"}, 0)
    props = {**props, "resourceGroupName": "rg-x"}
    props["virtualMachineProfile"] = {k: v for k, v in props["virtualMachineProfile"].items()
                                      if k not in ("extensionProfile", "storageProfile",
                                                   "networkProfile")}
    with pytest.raises(ArmError, match="health extension"):
        arm.put(VMSS, props, 10)


# -- individual VMs -----------------------------------------------------------------------

def test_dependency_depth_is_constant_in_clone_count():
    assert depth(report("clones[0].count=1")) == depth(report("clones[0].count=20"))


def test_makespan_is_constant_in_clone_count():
    assert report("clones[0].count=1")["makespan_s"] == report("clones[0].count=20")["makespan_s"]


# -- replicas and limits --------------------------------------------------------------------

def test_auto_replicas_count_scale_set_instances():
    props = inputs(VERSION, "clones[0].kind=scaleSet", "clones[0].count=45",
                   "builds[0].regions[0].replicas=auto")
    targets = {t["name"]: t["regionalReplicaCount"]
               for t in props["publishingProfile"]["targetRegions"]}
    assert targets == {"westeurope": 3, "northeurope": 1}  # ceil(45 / 20); none there


def test_auto_replicas_count_individual_vms():
    props = inputs(VERSION, "clones[0].count=45", "builds[0].regions[0].replicas=auto")
    targets = {t["name"]: t["regionalReplicaCount"]
               for t in props["publishingProfile"]["targetRegions"]}
    assert targets["westeurope"] == 3


def test_explicit_replicas_below_guidance_is_a_warning():
    stack = load_stack(stack_file("dev"), "dev",
                       ["clones[0].kind=scaleSet", "clones[0].count=100"])
    loaded = load_spec(stack.pipeline, location="westeurope")
    assert any(w.startswith("builds[0].regions[0].replicas:") and "advises 5" in w
               for w in loaded.warnings)


def test_clone_region_not_replicated_is_a_config_error():
    problems = spec_problems("clones[0].kind=scaleSet", "clones[0].region=eastus")
    assert any(p.startswith("clones[0].region: eastus is not a target region of version 1.0.0")
               for p in problems)


def test_scale_set_count_over_limit_is_a_config_error():
    problems = spec_problems("clones[0].kind=scaleSet", WIDE_SUBNET,
                             f"clones[0].count={MAX_SCALE_SET_INSTANCES + 1}")
    assert any(p.startswith("clones[0].count:") and "1000" in p for p in problems)
    assert spec_problems("clones[0].kind=scaleSet", WIDE_SUBNET,
                         f"clones[0].count={MAX_SCALE_SET_INSTANCES}") == []


def test_a_thousand_instances_do_not_fit_the_dev_subnet():
    """Azure keeps 5 addresses of every subnet: the dev /24 holds 251 VMs."""
    (problem,) = spec_problems("clones[0].kind=scaleSet",
                               f"clones[0].count={MAX_SCALE_SET_INSTANCES}")
    assert problem.startswith("network.subnetPrefix: 10.42.1.0/24 holds 251 VMs")
    assert "needs 1001 at once" in problem


@pytest.mark.parametrize(("count", "fits"), [(61, True), (62, False)])
def test_a_rolling_vm_group_needs_room_for_its_successors(count, fits):
    """Individual clone VMs roll by creating successors beside them: a /25 (123 usable)
    holds one build VM and 2 x 61 clone VMs exactly, not 2 x 62."""
    problems = spec_problems(f"clones[0].count={count}", "network.subnetPrefix=10.42.1.0/25")
    assert (problems == []) == fits, problems


def test_individual_vm_count_over_limit_points_to_scale_sets():
    problems = spec_problems("clones[0].count=101")
    assert any(p.startswith("clones[0].count:") and "scaleSet" in p for p in problems)


def test_every_clone_group_has_one_output_shape() -> None:
    """A VM group and a scale set read alike in `clones`: kind, version, count, scale set
    name (or null), and the VMs the program knows by name (a scale set's are Azure's)."""
    stack = load_stack(stack_file("dev"), "dev", [
        "clones[1]={name: api, count: 4, version: 1.0.0, size: Standard_B2s, "
        "kind: scaleSet}"])
    result = run(stack, SimulatedArm())
    assert not (result.failures or result.error), result.error or result.failures
    web, api = result.outputs["clones"]["web"], result.outputs["clones"]["api"]
    assert set(web) == set(api) == {"kind", "version", "count", "scaleSet", "vms"}
    assert (web["kind"], web["count"], web["scaleSet"]) == ("vm", 3, None)
    assert [vm["name"] for vm in web["vms"]] == [f"web-1-0-0-00{i}" for i in range(3)]
    assert (api["kind"], api["count"], api["vms"]) == ("scaleSet", 4, [])
    assert api["scaleSet"] and api["version"] == web["version"] == "1.0.0"


def test_a_scale_set_registers_the_same_resources_whatever_its_capacity() -> None:
    """B2's structural half: a thousand instances are one registration, as one is."""
    from bench import clone_overrides

    counts = []
    for capacity in (1, 1000):
        stack = load_stack(stack_file("dev"), "dev", clone_overrides(capacity, "scaleSet"))
        result = run(stack, SimulatedArm())
        assert not (result.failures or result.error), result.error or result.failures
        counts.append(sorted(r.type for r in result.registrations if r.custom))
    # 14: the network's NAT gateway and its address among them
    assert counts[0] == counts[1] and len(counts[0]) == 14
