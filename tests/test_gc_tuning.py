"""The program's collector settings: thresholds raised, the exit-time collection skipped,
and calling it again (every program run in one test process does) adds nothing."""

from __future__ import annotations

import gc
import subprocess
import sys

from conftest import ROOT

from vmimage.gc_tuning import GC_THRESHOLD, tune_gc


def test_thresholds() -> None:
    before = gc.get_threshold()
    try:
        tune_gc()
        assert gc.get_threshold() == GC_THRESHOLD
    finally:
        gc.set_threshold(*before)


def _at_exit(code: str) -> list[str]:
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          check=True, cwd=ROOT)
    return done.stdout.split()


def test_objects_alive_at_exit_are_frozen_before_shutdown() -> None:
    # atexit runs hooks last-registered first: the one registered after tune_gc sees
    # nothing frozen yet, the one registered before it sees everything frozen.
    assert _at_exit(
        "import atexit, gc\n"
        "atexit.register(lambda: print('after', gc.get_freeze_count() > 0))\n"
        "from vmimage.gc_tuning import tune_gc\n"
        "tune_gc()\n"
        "atexit.register(lambda: print('before', gc.get_freeze_count()))\n"
    ) == ["before", "0", "after", "True"]


def test_the_exit_hook_is_registered_once() -> None:
    assert _at_exit(
        "import atexit, gc\n"
        "calls = []\n"
        "gc.freeze = lambda: calls.append(1)\n"
        "atexit.register(lambda: print(len(calls)))\n"
        "from vmimage.gc_tuning import tune_gc\n"
        "tune_gc(); tune_gc(); tune_gc()\n"
    ) == ["1"]


def test_no_full_collection_while_a_large_program_registers() -> None:
    """The structural half of B1's growth target: with the program's settings, a run of
    the dev stack with 300 clones (3 groups) makes no full (generation 2) collection."""
    code = (
        "import gc, json, sys\n"
        "from vmimage.gc_tuning import tune_gc\n"
        "tune_gc()\n"
        "full = []\n"
        "gc.callbacks.append(lambda phase, info: phase == 'start' and "
        "info['generation'] == 2 and full.append(1))\n"
        "from pulumi.runtime.mocks import MockMonitor\n"
        "from bench import stack_config\n"
        "from bench.worker import TrivialMocks\n"
        "from offline.pulumi_host import run_program\n"
        "from offline.runner import PROGRAM\n"
        "monitor = MockMonitor(TrivialMocks())\n"
        "run_program(PROGRAM, monitor, project='vmimage', stack='dev', "
        "config=stack_config(300))\n"
        "print(len(monitor.resources), len(full))\n"
    )
    resources, full = (int(x) for x in _at_exit(code))
    assert resources > 600 and full == 0
