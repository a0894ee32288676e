"""Reads from Azure that azure-native offers no lookup for, made before anything is
registered: today, what a marketplace image is (its Hyper-V generation, architecture).

azure-native (3.x) has no invoke for marketplace images, so the program asks ARM itself,
through the Azure SDK, authenticated as azure-native is (vmimage/azure/auth.py). The
same `AzureReads` runs offline over the simulator's REST surface: only its client differs.
Under Pulumi's plain mocks (unit tests) there is no Azure to ask, and these checks are
skipped.
"""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

import pulumi

from vmimage.azure.auth import CONFIG_ENV, AuthSettings, resolve_settings
from vmimage.azure.client import make_compute_client
from vmimage.azure.security_types import SECURITY_CAPABILITIES
from vmimage.azure.sku_cache import Sizes, SkuCache, sku_cache


@dataclass(frozen=True)
class MarketplaceImage:
    """What ARM says of one marketplace image version."""

    version: str
    generation: str  # V1 or V2
    architecture: str  # x64 or Arm64


@dataclass(frozen=True)
class SizeInfo:
    """What ARM's resource SKUs say of a VM size in a region."""

    family: str  # the quota family, e.g. standardDSv5Family
    vcpus: int
    capabilities: Mapping[str, str] = field(default_factory=dict)
    """The security capabilities the SKU lists (HyperVGenerations, TrustedLaunchDisabled,
    ConfidentialComputingType: vmimage/azure/security_types.py), by name."""


@dataclass(frozen=True)
class Quota:
    """One vCPU quota of the subscription in a region (a family's, or `cores`, the total)."""

    used: int
    limit: int


class CloudReads(Protocol):
    def marketplace_image(self, location: str, publisher: str, offer: str, sku: str,
                          version: str) -> MarketplaceImage | None:
        """The image (`version` may be 'latest'), or None when Azure has no such image."""

    def vm_sizes(self, location: str, names: Collection[str]) -> dict[str, SizeInfo]:
        """Those of `names` the region offers, by name (lower-case)."""

    def vcpu_quotas(self, location: str) -> dict[str, Quota]:
        """The subscription's vCPU quotas in the region, by usage name (lower-case)."""

    def gallery_image(self, subscription: str, resource_group: str, gallery: str,
                      image: str) -> dict[str, Any] | None:
        """An image definition's properties as ARM answers them (in any subscription the
        credentials can read), or None when there is no such definition."""

    def gallery_image_version(self, subscription: str, resource_group: str, gallery: str,
                              image: str, version: str) -> Any | None:
        """An image version as the SDK answers it (`id`, `tags`, `publishing_profile`:
        what the provider's getGalleryImageVersion answers too), in any subscription the
        credentials can read; None when there is no such version."""


class CloudReadError(Exception):
    """Azure could not be asked; the message says what was asked and why it failed."""

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        #: ARM's HTTP status, when it answered (403: the credentials may not read it).
        self.status = status


def _size_facts(sku: Any) -> tuple[str, int, dict[str, str]]:
    """(quota family, vCPUs, security capabilities) of a VM size's resource SKU."""
    caps = {c.name: str(c.value) for c in sku.capabilities or [] if c.name}
    kept = {name: caps[name] for name in SECURITY_CAPABILITIES if name in caps}
    return str(sku.family or ""), int(float(caps.get("vCPUs") or 0)), kept


def _version_key(version: str) -> tuple[int, ...]:
    return tuple(int(part) if part.isdigit() else -1 for part in version.split("."))


