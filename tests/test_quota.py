"""The vCPU quota holds the pipeline at its busiest (#18, surge capacity): read from
Azure before anything is registered; over a limit is refused, over what is free now is
warned about."""

from __future__ import annotations

import copy
import io
from collections.abc import Callable
from typing import Any

from conftest import LOCATION, load_stack_dict
from rich.console import Console

from offline.cli import existing_tenant, main
from offline.runner import StackConfig
from offline.up import up
from vmimage.azure.reads import Quota, SizeInfo
from vmimage.config.quota import peak_vms, quota_problems
from vmimage.config.validate import load_spec

SIZES = {LOCATION: {"standard_b2s": SizeInfo("standardBSFamily", 2),
                    "standard_d2s_v5": SizeInfo("standardDSv5Family", 2)}}


def dev_spec(**rollout: object):
    raw = load_stack_dict("dev")["vmimage:pipeline"]
    if rollout:
        raw["clones"][0]["rollout"] = rollout
    return load_spec(raw, location=LOCATION).spec


def test_the_peak_counts_builds_clones_and_the_surge():
    assert peak_vms(dev_spec()) == {(LOCATION, "Standard_D2s_v5"): 1,
                                    (LOCATION, "Standard_B2s"): 6}
    gated = dev_spec(batchSize=1, health={"protocol": "tcp", "port": 22})
    assert peak_vms(gated)[(LOCATION, "Standard_B2s")] == 4  # one batch twice


def test_over_a_limit_is_a_problem_over_the_free_vcpus_a_warning():
    quotas = {LOCATION: {"standardbsfamily": Quota(used=0, limit=10),
                         "cores": Quota(used=0, limit=100)}}
    problems, warnings = quota_problems(dev_spec(), SIZES, quotas)
    assert problems == [
        "clones: at its busiest this pipeline runs 12 standardbsfamily vCPUs in westeurope, "
        "over the subscription's quota of 10; request more quota or use fewer or smaller VMs "
        "(rollout.health makes a roll hold one batch twice, not all)"]
    assert warnings == []
    quotas[LOCATION]["standardbsfamily"] = Quota(used=6, limit=16)
    problems, warnings = quota_problems(dev_spec(), SIZES, quotas)
    assert problems == [] and warnings == [
        "clones: at its busiest this pipeline runs 12 standardbsfamily vCPUs in westeurope; "
        "10 of 16 are free now (what this pipeline already runs is among the used)"]
    gated = dev_spec(batchSize=1, health={"protocol": "tcp", "port": 22})
    assert quota_problems(gated, SIZES, quotas) == ([], [])  # 8 fit the 10 free


def test_offline_the_simulated_quota_refuses_before_registering():
    out = io.StringIO()
    code = main(["up", "--stack", "dev", "--quiet", "--quota", "standardBSFamily=8"],
                console=Console(file=out, width=200))
    assert code == 2, out.getvalue()
    assert "runs 12 standardbsfamily vCPUs in westeurope, over the subscription's quota " \
           "of 8" in out.getvalue()
    assert main(["up", "--stack", "dev", "--quiet", "--quota", "cores=100"],
                console=Console(file=io.StringIO())) == 0
    bad = io.StringIO()
    assert main(["up", "--stack", "dev", "--quota", "cores"], console=Console(file=bad)) == 2
    assert "expected NAME=LIMIT" in bad.getvalue()


def test_build_vms_retention_retires_count_no_more_than_hand_retired_ones(tmp_path):
    """Four builds of 2 vCPUs: on a state where all four are captured, `keep: 2` retires
    two build VMs, so 4 standardDSv5Family vCPUs are the peak, as with `retired: true`."""
    config = load_stack_dict("dev")
    pipeline = config["vmimage:pipeline"]
    first = pipeline["builds"][0]
    pipeline["builds"] += [{**copy.deepcopy(first), "version": v} for v in ("1.1.0", "1.2.0",
                                                                           "1.3.0")]
    state = tmp_path / "state.json"
    assert up(StackConfig("dev", copy.deepcopy(config)), state_path=state).ok
    tight = existing_tenant([], [], LOCATION, quotas=["standardDSv5Family=4"])

    def second(edit: Callable[[dict[str, Any]], None]) -> Any:
        changed = copy.deepcopy(config)
        edit(changed["vmimage:pipeline"])
        return up(StackConfig("dev", changed), state_path=state, tenant=tight)

    over = second(lambda p: None)  # all four build VMs count: 8 vCPUs
    assert any("runs 8 standarddsv5family vCPUs in westeurope, over the subscription's "
               "quota of 4" in p for p in over.config_problems), over.config_problems

    def by_hand(p: dict[str, Any]) -> None:
        for build in p["builds"][:2]:
            build["retired"] = True

    assert second(by_hand).config_problems == []

    def by_retention(p: dict[str, Any]) -> None:
        p["gallery"]["retention"] = {"keep": 2}

    kept = second(by_retention)
    assert kept.config_problems == [], kept.config_problems
    assert kept.ok, (kept.run.failures, kept.run.error)
