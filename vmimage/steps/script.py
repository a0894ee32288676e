"""Registers a `script` step (vmimage/config/steps/script.py): the file as it is, as a
user script (vmimage/steps/user_script.py)."""

from __future__ import annotations

from pathlib import PurePosixPath

import pulumi

from vmimage.config.steps.script import ScriptStep, read_script
from vmimage.steps.kind import StepContext
from vmimage.steps.user_script import register_user_script


def register(ctx: StepContext, step: ScriptStep, index: int) -> pulumi.CustomResource:
    return register_user_script(ctx, step, index, stem=PurePosixPath(step.script).stem.lower(),
                                script=read_script(step.script))
