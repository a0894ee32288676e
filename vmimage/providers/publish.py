"""Publish a validated gallery version: once its validation VM passed its steps, take
the version into `latest` (its configured `excludeFromLatest`; it was created excluded)
and deallocate the validation VM, so it bills no compute from then on.

- `publish_version`: the procedure against a real `ComputeManagementClient`;
- `PUBLISH`: it as a VM action on the validation VM (vmimage/providers/vm_action.py), and
  `Publish`, the Pulumi dynamic resource recording that the version was published.

A new value of `excludeFromLatest` in config is a new publication (a replace), so the
version follows its config after it was published once.
"""

from __future__ import annotations

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
    subscription_of,
)

__all__ = ["PUBLISH", "Publish", "PublishArgs", "PublishError", "publish_version"]

BUNDLE = (*BASE_BUNDLE, __name__)


class PublishError(VmActionError):
    """The version could not be published, or the validation VM not deallocated."""


def publish_version(client: Any, resource_group: str, vm_name: str, *, gallery: str,
                    image: str, gallery_group: str | None = None, version: str,
                    exclude_from_latest: bool, gallery_client: Any = None,
                    sleep: Callable[[float], None] = time.sleep,
                    clock: Callable[[], float] = time.monotonic,
                    progress: Callable[[str], None] | None = None,
                    poll_s: float = 15.0) -> dict[str, Any]:
    """PATCH the version's excludeFromLatest, then deallocate the validation VM.
    `gallery_client`: the gallery's subscription's client, when it is not the VM's."""
    from azure.core.exceptions import HttpResponseError

    report = reporter(vm_name, clock, progress)
    try:
        report(f"publishing {image} {version} (excludeFromLatest {exclude_from_latest})")
        (gallery_client or client).gallery_image_versions.begin_update(
            gallery_group or resource_group, gallery, image, version,
            {"properties": {"publishingProfile": {"excludeFromLatest": exclude_from_latest}}},
        ).result()
        report("deallocating the validation VM")
        client.virtual_machines.begin_deallocate(
            resource_group, vm_name, retry_on_methods=RETRY_METHODS).result()
    except HttpResponseError as err:
        raise PublishError(f"publishing version {version} of {image} after its validation "
                           f"failed: {describe(err)}; run again") from err
    return {"excludeFromLatest": exclude_from_latest, "powerState": "deallocated"}


def _run(client: Any, props: dict[str, Any], *, client_for: Callable[[str], Any],
         **how: Any) -> dict[str, Any]:
    # An existing definition may be in another subscription than the validation VM's
    # (gallery.imageId): the version is updated there, with the same credential.
    other = props.get("gallerySubscriptionId")
    own = subscription_of(props.get("vmId")) or props.get("subscriptionId") or ""
    return publish_version(
        client, props["resourceGroupName"], props["vmName"], gallery=props["galleryName"],
        gallery_group=props.get("galleryResourceGroupName") or props["resourceGroupName"],
        image=props["galleryImageName"], version=props["galleryImageVersionName"],
        exclude_from_latest=bool(props.get("excludeFromLatest")),
        gallery_client=client_for(other) if other and other.lower() != own.lower() else None,
        **how)


PUBLISH = VmAction(
    name="publish",
    inputs=("galleryName", "galleryImageName", "galleryImageVersionName", "excludeFromLatest",
            "galleryResourceGroupName", "gallerySubscriptionId"),
    outputs=("powerState",), done_at="publishedAt", run=_run,
    required=("resourceGroupName", "vmName", "vmId", "galleryName", "galleryImageName",
              "galleryImageVersionName"),
    replaces=("galleryImageVersionName", "excludeFromLatest"),
    subscriptions=True)
PUBLISH_INPUTS = PUBLISH.all_inputs


class PublishProvider(VmActionProvider):
    """What the engine's provider host runs for `Publish`."""

    action = PUBLISH
    bundle = BUNDLE


@dataclass(kw_only=True)
class PublishArgs(VmArgs):
    """Inputs of `Publish`: the validation VM (vm_*), and the version it validated."""

    gallery_name: pulumi.Input[str]
    gallery_image_name: pulumi.Input[str]
    gallery_image_version_name: str
    exclude_from_latest: bool = False
    gallery_resource_group_name: pulumi.Input[str] | None = None
    """The gallery's group when it is not the VM's (an existing definition's)."""
    gallery_subscription_id: pulumi.Input[str] | None = None
    """The gallery's subscription when it may not be the VM's (an existing definition's)."""


class Publish(VmActionResource, module="vmimage", name="Publish"):
    """A validated version, taken into latest as configured; its validation VM off."""

    provider = PublishProvider
    power_state: pulumi.Output[str]
    published_at: pulumi.Output[str]
