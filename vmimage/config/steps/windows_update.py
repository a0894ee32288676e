"""`{windowsUpdate: {categories: [...], exclude: [...], maxUpdates: 100, rounds: 3}}`:
install Windows updates on the build VM, restarting between rounds, until none of the
chosen categories is pending; Windows builds only.

Bounded, as a fixed chain of resources (the program cannot loop on what the guest
answers): `rounds` times a managed run command (templates/windows/windows-update.ps1.j2:
search, download and install up to `maxUpdates` applicable updates through the Windows
Update Agent's COM API, `Microsoft.Update.Session`; no module is downloaded) followed by a
`Restart` VM action (vmimage/providers/restart.py), then one run command of the same
template that verifies: it fails the step, listing them, if updates of those categories
are still pending after the last round. A round that finds nothing to install succeeds at
once; its restart still runs (the chain is fixed before anything runs).
"""

from __future__ import annotations

import re
from typing import Annotated, Any

from pydantic import BeforeValidator, Field

from vmimage.config.base import SpecModel
from vmimage.config.steps.kind import MAX_RUN_COMMAND_S, StepKind
from vmimage.config.values import kb_id
from vmimage.scripts.render import render
from vmimage.suggest import did_you_mean

TEMPLATE = "windows/windows-update.ps1.j2"
#: The update classifications of the Windows Update Agent (the `UpdateClassification`
#: categories an update carries in `IUpdate.Categories`), by the name Windows gives them,
#: with their category ids: the script matches the ids, which are not localized. Source:
#: "WSUS Classification GUIDs", learn.microsoft.com/previous-versions/windows/desktop/ff357803
#: (Drivers and Upgrades: Windows Update for Business docs, "WSUS classification GUID").
CATEGORIES: dict[str, str] = {
    "Critical Updates": "e6cf1350-c01b-414d-a61f-263d14d133b4",
    "Definition Updates": "e0789628-ce08-4437-be74-2495b842f43b",
    "Drivers": "ebfc1fc5-71a4-4f7b-9aca-3b9a503104a0",
    "Feature Packs": "b54e7d24-7add-428f-8b75-90a396fa584f",
    "Security Updates": "0fa1201d-4330-4fa8-8ae9-b877473b6441",
    "Service Packs": "68c5b0a3-d1a6-4553-ae49-01d3a7827828",
    "Tools": "b4832bd8-e735-4761-8daf-37f882276dab",
    "Update Rollups": "28bc880e-0592-4cbf-8f95-c79b17911d5f",
    "Updates": "cd5ffd1e-e932-4e3a-bf74-18bf0b1bbd83",
    "Upgrades": "3689bdc8-b205-4af4-8d4a-a63924c5e9d5",
}
#: What a golden image usually takes: Windows' monthly cumulative updates are Security
#: Updates, out-of-band fixes Critical Updates.
DEFAULT_CATEGORIES = ("Security Updates", "Critical Updates", "Update Rollups")
#: Characters an exclusion may not hold: quotes (ASCII and typographic, which PowerShell
#: also reads as quotes), line breaks and other control characters.
_NOT_IN_TEXT = re.compile("['\"`\u2018\u2019\u201a\u201b\u201c\u201d\u201e\x00-\x1f\x7f]")
MAX_EXCLUDE_CHARS = 200
MIN_EXCLUDE_TEXT = 4


class WindowsUpdateOptions(SpecModel):
    categories: tuple[str, ...] = Field(
        DEFAULT_CATEGORIES, min_length=1,
        description="update classifications to install, as Windows names them: "
        + ", ".join(CATEGORIES))
    exclude: tuple[str, ...] = Field(
        (), max_length=100, description="updates never installed: KB ids (KB5034439) or "
        "text found in their titles (case-insensitive)")
    max_updates: int = Field(100, ge=1, le=500,
                             description="at most this many updates installed per round")
    rounds: int = Field(3, ge=1, le=10, description="install-and-restart rounds, at most; "
                        "then the step fails if updates are still pending")
    timeout_seconds: int = Field(3600, ge=60, le=MAX_RUN_COMMAND_S,
                                 description="run command timeout of each round, in seconds")
    restart_timeout_seconds: int = Field(
        1800, ge=60, le=3600, description="how long the guest agent may take to report "
        "Ready after each round's restart (installing updates at boot takes a while)")


