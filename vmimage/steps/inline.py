"""Registers an `inline` step (vmimage/config/steps/inline.py): its text as a user script
(vmimage/steps/user_script.py)."""

from __future__ import annotations

import pulumi

from vmimage.config.steps.inline import InlineStep
from vmimage.steps.kind import StepContext
from vmimage.steps.user_script import register_user_script


def register(ctx: StepContext, step: InlineStep, index: int) -> pulumi.CustomResource:
    return register_user_script(ctx, step, index, stem="inline", script=step.inline)
