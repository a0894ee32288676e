"""What `outdated` and `bump` ask Azure: a marketplace image's versions, a gallery image's
versions with their tags. `AzureSourceReads` asks through the Azure SDK (azure-mgmt-compute
`virtual_machine_images.list`, `gallery_image_versions.list_by_gallery_image`); the offline
simulator offers the same protocol over a state file (offline/daytwo.py)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol

from vmimage.azure.reads import CloudReadError


class SourceReads(Protocol):
    def marketplace_versions(self, location: str, publisher: str, offer: str,
                             sku: str) -> list[str]:
        """Every version Azure has of the image ([] when it has no such image)."""

    def gallery_versions(self, subscription: str | None, resource_group: str, gallery: str,
                         image: str) -> dict[str, dict[str, str]]:
        """Each version of a gallery image definition, with its tags ({} when none)."""


class AzureSourceReads:
    """Reads through a ComputeManagementClient per subscription (None: the stack's own)."""

    def __init__(self, client_for: Callable[[str | None], Any]) -> None:
        self._client_for = client_for

    def marketplace_versions(self, location: str, publisher: str, offer: str,
                             sku: str) -> list[str]:
        from azure.core.exceptions import HttpResponseError, ResourceNotFoundError

        try:
            # All of them: `$orderby=name desc` orders the names as text, and
            # 9.0.1 would sort above 10.0.0; callers take the highest by number.
            return [str(v.name) for v in self._client_for(None).virtual_machine_images.list(
                location, publisher, offer, sku)]
        except ResourceNotFoundError:
            return []
        except HttpResponseError as err:
            raise CloudReadError(f"cannot list the versions of {publisher}:{offer}:{sku} in "
                                 f"{location}: {str(err).splitlines()[0]}") from None

    def gallery_versions(self, subscription: str | None, resource_group: str, gallery: str,
                         image: str) -> dict[str, dict[str, str]]:
        from azure.core.exceptions import HttpResponseError, ResourceNotFoundError

        try:
            versions = self._client_for(subscription).gallery_image_versions
            return {str(v.name): dict(v.tags or {})
                    for v in versions.list_by_gallery_image(resource_group, gallery, image)}
        except ResourceNotFoundError:
            return {}
        except HttpResponseError as err:
            raise CloudReadError(f"cannot list the versions of {gallery}/{image}: "
                                 f"{str(err).splitlines()[0]}") from None
