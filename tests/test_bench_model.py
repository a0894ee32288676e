"""The Packer-then-Terraform model is plain arithmetic on the simulator's latencies; the
benchmark modules import (they are not run here: they measure, tests do not)."""

from __future__ import annotations

import importlib
from types import SimpleNamespace

import pytest

from bench.packer_model import packer_steps, packer_then_terraform_s, terraform_waves
from offline.latency import DEFAULT_LATENCY_S as L


@pytest.mark.parametrize(("clones", "waves"), [(0, 0), (1, 1), (10, 1), (11, 2), (25, 3),
                                               (100, 10)])
def test_terraform_waves(clones, waves):
    assert terraform_waves(clones) == waves


def test_packer_sequence_is_a_sum_of_named_latencies():
    expected = (
        L["resourceGroup.create"] + L["network.create"] + L["nic.create"] + L["vm.create"]
        + L["runCommand.customize"] + L["runCommand.deprovision"] + L["vm.deallocate"]
        + L["vm.generalize"] + L["galleryImageVersion.capture"]
        + L["galleryImageVersion.replicate"] + 3 * L["delete"]
    )
    assert sum(s for _, s in packer_steps()) == expected
    wave = L["nic.create"] + L["vm.create"]
    assert packer_then_terraform_s(1) == expected + wave
    assert packer_then_terraform_s(25) == expected + 3 * wave


def test_model_options():
    base = packer_then_terraform_s(1)
    assert packer_then_terraform_s(1, customize_steps=2) == base + L["runCommand.customize"]
    assert packer_then_terraform_s(1, replicate=False) == base - L["galleryImageVersion.replicate"]
    fast = {**L, "vm.create": 60}
    assert packer_then_terraform_s(10, fast) == base - 2 * (L["vm.create"] - 60)


@pytest.mark.parametrize("module", ["bench", "bench.__main__", "bench.worker",
                                    "bench.raw_program", "bench.b1_overhead", "bench.b1_spread",
                                    "bench.b2_fleet", "bench.b3_makespan"])
def test_bench_modules_import(module):
    importlib.import_module(module)


SHAPES = """
import json, sys
from bench import worker

seen = []
record = worker.TrivialMocks.new_resource
def new_resource(self, args):
    seen.append((args.typ, args.inputs))
    return record(self, args)
worker.TrivialMocks.new_resource = new_resource
worker._run_mock(sys.argv[1], 2)

def shape(value):
    if isinstance(value, dict):
        return {k: shape(v) for k, v in value.items()}
    if isinstance(value, list):
        return [shape(v) for v in value]
    return type(value).__name__

print(json.dumps(sorted(json.dumps([typ, shape(inputs)], sort_keys=True)
                        for typ, inputs in seen
                        if typ.endswith((":VirtualMachine", ":NetworkInterface")))))
"""


def test_raw_program_sends_inputs_of_the_same_shape_as_ours():
    """B1 compares like with like: the raw program's VMs and NICs (build and clones) carry
    the same properties, nested the same way, as the program's."""
    import json
    import subprocess
    import sys

    from conftest import ROOT

    from bench import stack_config

    def shapes(program: str) -> list[str]:
        env = {"BENCH_CONFIG": json.dumps(stack_config(2)), "PATH": ""}
        done = subprocess.run([sys.executable, "-c", SHAPES, program], cwd=ROOT, env=env,
                              capture_output=True, text=True, check=True)
        return json.loads(done.stdout.strip().splitlines()[-1])

    ours = shapes("ours")
    assert len(ours) == 6  # build VM + NIC, two clones with a NIC each
    assert shapes("raw") == ours


# -- the entry point: results written only when asked, an unmet target fails --------------


def _point(wall_s: float) -> SimpleNamespace:
    return SimpleNamespace(resources=10, wall_s=wall_s, cpu_s=wall_s, rss_mb=100.0)


def _results(b1_ratio: float) -> tuple[dict, dict, dict]:
    rows = [{"n": n, "ours": _point(b1_ratio), "raw": _point(1.0)} for n in (3, 100, 400)]
    b1 = {"rows": rows, "targets": {100: 0.5}, "growth": 2.0, "growth_target": 4.4,
          "memory_per_clone_mb": 0.3, "memory_target_mb": 0.5,
          "variants": {"keep_type_aliases": _point(2.0), "default_gc": _point(2.0)}}
    b2 = {"small": _point(1.0), "large": _point(1.0), "target": 1.1}
    points = [{"n": n, "kind": "vm", "replicas": r, "replicas_resolved": 1, "makespan_s": 100,
               "bound_s": 100, "packer_s": 200.0, "critical_path": ["a", "b"]}
              for n in (1, 100, 1000) for r in (1, "auto")]
    return b1, b2, {"points": points, "target_bound": 1.05}


@pytest.mark.parametrize(("ratio", "code"), [(0.2, 0), (0.9, 1)])
def test_bench_exits_1_on_an_unmet_target_and_writes_only_with_update(
        monkeypatch, tmp_path, capsys, ratio, code):
    import bench.__main__ as entry

    b1, b2, b3 = _results(ratio)
    monkeypatch.setattr(entry.b1_overhead, "run", lambda: b1)
    monkeypatch.setattr(entry.b2_fleet, "run", lambda: b2)
    monkeypatch.setattr(entry.b3_makespan, "run", lambda: b3)
    monkeypatch.setattr(entry, "HERE", tmp_path)
    monkeypatch.setattr(entry, "plot", lambda b1, path: path.write_text("png"))
    assert entry.main([]) == code
    assert list(tmp_path.iterdir()) == []
    assert ("target not met: B1 wall ratio at N = 100" in capsys.readouterr().err) == bool(code)
    assert entry.main(["--update"]) == code
    assert sorted(p.name for p in tmp_path.iterdir()) == ["results.md", "results.png"]
