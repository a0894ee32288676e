"""Existing gallery image definitions, read from Azure before anything is registered:
the one versions are published into (`gallery.imageId`), checked against the definition
the pipeline needs (vmimage/config/definition.py), and those of the parent versions
builds start from (`builds[].from.imageVersionId`), checked against what the build VM is
(vmimage/config/parent_definition.py): every mismatch at once, each naming its key.

Read with the Azure SDK as the marketplace reads are (vmimage/azure/reads.py), so a
definition in another subscription is read with the same credential; offline the
simulator answers (declare one with `python -m offline up --existing
'ID;osType=Linux;...'`). Under plain mocks there is no Azure to ask: not checked.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from vmimage.azure import arm_ids
from vmimage.azure.auth import AuthSettings
from vmimage.azure.reads import CloudReadError, CloudReads, stack_login
from vmimage.config.definition import AT, definition_problems, found_definition
from vmimage.config.fingerprint import Capture
from vmimage.config.models import PipelineSpec
from vmimage.config.parent_definition import parent_definition_problems
from vmimage.stack.subnets import deployment_subscription


def existing_definition_problems(spec: PipelineSpec, reads: CloudReads | None) -> list[str]:
    """What keeps the pipeline from publishing into the existing definition (empty:
    nothing, no such key, or nobody to ask)."""
    existing = spec.gallery.existing if spec.gallery and spec.uses_gallery else None
    if existing is None or reads is None:
        return []
    if deployment_subscription() is None:
        # Versions would be written into the stack's subscription, whichever it is, while
        # they are looked up and published in the definition's.
        return [f"{AT}: cannot tell which subscription this stack deploys into, so not "
                f"whether the definition's ({existing.subscription}) is another one; set "
                "azure-native:subscriptionId (or ARM_SUBSCRIPTION_ID)"]
    gallery, image = existing.names
    found = read_definition(reads, existing.subscription, existing.resource_group, gallery,
                            image)
    if found is None:
        return [f"{AT}: no such image definition ({image!r} in gallery {gallery!r} of "
                f"resource group {existing.resource_group!r}, subscription "
                f"{existing.subscription}); create it first (it is never created here) or "
                "fix the id"]
    if isinstance(found, CloudReadError):
        return [unreadable(AT, "the image definition", found,
                           "publishing versions into it needs too (with write access)")]
    return definition_problems(spec, found_definition(found))


def definition_subscription(spec: PipelineSpec) -> str | None:
    """The stack's subscription when it publishes into an existing definition (so the
    pipeline can tell whether that is another one), else None (nothing to compare)."""
    if spec.gallery is None or spec.gallery.image_id is None:
        return None
    return deployment_subscription()


def definition_login(spec: PipelineSpec) -> AuthSettings:
    """The stack's azure-native login when it publishes into an existing definition (a
    provider for another subscription signs in with it), else none."""
    if spec.gallery is None or spec.gallery.image_id is None:
        return AuthSettings({})
    return stack_login()


def parent_problems(spec: PipelineSpec, reads: CloudReads | None,
                    captures: Mapping[str, Capture]) -> list[str]:
    """What keeps each build started from another gallery's version from booting it as
    this stack's build VM, by its parent's definition. A retired or captured build's VM
    booted already: its parent (perhaps deleted since) is not asked about again."""
    if reads is None:
        return []
    problems: list[str] = []
    read: dict[str, dict[str, Any] | CloudReadError | None] = {}  # one per definition
    for i, build in enumerate(spec.builds):
        parent = build.from_.image_version_id
        capture = captures.get(build.version)
        if parent is None or build.retired or (capture is not None and capture.captured):
            continue
        at = f"builds[{i}].from.imageVersionId"
        version = arm_ids.parse(str(parent), "gallery image version")
        gallery, image, _ = version.names
        where = (f"{image!r} in gallery {gallery!r} (resource group "
                 f"{version.resource_group!r}, subscription {version.subscription})")
        key = f"{version.subscription}/{version.resource_group}/{gallery}/{image}".lower()
        if key not in read:
            read[key] = read_definition(reads, version.subscription, version.resource_group,
                                        gallery, image)
        found = read[key]
        if found is None:
            problems.append(f"{at}: Azure has no image definition {where}, so neither the "
                            "version; fix the id")
        elif isinstance(found, CloudReadError):
            problems.append(unreadable(at, "the version's image definition", found,
                                       "creating the build VM from it needs too"))
        else:
            problems += parent_definition_problems(spec, at, repr(image),
                                                   found_definition(found))
    return problems


def read_definition(reads: CloudReads, subscription: str, resource_group: str, gallery: str,
                    image: str) -> dict[str, Any] | CloudReadError | None:
    """The definition's properties, None when Azure has none (404: nor perhaps its group
    or gallery), or the refusal when the credentials may not read it (401/403); any
    other failure is raised."""
    try:
        return reads.gallery_image(subscription, resource_group, gallery, image)
    except CloudReadError as err:
        if err.status == 404:
            return None
        if err.status in (401, 403):
            return err
        raise


def unreadable(at: str, what: str, err: CloudReadError, needs: str) -> str:
    """The problem at `at` when the credentials may not read `what` (an image definition),
    which `needs` says what else needs."""
    return (f"{at}: the credentials may not read {what}: {err}; so its OS, generation and "
            "security type cannot be checked: grant them read access to the gallery "
            f"(Reader), which {needs}")
