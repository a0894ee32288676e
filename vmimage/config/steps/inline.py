"""`{inline: "..."}`: script text in the config itself, run as a managed run command.
For one-liners; anything longer reads better as a `script` file."""

from __future__ import annotations

from pydantic import Field

from vmimage.config.steps.kind import StepKind, UserScriptStep, script_restarts


class InlineStep(UserScriptStep):
    inline: str = Field(min_length=1, description="the script text: bash on Linux, PowerShell "
                        "on Windows, run as root / SYSTEM")


def _problems(step: InlineStep, _os: str, at: str) -> list[str]:
    if "\x00" in step.inline:
        return [f"{at}.inline: holds a NUL character: not a script"]
    return []  # its size is bounded with every step's script (vmimage/config/limit_rules.py)




KIND = StepKind(key="inline", model=InlineStep, problems=_problems,
                script_text=lambda step, _os: step.inline, restarts=script_restarts,
                description="script text in the config")