def _defaults_if_empty(value: object) -> object:
    return {} if value is None else value  # `- windowsUpdate:` with nothing after it


class WindowsUpdateStep(SpecModel):
    windows_update: Annotated[WindowsUpdateOptions, BeforeValidator(_defaults_if_empty)] = Field(
        description="install Windows updates, restarting between rounds, until none is "
        "pending (Windows builds)")


def _category_problem(name: str, at: str) -> str:
    hint = did_you_mean(name, CATEGORIES, ignore_case=True)
    return (f"{at}: {name!r} is not a Windows Update category (one of: "
            f"{', '.join(CATEGORIES)}){hint}")


def exclude_problem(item: str) -> str | None:
    """Why an `exclude` entry cannot be used, or None: a KB id (values.KbId), or one line
    of title text that is not a KB id's beginning (bare `KB` is in every update's title,
    so it would exclude all of them and the build would pass with nothing installed)."""
    if re.fullmatch(r"kb[0-9]*", item, re.IGNORECASE):
        try:
            kb_id(item)
        except ValueError as exc:
            return str(exc)
        return None
    if len(item) < MIN_EXCLUDE_TEXT:
        return (f"{item!r}: title text of at least {MIN_EXCLUDE_TEXT} characters (shorter "
                "text matches most updates), or a KB id (KB5034439)")
    if len(item) > MAX_EXCLUDE_CHARS:
        return f"{len(item)} characters; at most {MAX_EXCLUDE_CHARS}"
    bad = _NOT_IN_TEXT.search(item)
    if bad:
        return (f"{item!r} holds {bad.group(0)!r}: give a KB id (KB5034439) or title text "
                "without quotes or line breaks")
    return None


def _problems(step: WindowsUpdateStep, os: str, at: str) -> list[str]:
    here = f"{at}.windowsUpdate"
    if os != "windows":
        return [f"{here}: Windows Update runs on windows builds only (this is a {os} build)"]
    options = step.windows_update
    found = []
    seen: set[str] = set()
    for i, name in enumerate(options.categories):
        if name not in CATEGORIES:
            found.append(_category_problem(name, f"{here}.categories[{i}]"))
        elif name in seen:
            found.append(f"{here}.categories[{i}]: {name!r} is listed twice")
        seen.add(name)
    for i, item in enumerate(options.exclude):
        problem = exclude_problem(item)
        if problem:
            found.append(f"{here}.exclude[{i}]: {problem}")
    return found


def variables(options: WindowsUpdateOptions, *, round_no: int, verify: bool) -> dict[str, Any]:
    """The template's vars for one round (1-based), or for the final check."""
    return {"categories": list(options.categories),
            "category_ids": [CATEGORIES[c] for c in options.categories],
            "exclude": list(options.exclude), "max_updates": options.max_updates,
            "round": round_no, "rounds": options.rounds, "verify": verify}


def render_round(options: WindowsUpdateOptions, *, round_no: int, verify: bool,
                 vm_name: str) -> str:
    return render(TEMPLATE, variables(options, round_no=round_no, verify=verify), os="windows",
                  vm_name=vm_name)


def _script_text(step: WindowsUpdateStep, os: str) -> str | None:
    if os != "windows" or any(c not in CATEGORIES for c in step.windows_update.categories):
        return None
    return render_round(step.windows_update, round_no=1, verify=False, vm_name="validation")




KIND = StepKind(key="windowsUpdate", model=WindowsUpdateStep,
                problems=_problems, script_text=_script_text,
                run_commands=lambda step: step.windows_update.rounds + 1,  # and the verify
                restarts=lambda step, _os: step.windows_update.rounds,
                description="install Windows updates in bounded rounds with restarts")
