"""Resources of a captured build: registered so that nothing about them changes again.

A generalized VM "can't be started or modified", and its extensions and run commands
cannot be changed or deleted while it is not running (docs/azure-behaviours.md). Pulumi
has no "ignore everything" (pulumi/pulumi#6710), so a frozen resource lists every input
it is given in `ignore_changes`: the engine then keeps the recorded values, shows the
resource as unchanged, and sends Azure nothing.
"""

from __future__ import annotations

from collections.abc import Iterable


def frozen_inputs(inputs: Iterable[str], frozen: bool) -> list[str] | None:
    """`ignore_changes` for a resource given `inputs` (Python or wire names): all of them
    when the resource is frozen, none otherwise."""
    return sorted(inputs) if frozen else None
