"""Retire the old VMs of a rollout batch once its successors are healthy: batch k of a
clone group moved to a new version deletes the group's VMs of other versions with the
same indexes, right after batch k's health gates, instead of every old VM at the end of
the run. So at most one batch runs twice, and the subnet and quota need room for one
batch more, not a second fleet.

The old VMs are found in Azure by their tags (the group and a version other than the new
one) and the index their name ends in; each goes with its disks and NIC (their delete
option). Pulumi still has them in its state: its own delete at the end finds them gone,
which azure-native counts as deleted.

- `retire_batch`: the procedure against a real `ComputeManagementClient`;
- `RETIRE`: it as a VM action on the batch's first new VM, and `RetireBatch`, the Pulumi
  dynamic resource recording that the batch's predecessors went.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pulumi

from vmimage.azure.client import describe
from vmimage.providers.vm_action import (
    BASE_BUNDLE,
    RETRY_METHODS,
    VmAction,
    VmActionError,
    VmActionProvider,
    VmActionResource,
    VmArgs,
    reporter,
)
from vmimage.vocabulary import GROUP_TAG, VERSION_TAG

__all__ = ["RETIRE", "RetireBatch", "RetireBatchArgs", "RetireError", "retire_batch"]

BUNDLE = (*BASE_BUNDLE, __name__)
_INDEX = re.compile(r"-(\d{3,})$")


class RetireError(VmActionError):
    """An old VM of the batch could not be deleted."""


def old_vms(vms: list[Any], group: str, version: str, indexes: set[int]) -> list[str]:
    """The names of the group's VMs of another version whose index is in the batch."""
    found = []
    for vm in vms:
        tags = getattr(vm, "tags", None) or {}
        match = _INDEX.search(str(vm.name))
        if tags.get(GROUP_TAG) == group and tags.get(VERSION_TAG) not in (None, version) \
                and match and int(match.group(1)) in indexes:
            found.append(str(vm.name))
    return sorted(found)


def retire_batch(client: Any, resource_group: str, vm_name: str, *, group: str,
                 version: str, indexes: list[int],
                 sleep: Callable[[float], None] = time.sleep,
                 clock: Callable[[], float] = time.monotonic,
                 progress: Callable[[str], None] | None = None,
                 poll_s: float = 15.0) -> dict[str, Any]:
    """Delete the batch's predecessors; returns {"retired": [names]}."""
    from azure.core.exceptions import HttpResponseError, ResourceNotFoundError

    report = reporter(vm_name, clock, progress)
    try:
        names = old_vms(list(client.virtual_machines.list(resource_group)), group, version,
                        set(indexes))
    except HttpResponseError as err:
        raise RetireError(f"cannot list the VMs of {resource_group!r}: {describe(err)}") from err
    pollers = []
    for name in names:
        report(f"deleting {name}, whose successor is healthy")
        try:
            pollers.append(client.virtual_machines.begin_delete(
                resource_group, name, retry_on_methods=RETRY_METHODS))
        except ResourceNotFoundError:
            continue  # gone already: a run cut short after it
        except HttpResponseError as err:
            raise RetireError(f"deleting the old VM {name!r} failed: {describe(err)}") from err
    for poller in pollers:
        poller.result()
    return {"retired": names}


def _run(client: Any, props: dict[str, Any], **how: Any) -> dict[str, Any]:
    return retire_batch(client, props["resourceGroupName"], props["vmName"],
                        group=props["group"], version=props["version"],
                        indexes=[int(i) for i in props.get("indexes") or []], **how)


RETIRE = VmAction(name="retire", inputs=("group", "version", "indexes"),
                  outputs=("retired",), done_at="retiredAt", run=_run,
                  required=("resourceGroupName", "vmName", "vmId", "group", "version"))
RETIRE_INPUTS = RETIRE.all_inputs


class RetireProvider(VmActionProvider):
    """What the engine's provider host runs for `RetireBatch`."""

    action = RETIRE
    bundle = BUNDLE


@dataclass(kw_only=True)
class RetireBatchArgs(VmArgs):
    """Inputs of `RetireBatch`: the batch's first new VM (vm_*), the group, its new
    version and the batch's indexes."""

    group: str
    version: str
    indexes: list[int]


class RetireBatch(VmActionResource, module="vmimage", name="RetireBatch"):
    """The old VMs of one rollout batch, deleted once the batch was healthy."""

    provider = RetireProvider
    retired: pulumi.Output[list[str]]
    retired_at: pulumi.Output[str]
