"""The region's resource SKUs are listed at most once an hour per (subscription, region):
kept in the user's cache directory, only the config's sizes kept in memory, and the reads a
run made shown in --report-json as `azureReads`. Answered by the simulator."""

from __future__ import annotations

import io
import json
import os
import stat
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from rich.console import Console

from offline import quota
from offline.arm import SUBSCRIPTION_ID, SimulatedArm
from offline.arm.vm_rest import SimulatedClock, simulated_client
from offline.cli import main
from vmimage.azure.reads import AzureReads, SizeInfo
from vmimage.azure.sku_cache import TTL_S, SkuCache, cache_dir, sku_cache

REGION = "westeurope"


@pytest.fixture
def listed(monkeypatch: pytest.MonkeyPatch) -> Counter[str]:
    """How many times the simulator answered a SKU list, by region: counted where ARM
    answers, not where the program counts."""
    seen: Counter[str] = Counter()
    answer = quota.skus

    def counting(location: str) -> list[dict[str, Any]]:
        seen[location] += 1
        return answer(location)

    monkeypatch.setattr(quota, "skus", counting)
    return seen


class Clock:
    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


def _reads(cache: SkuCache | None) -> AzureReads:
    return AzureReads(simulated_client(SimulatedArm(), SimulatedClock(0.0)),
                      subscription=SUBSCRIPTION_ID, cache=cache)


def _up(tmp_path: Path, name: str) -> dict[str, Any]:
    report = tmp_path / f"{name}.json"
    out = io.StringIO()
    code = main(["up", "--stack", "dev", "--quiet", "--report-json", str(report)],
                console=Console(file=out, width=200))
    assert code == 0, out.getvalue()
    return json.loads(report.read_text())


def test_two_runs_within_the_hour_list_the_skus_once(tmp_path, listed, user_cache):
    first = _up(tmp_path, "first")
    second = _up(tmp_path, "second")
    assert first["azureReads"]["resourceSkus"] == len(listed) >= 1
    assert all(count == 1 for count in listed.values())
    assert second["azureReads"].get("resourceSkus", 0) == 0
    # The other reads are not cached: the quotas change as VMs run.
    assert second["azureReads"]["usages"] == first["azureReads"]["usages"] >= 1
    files = list(user_cache.glob("resource-skus-*.json"))
    assert len(files) == len(listed)
    assert all(stat.S_IMODE(f.stat().st_mode) == 0o600 for f in files)


def test_no_cache_lists_every_run(tmp_path, listed, monkeypatch, user_cache):
    monkeypatch.setenv("VMIMAGE_NO_CACHE", "1")
    _up(tmp_path, "first")
    second = _up(tmp_path, "second")
    assert second["azureReads"]["resourceSkus"] == len(listed) >= 1
    assert all(count == 2 for count in listed.values())
    assert not user_cache.exists()


def test_after_the_ttl_the_list_is_read_again(tmp_path, listed):
    clock = Clock()
    cache = SkuCache(tmp_path, clock=clock)
    _reads(cache).vm_sizes(REGION, ["Standard_D2s_v5"])
    clock.now += TTL_S - 1
    _reads(cache).vm_sizes(REGION, ["Standard_D2s_v5"])
    assert listed[REGION] == 1
    clock.now += 1
    reads = _reads(cache)
    reads.vm_sizes(REGION, ["Standard_D2s_v5"])
    assert listed[REGION] == 2 and reads.reads["resourceSkus"] == 1
    clock.now += 10
    _reads(cache).vm_sizes(REGION, ["Standard_D2s_v5"])  # the rewritten file is fresh
    assert listed[REGION] == 2


def test_each_region_and_subscription_is_its_own_entry(tmp_path, listed):
    cache = SkuCache(tmp_path, clock=Clock())
    _reads(cache).vm_sizes(REGION, ["Standard_D2s_v5"])
    _reads(cache).vm_sizes("northeurope", ["Standard_D2s_v5"])
    other = AzureReads(simulated_client(SimulatedArm(), SimulatedClock(0.0)),
                       subscription="11111111-1111-1111-1111-111111111111", cache=cache)
    other.vm_sizes(REGION, ["Standard_D2s_v5"])
    assert listed == Counter({REGION: 2, "northeurope": 1})


def test_only_the_named_sizes_are_kept(tmp_path, listed):
    cache = SkuCache(tmp_path, clock=Clock())
    for reads in (_reads(cache), _reads(cache)):  # listed, then cached
        assert reads.vm_sizes(REGION, ["standard_d4s_v5", "Standard_Z99"]) == {
            "standard_d4s_v5": SizeInfo("standardDSv5Family", 4, {"HyperVGenerations": "V1,V2"})}
    assert listed[REGION] == 1
    # The file keeps every VM size of the region: the next config may name others.
    (entry,) = tmp_path.glob("resource-skus-*.json")
    assert len(json.loads(entry.read_text())["sizes"]) == len(quota.SIZES)


