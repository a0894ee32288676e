"""Run the unchanged `__main__.py` under Pulumi's mocks against the simulated ARM.

`load_stack` reads a stack file (with `--set` overrides), `run` executes the program and
returns everything a report needs. The runner never imports `components` for the
program's sake: the program does, exactly as under `pulumi up`.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import re
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pulumi
import yaml

from offline.arm import ArmError, SimulatedArm, SimulatedCrash
from offline.engine import (
    DiffFn,
    Failure,
    Operation,
    PendingOperation,
    PriorResource,
    Registration,
    SimulatorMonitor,
    final_state,
)
from offline.passphrase import PassphraseError, decrypt, key_for
from offline.pulumi_host import run_program, stack_outputs, type_depth
from offline.secrets import REDACTED
from offline.yaml_load import StackYamlError, load_yaml
from vmimage.config.errors import SpecError
from vmimage.config.validate import Loaded, load_spec
from vmimage.stack.config import ConfigProblems

#: The project this package was installed from (editable: the checkout), the fallback
#: when no vmimage project is found from the current directory.
PROJECT_DIR = Path(__file__).resolve().parent.parent
PROGRAM = PROJECT_DIR / "__main__.py"
PROJECT_NAME = "vmimage"  # `name:` in Pulumi.yaml
PIPELINE_KEY = "vmimage:pipeline"
#: How often `run` reports progress (seconds of wall time), when asked to.
PROGRESS_INTERVAL_S = 1.0


class StackFileError(Exception):
    """The stack file or an override cannot be read; the message says where."""


@dataclass
class StackConfig:
    name: str
    config: dict[str, Any]  # full Pulumi config: "ns:key" -> value
    secret_keys: list[str] = field(default_factory=list)
    notices: list[str] = field(default_factory=list)  # said before the run
    _loaded: Loaded | SpecError | None = field(default=None, repr=False, compare=False)

    @property
    def pipeline(self) -> Any:
        return self.config.get(PIPELINE_KEY)

    def loaded(self) -> Loaded:
        """The validated spec, as the program will see it; raises SpecError. Validated
        once (it renders every template), however many checks ask."""
        if self._loaded is None:
            try:
                self._loaded = load_spec(
                    self.pipeline, location=self.config.get("azure-native:location")
                )
            except SpecError as exc:
                self._loaded = exc
        if isinstance(self._loaded, SpecError):
            raise self._loaded
        return self._loaded


def _project_file(folder: Path) -> dict[str, Any] | None:
    """The Pulumi.yaml (or Pulumi.yml) of `folder`, read; None if there is none, or it
    cannot be read."""
    for name in ("Pulumi.yaml", "Pulumi.yml"):
        try:
            document = yaml.safe_load((folder / name).read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, yaml.YAMLError):
            continue
        return document if isinstance(document, dict) else None
    return None


def find_project(start: Path | None = None) -> Path:
    """The vmimage project: the nearest directory at or above `start` (the current
    directory) whose Pulumi.yaml names project `vmimage` (another Pulumi project, such as
    examples/consumer, is passed over); else the project this package was installed from,
    so the runner works from any directory."""
    try:
        here = Path(os.path.abspath(Path.cwd() if start is None else start))
    except OSError:  # the current directory was removed
        return PROJECT_DIR
    for folder in (here, *here.parents):
        document = _project_file(folder)
        if document is not None and document.get("name") == PROJECT_NAME:
            return folder
    return PROJECT_DIR


def program_file(project: Path = PROJECT_DIR) -> Path:
    """The program `pulumi up` runs in `project`."""
    return project / "__main__.py"


def stacks_dir(project: Path = PROJECT_DIR) -> Path:
    """Where the project's stack files live: `stackConfigDir` of its Pulumi.yaml, or, as
    for the Pulumi CLI, the project directory itself."""
    document = _project_file(project) or {}
    configured = document.get("stackConfigDir")
    return project / configured if isinstance(configured, str) and configured else project


def stack_file(stack: str, project: Path = PROJECT_DIR) -> Path:
    """`Pulumi.<stack>.yaml` of `project` (by default the installed one)."""
    return stacks_dir(project) / f"Pulumi.{stack}.yaml"


def stack_names(project: Path = PROJECT_DIR) -> list[str]:
    """The stacks that have a file in `project`, for messages."""
    try:
        found = stacks_dir(project).glob("Pulumi.*.yaml")
        return sorted(p.name.removeprefix("Pulumi.").removesuffix(".yaml") for p in found)
    except OSError:
        return []


def load_stack(path: Path, name: str, overrides: Sequence[str] = ()) -> StackConfig:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise StackFileError(f"{path}: cannot read ({exc.strerror})") from None
    except UnicodeDecodeError as exc:
        raise StackFileError(f"{path}: not UTF-8 text (byte {exc.start})") from None
    try:
        document = load_yaml(text)
    except StackYamlError as exc:
        raise StackFileError(f"{path.name}: {exc}") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or str(exc)
        raise StackFileError(f"{path.name}:{where}: invalid YAML: {problem}") from None
    if document is None:
        raise StackFileError(f"{path.name}: empty stack file; expected a 'config:' mapping")
    if not isinstance(document, dict) or not isinstance(document.get("config"), dict):
        raise StackFileError(f"{path.name}: expected a top-level 'config:' mapping")
    config, secret_keys, notices = open_secrets(path, document, dict(document["config"]))
    pipeline = config.get(PIPELINE_KEY)
    for item in overrides:
        pipeline = apply_override(pipeline, item)
    if pipeline is not None:
        config[PIPELINE_KEY] = pipeline
    return StackConfig(name, config, secret_keys, notices=notices)


def _is_secure(value: Any) -> bool:
    return isinstance(value, dict) and set(value) == {"secure"}


def _holds_secure(value: Any) -> bool:
    if _is_secure(value):
        return True
    if isinstance(value, dict):
        return any(_holds_secure(v) for v in value.values())
    if isinstance(value, list):
        return any(_holds_secure(v) for v in value)
    return False


def _decrypt(value: Any, key: bytes) -> Any:
    if _is_secure(value):
        return decrypt(key, str(value["secure"]))
    if isinstance(value, dict):
        return {k: _decrypt(v, key) for k, v in value.items()}
    if isinstance(value, list):
        return [_decrypt(v, key) for v in value]
    return value


def open_secrets(path: Path, document: dict[str, Any], config: dict[str, Any],
                 env: Mapping[str, str] | None = None,
                 ) -> tuple[dict[str, Any], list[str], list[str]]:
    """`secure:` values decrypted as the CLI would, for a passphrase stack; the keys that
    held them, secret to the program as under `pulumi up`; and notices for the reader.
    Stacks of other secrets providers (Pulumi Cloud, a cloud KMS) cannot be opened here:
    their secure values are left out, which changes the plan, and a notice says so."""
    secure = [k for k, v in config.items() if _holds_secure(v)]
    if not secure:
        return config, [], []
    salt = document.get("encryptionsalt")
    if not salt:
        provider = document.get("secretsprovider") or "Pulumi Cloud (the default)"
        for k in secure:
            del config[k]
        return config, [], [
            f"{path.name} encrypts its secrets with {provider}, which offline runs cannot "
            f"open: {', '.join(secure)} left out, so this plan may differ from `pulumi "
            "preview` (a generated password instead of yours, for example)"]
    try:
        key = key_for(str(salt), os.environ if env is None else env)
        return {k: _decrypt(v, key) if k in secure else v for k, v in config.items()}, \
            secure, []
    except PassphraseError as exc:
        raise StackFileError(f"{path.name}: {exc}") from None


_SEGMENT = re.compile(r"([A-Za-z_][\w-]*)((?:\[\d+\])*)")


def parse_key_path(path: str) -> list[str | int]:
    """'clones[0].count' -> ['clones', 0, 'count']. Each dot-separated segment is a key
    with optional [index]es; anything else ('a..b', 'clones[0]count') is refused."""
    parts: list[str | int] = []
    for segment in path.split("."):
        match = _SEGMENT.fullmatch(segment)
        if match is None:
            raise StackFileError(f"--set {path}: cannot read key path at {segment!r}")
        parts.append(match[1])
        parts += [int(index) for index in re.findall(r"\[(\d+)\]", match[2])]
    return parts


def apply_override(pipeline: Any, item: str) -> Any:
    """Apply `PATH=VALUE` inside vmimage:pipeline; VALUE is read as YAML (so numbers,
    booleans, lists and mappings work). Returns a new object; the input is untouched."""
    path, sep, raw = item.partition("=")
    if not sep:
        raise StackFileError(f"--set {item!r}: expected PATH=VALUE")
    try:
        value = load_yaml(raw) if raw.strip() else ""
    except (yaml.YAMLError, StackYamlError):
        value = raw
    parts = parse_key_path(path.strip())
    root = json.loads(json.dumps(pipeline if pipeline is not None else {}, default=str))
    node: Any = root
    for i, part in enumerate(parts[:-1]):
        node = _step(node, part, parts[i + 1], path)
    last = parts[-1]
    if isinstance(last, int):
        if not isinstance(node, list) or last > len(node):
            raise StackFileError(f"--set {path}: index {last} is past the end of the list")
        if last == len(node):
            node.append(value)
        else:
            node[last] = value
    elif isinstance(node, dict):
        node[last] = value
    else:
        raise StackFileError(f"--set {path}: {last!r} is inside a {type(node).__name__}")
    return root


def _step(node: Any, part: str | int, following: str | int, path: str) -> Any:
    if isinstance(part, int):
        if not isinstance(node, list) or part >= len(node):
            raise StackFileError(f"--set {path}: no item [{part}] there")
        return node[part]
    if not isinstance(node, dict):
        raise StackFileError(f"--set {path}: {part!r} is inside a {type(node).__name__}")
    if part not in node:
        node[part] = [] if isinstance(following, int) else {}
    return node[part]


@dataclass
class ProgramRun:
    registrations: list[Registration]
    operations: list[Operation]
    failures: list[Failure]
    outputs: dict[str, Any]  # stack outputs, secrets shown as "[secret]"
    error: str | None  # program error that was not an ARM refusal
    arm: SimulatedArm
    config_problems: list[str] = field(default_factory=list)  # refused by the program
    #: What the program warned about through pulumi.log (its preflight: kept replicas,
    #: quotas, evicted Spot builds), as `pulumi preview` shows them as diagnostics.
    warnings: list[str] = field(default_factory=list)
    #: Operations started and never seen to end (the run was killed in them).
    pending_operations: list[PendingOperation] = field(default_factory=list)
    #: The program's own reads of Azure (its preflight), by kind: resourceSkus, usages...
    azure_reads: dict[str, int] = field(default_factory=dict)


@contextmanager
def _collecting_warnings(into: list[str]) -> Iterator[None]:
    """pulumi.log.warn under mocks reaches Python's root logger: keep what it says."""
    class Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            if record.levelno == logging.WARNING:
                into.append(record.getMessage())

    handler = Keep(logging.WARNING)
    logging.getLogger().addHandler(handler)
    try:
        yield
    finally:
        logging.getLogger().removeHandler(handler)