class AzureReads:
    """Reads through a ComputeManagementClient: the real one, or one over the simulator.
    `reads` counts the requests made, by kind (a listing counts once, however many pages)."""

    def __init__(self, client: Any = None, *, subscription: str = "",
                 cache: SkuCache | None = None,
                 client_for: Callable[[str], Any] | None = None) -> None:
        self._client = client
        #: A client for another subscription (reads there are made with the same
        #: credential); by default one like `client()`'s.
        self._client_for = client_for
        self._subscription = subscription
        self._cache = cache
        self._images: dict[tuple[str, ...], MarketplaceImage | None] = {}
        self.reads: Counter[str] = Counter()

    def client(self) -> Any:
        if self._client is None:
            settings = resolve_settings(_azure_native_config(), os.environ)
            self._subscription = _subscription(settings.get("subscriptionId"))
            self._client = make_compute_client(self._subscription, settings=settings)
        return self._client

    def marketplace_image(self, location: str, publisher: str, offer: str, sku: str,
                          version: str) -> MarketplaceImage | None:
        key = (location, publisher, offer, sku, version)
        if key not in self._images:  # one read per image per run
            self._images[key] = self._read_image(*key)
        return self._images[key]

    def vm_sizes(self, location: str, names: Collection[str]) -> dict[str, SizeInfo]:
        client = self.client()  # first: it settles which subscription is asked
        sizes = self._cache.load(self._subscription, location) if self._cache else None
        if sizes is None:
            sizes = self._list_sizes(client, location)
            if self._cache is not None:
                self._cache.store(self._subscription, location, sizes)
        # Only the config's sizes are kept: the region lists hundreds.
        wanted = {name.lower() for name in names}
        return {name: SizeInfo(family, vcpus, caps)
                for name, (family, vcpus, caps) in sizes.items() if name in wanted}

    def _list_sizes(self, client: Any, location: str) -> Sizes:
        """Every VM size of the region as (family, vCPUs, security capabilities): what
        the cache keeps."""
        from azure.core.exceptions import HttpResponseError

        self.reads["resourceSkus"] += 1
        try:
            return {sku.name.lower(): _size_facts(sku)
                    for sku in client.resource_skus.list(filter=f"location eq '{location}'")
                    if sku.resource_type == "virtualMachines" and sku.name}
        except HttpResponseError as err:
            raise CloudReadError(f"cannot read the VM sizes of {location}: "
                                 f"{str(err).splitlines()[0]}") from None

    def vcpu_quotas(self, location: str) -> dict[str, Quota]:
        from azure.core.exceptions import HttpResponseError

        self.reads["usages"] += 1
        try:
            return {str(u.name.value).lower(): Quota(int(u.current_value), int(u.limit))
                    for u in self.client().usage.list(location) if u.name and u.name.value}
        except HttpResponseError as err:
            raise CloudReadError(f"cannot read the vCPU quotas of {location}: "
                                 f"{str(err).splitlines()[0]}") from None

    def gallery_image(self, subscription: str, resource_group: str, gallery: str,
                      image: str) -> dict[str, Any] | None:
        found = self._read_or_none(
            "galleryImages", f"the image definition {image!r} of gallery {gallery!r} "
            f"(resource group {resource_group!r}, subscription {subscription})",
            lambda: self._subscription_client(subscription).gallery_images.get(
                resource_group, gallery, image).as_dict())
        return None if found is None else dict(found.get("properties") or found)

    def gallery_image_version(self, subscription: str, resource_group: str, gallery: str,
                              image: str, version: str) -> Any | None:
        return self._read_or_none(
            "galleryImageVersions", f"version {version} of image definition {image!r} in "
            f"gallery {gallery!r} (resource group {resource_group!r}, subscription "
            f"{subscription})",
            lambda: self._subscription_client(subscription).gallery_image_versions.get(
                resource_group, gallery, image, version))

    def _read_or_none(self, counted: str, what: str, read: Callable[[], Any]) -> Any:
        """One counted GET: its answer, None when Azure has no such resource, else a
        CloudReadError saying what could not be read, with ARM's status."""
        from azure.core.exceptions import (  # lazy: the SDK only once Azure is asked
            HttpResponseError,
            ResourceNotFoundError,
        )

        self.reads[counted] += 1
        try:
            return read()
        except ResourceNotFoundError:
            return None
        except HttpResponseError as err:
            raise CloudReadError(f"cannot read {what}: {str(err).splitlines()[0]}",
                                 err.status_code) from None

    def _subscription_client(self, subscription: str) -> Any:
        client = self.client()  # first: it settles which subscription is the stack's
        if subscription.lower() == self._subscription.lower():
            return client
        if self._client_for is not None:
            return self._client_for(subscription)
        settings = resolve_settings(_azure_native_config(), os.environ)
        return make_compute_client(subscription, settings=settings)

    def _read_image(self, location: str, publisher: str, offer: str, sku: str,
                    version: str) -> MarketplaceImage | None:
        from azure.core.exceptions import HttpResponseError, ResourceNotFoundError

        images = self.client().virtual_machine_images
        what = f"{publisher}:{offer}:{sku}:{version} in {location}"
        try:
            if version == "latest":
                self.reads["virtualMachineImages"] += 1
                versions = [v.name for v in images.list(location, publisher, offer, sku)]
                if not versions:
                    return None
                version = max(versions, key=_version_key)
            self.reads["virtualMachineImages"] += 1
            image = images.get(location, publisher, offer, sku, version).as_dict()
        except ResourceNotFoundError:
            return None
        except HttpResponseError as err:
            raise CloudReadError(f"cannot read the marketplace image {what}: "
                                 f"{str(err).splitlines()[0]}") from None
        properties = image.get("properties") or image
        return MarketplaceImage(
            version=version,
            generation=str(properties.get("hyperVGeneration") or "V1"),
            architecture=str(properties.get("architecture") or "x64"))