@pytest.mark.parametrize("content", [
    "{not json", "", "[]", '{"format": "vmimage-resource-skus/1"}',
    # whole, but another subscription's: a file name is not proof of what it holds
    json.dumps({"format": "vmimage-resource-skus/1", "subscription": "other",
                "location": REGION, "written": 1_000_000.0, "sizes": {}}),
    json.dumps({"format": "vmimage-resource-skus/2", "subscription": SUBSCRIPTION_ID,
                "location": REGION, "written": 1_000_000.0,
                "sizes": {"standard_d2s_v5": ["standardDSv5Family", "2", {}]}}),
    # an earlier release's file: no capabilities, so not this format
    json.dumps({"format": "vmimage-resource-skus/1", "subscription": SUBSCRIPTION_ID,
                "location": REGION, "written": 1_000_000.0,
                "sizes": {"standard_d2s_v5": ["standardDSv5Family", 2]}}),
])
def test_a_corrupt_file_is_ignored_and_rewritten(tmp_path, listed, content):
    cache = SkuCache(tmp_path, clock=Clock())
    path = cache.path(SUBSCRIPTION_ID, REGION)
    path.write_text(content)
    path.chmod(0o600)
    assert _reads(cache).vm_sizes(REGION, ["Standard_D2s_v5"]) == {
        "standard_d2s_v5": SizeInfo("standardDSv5Family", 2, {"HyperVGenerations": "V1,V2"})}
    assert listed[REGION] == 1
    assert json.loads(path.read_text())["sizes"]["standard_d2s_v5"] == [
        "standardDSv5Family", 2, {"HyperVGenerations": "V1,V2"}]
    _reads(cache).vm_sizes(REGION, ["Standard_D2s_v5"])
    assert listed[REGION] == 1


def test_a_file_others_can_write_is_not_trusted(tmp_path, listed):
    cache = SkuCache(tmp_path, clock=Clock())
    _reads(cache).vm_sizes(REGION, ["Standard_D2s_v5"])
    path = cache.path(SUBSCRIPTION_ID, REGION)
    path.chmod(0o666)
    _reads(cache).vm_sizes(REGION, ["Standard_D2s_v5"])
    assert listed[REGION] == 2
    assert stat.S_IMODE(path.stat().st_mode) == 0o600  # replaced by one of ours


def test_a_symlink_is_not_followed(tmp_path, listed):
    cache = SkuCache(tmp_path / "cache", clock=Clock())
    _reads(cache).vm_sizes(REGION, ["Standard_D2s_v5"])
    path = cache.path(SUBSCRIPTION_ID, REGION)
    planted = tmp_path / "planted.json"
    path.rename(planted)
    path.symlink_to(planted)
    _reads(cache).vm_sizes(REGION, ["Standard_D2s_v5"])
    assert listed[REGION] == 2


def test_a_cache_that_cannot_be_written_is_no_cache(tmp_path, listed):
    blocker = tmp_path / "file"
    blocker.write_text("")
    cache = SkuCache(blocker / "vmimage", clock=Clock())
    for _ in range(2):
        assert _reads(cache).vm_sizes(REGION, ["Standard_D2s_v5"])
    assert listed[REGION] == 2


def test_the_cache_directory(tmp_path, monkeypatch):
    assert cache_dir({"XDG_CACHE_HOME": str(tmp_path)}) == tmp_path / "vmimage"
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    # A relative XDG_CACHE_HOME is invalid under the XDG spec: ignored.
    for env in ({}, {"XDG_CACHE_HOME": "relative"}, {"XDG_CACHE_HOME": ""}):
        assert cache_dir(env) == tmp_path / "home" / ".cache" / "vmimage"
    assert sku_cache({"VMIMAGE_NO_CACHE": "1"}) is None
    assert sku_cache({"VMIMAGE_NO_CACHE": "0", "XDG_CACHE_HOME": str(tmp_path)}) is not None


def test_tests_never_cache_into_the_real_home(user_cache):
    assert Path(os.environ["XDG_CACHE_HOME"]) == user_cache.parent


def test_security_capabilities_are_kept_with_the_sizes(tmp_path, listed):
    """Preflight judges security types by them (vmimage/azure/security_types.py), from
    the list or from the cache alike."""
    cache = SkuCache(tmp_path, clock=Clock())
    for reads in (_reads(cache), _reads(cache)):  # listed, then cached
        info = reads.vm_sizes(REGION, ["Standard_DC2as_v5"])["standard_dc2as_v5"]
        assert info.capabilities == {"HyperVGenerations": "V2",
                                     "ConfidentialComputingType": "SNP"}
    assert listed[REGION] == 1