def run(
    stack: StackConfig,
    arm: SimulatedArm,
    *,
    prior: dict[str, PriorResource] | None = None,
    diff: DiffFn | None = None,
    program: Path = PROGRAM,
) -> ProgramRun:
    """Execute the program once. Pulumi's runtime is process-global, so it is reset
    before each run; runs in one process do not see each other.

    Inside `reporting_progress(callback)`, `callback` is called every PROGRESS_INTERVAL_S
    of wall time while the program runs, from another thread, with the number of
    resources registered so far."""
    monitor = SimulatorMonitor(arm, prior=prior, diff=diff)
    error: str | None = None
    problems: list[str] = []
    _quiet_reported_failures()
    warned: list[str] = []
    try:
        with ticking(PROGRESS.get(), lambda: len(monitor.registrations)), \
                _collecting_warnings(warned):
            run_program(program, monitor, project="vmimage", stack=stack.name,
                        config=stack.config, secret_keys=stack.secret_keys)
    except ConfigProblems as exc:  # what Azure's state forbids, found before registering
        error, problems = str(exc), exc.problems
    except pulumi.RunError as exc:
        error = str(exc)
    except Exception as exc:  # reported below; ARM refusals are in failures
        error = f"{type(exc).__name__}: {exc}"
    outputs = {} if error or monitor.failures else stack_outputs(REDACTED)
    # A VM's state was read when it was created; later operations (generalize) changed it.
    for reg in monitor.registrations.values():
        if reg.custom and not reg.state.startswith("failed"):
            reg.state = final_state(arm, reg)
    return ProgramRun(
        registrations=in_stable_order(monitor.registrations.values()),
        operations=monitor.operations,
        failures=monitor.failures,
        outputs=outputs,
        error=None if monitor.failures else error,
        arm=arm,
        config_problems=problems,
        warnings=list(dict.fromkeys(warned)),
        pending_operations=sorted(monitor.pending.values(), key=lambda p: p.urn),
        azure_reads=monitor.azure_reads,
    )