def _azure_native_config() -> dict[str, Any]:
    config = pulumi.Config("azure-native")
    return {f"azure-native:{key}": config.get(key) for key in CONFIG_ENV}


def stack_login() -> AuthSettings:
    """Who the stack's default provider signs in as, and in which cloud, as its config
    says. The environment is left out: an explicit provider reads the same `ARM_*`
    variables itself for each key not given (vmimage/azure/auth.py)."""
    return resolve_settings(_azure_native_config(), {})


def stack_subscription() -> str:
    """The subscription this stack deploys into, found as azure-native finds it."""
    return _subscription(resolve_settings(_azure_native_config(), os.environ)
                         .get("subscriptionId"))


def _subscription(configured: str | None) -> str:
    """The subscription azure-native uses: configured, or (Azure CLI login) the CLI's,
    which azure-native's own client config lookup reports."""
    if configured:
        return configured
    from pulumi_azure_native import authorization

    return authorization.get_client_config().subscription_id


def cloud_reads() -> CloudReads | None:
    """Who answers: whoever stands in for Azure under the engine (the offline simulator
    offers its own), nobody under plain mocks, Azure itself under `pulumi up`."""
    from pulumi.runtime.mocks import MockMonitor
    from pulumi.runtime.settings import get_monitor

    monitor = get_monitor()
    provided = getattr(monitor, "cloud_reads", None)
    if provided is not None:
        return provided
    if isinstance(monitor, MockMonitor):
        return None
    return AzureReads(cache=sku_cache(os.environ))


def compute_client() -> Any | None:
    """A ComputeManagementClient to act on the stack's VMs with (a failed build's policy,
    vmimage/steps/on_failure.py): the simulator's under the offline engine, none under
    plain mocks, Azure's, authenticated as azure-native is, under `pulumi up`."""
    from pulumi.runtime.mocks import MockMonitor  # lazy: as cloud_reads, only once asked
    from pulumi.runtime.settings import get_monitor  # lazy: as cloud_reads

    monitor = get_monitor()
    provided = getattr(monitor, "compute_client", None)
    if provided is not None:
        return provided()
    if isinstance(monitor, MockMonitor):
        return None
    return AzureReads().client()
