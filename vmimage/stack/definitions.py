"""An existing gallery image definition (`gallery.imageId`), read from Azure before
anything is registered and checked against the definition the pipeline needs
(vmimage/config/definition.py): every mismatch at once, each naming its key.

Read with the Azure SDK as the marketplace reads are (vmimage/azure/reads.py), so a
definition in another subscription is read with the same credential; offline the
simulator answers (declare one with `python -m offline up --existing
'ID;osType=Linux;...'`). Under plain mocks there is no Azure to ask: not checked.
"""

from __future__ import annotations

from vmimage.azure.reads import CloudReads
from vmimage.config.definition import AT, definition_problems, found_definition
from vmimage.config.models import PipelineSpec
from vmimage.stack.subnets import deployment_subscription


def existing_definition_problems(spec: PipelineSpec, reads: CloudReads | None) -> list[str]:
    """What keeps the pipeline from publishing into the existing definition (empty:
    nothing, no such key, or nobody to ask)."""
    existing = spec.gallery.existing if spec.gallery and spec.uses_gallery else None
    if existing is None or reads is None:
        return []
    gallery, image = existing.names
    found = reads.gallery_image(existing.subscription, existing.resource_group, gallery, image)
    if found is None:
        return [f"{AT}: no such image definition ({image!r} in gallery {gallery!r} of "
                f"resource group {existing.resource_group!r}, subscription "
                f"{existing.subscription}); create it first (it is never created here) or "
                "fix the id"]
    return definition_problems(spec, found_definition(found))


def definition_subscription(spec: PipelineSpec) -> str | None:
    """The stack's subscription when it publishes into an existing definition (so the
    pipeline can tell whether that is another one), else None (nothing to compare)."""
    if spec.gallery is None or spec.gallery.image_id is None:
        return None
    return deployment_subscription()