PROGRESS: ContextVar[Callable[[int], None] | None] = ContextVar("progress", default=None)


@contextmanager
def reporting_progress(callback: Callable[[int], None] | None) -> Iterator[None]:
    """Every `run` inside the block reports its progress to `callback` (a context rather
    than a parameter of `run`: callers reach it through `offline.up.up`)."""
    token = PROGRESS.set(callback)
    try:
        yield
    finally:
        PROGRESS.reset(token)


@contextmanager
def ticking(callback: Callable[[int], None] | None, count: Callable[[], int]) -> Iterator[None]:
    """Calls `callback(count())` every PROGRESS_INTERVAL_S from a daemon thread until the
    block ends. A callback that raises is not called again (the run goes on)."""
    if callback is None:
        yield
        return
    stop = threading.Event()

    def tick() -> None:
        while not stop.wait(PROGRESS_INTERVAL_S):
            try:
                callback(count())
            except Exception:
                return

    ticker = threading.Thread(target=tick, name="offline-progress", daemon=True)
    ticker.start()
    try:
        yield
    finally:
        stop.set()
        ticker.join()


def _quiet_reported_failures() -> None:
    """When ARM refuses one registration, the SDK leaves the futures of its dependents
    failed and unread; asyncio would print each with a traceback when it is collected.
    Those failures are already reported (as the refusal itself), so they stay quiet;
    anything else still goes to asyncio's default handler."""
    def handler(loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
        if not isinstance(context.get("exception"), ArmError | SimulatedCrash):
            loop.default_exception_handler(context)

    asyncio.get_event_loop().set_exception_handler(handler)


def in_stable_order(registrations: Iterable[Registration]) -> list[Registration]:
    """The SDK registers from a thread pool, so arrival order varies from run to run;
    reports must not. Parents before children (by depth of the URN's type chain), then
    by URN."""
    return sorted(registrations, key=lambda r: (type_depth(r.urn), r.urn))
