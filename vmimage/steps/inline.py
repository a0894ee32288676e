"""`{inline: "..."}`: script text in the config itself, run as a managed run command.
For one-liners; anything longer reads better as a `script` file."""

from __future__ import annotations

from typing import TYPE_CHECKING

from pydantic import Field

from vmimage.steps.kind import RunCommandStep, StepContext, StepKind

if TYPE_CHECKING:
    import pulumi


class InlineStep(RunCommandStep):
    inline: str = Field(min_length=1, description="the script text: bash on Linux, PowerShell "
                        "on Windows, run as root / SYSTEM")


def _problems(step: InlineStep, _os: str, at: str) -> list[str]:
    if "\x00" in step.inline:
        return [f"{at}.inline: holds a NUL character: not a script"]
    return []  # its size is bounded with every step's script (vmimage/config/limit_rules.py)


def _register(ctx: StepContext, step: InlineStep, index: int) -> pulumi.CustomResource:
    from vmimage.azure import naming
    from vmimage.steps.run_command import command_name, register_run_command

    return register_run_command(
        ctx, logical_name=naming.child_name(ctx.name, f"customize-{index}"),
        name=command_name(index, "inline"), script=step.inline,
        timeout_s=step.timeout_seconds, step_tag=ctx.step_tag)


KIND = StepKind(key="inline", model=InlineStep, register=_register, problems=_problems,
                script_text=lambda step, _os: step.inline,
                description="script text in the config")
