"""Customize steps as the program registers them: one module per kind, and the table that
ties each kind of the config (vmimage/config/steps/) to its registration. To add a kind,
write vmimage/config/steps/<kind>.py and vmimage/steps/<kind>.py and add one line to each
table (docs/architecture.md); a test holds the two tables to the same keys."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pulumi

from vmimage.config.steps import kind_of
from vmimage.steps import ansible, file, inline, restart, script, template, windows_update
from vmimage.steps.kind import Register, StepContext

#: How each kind registers, by the key that names it in config.
REGISTER: dict[str, Register] = {
    "template": template.register, "script": script.register, "inline": inline.register,
    "restart": restart.register, "windowsUpdate": windows_update.register,
    "file": file.register, "ansible": ansible.register,
}


def register_step(ctx: StepContext, step: Any, index: int) -> pulumi.CustomResource:
    """Registers one customize step by its kind, its run commands tagged with the kind
    and the index; returns its last resource."""
    key = kind_of(step).key
    return REGISTER[key](replace(ctx, kind=key, index=index), step, index)
