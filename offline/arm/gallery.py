"""Azure Compute Gallery: galleries, image definitions and image versions
(Major.Minor.Patch, immutable, replicated to their source region, captured from a
generalized VM or imported from VHD blobs), and the version read the program makes."""

from __future__ import annotations

from typing import Any

from offline.arm import tenancy
from offline.arm.capture import captured_vm, disk_luns
from offline.arm.control import ControlPlane
from offline.arm.model import ArmError, Outcome, get_path, name_check, timestamp
from offline.arm.security import check_version_source
from offline.secrets import unwrap
from vmimage.azure import naming


def gallery(arm: ControlPlane, p: dict[str, Any], at: float) -> Outcome:
    arm.require_group(p["resourceGroupName"], at)
    name_check(naming.GALLERY, p["galleryName"])
    rid = arm.provider_id(p["resourceGroupName"], "Microsoft.Compute/galleries", p["galleryName"])
    return Outcome(rid, arm.latency("gallery.create"))


def gallery_image(arm: ControlPlane, p: dict[str, Any], at: float) -> Outcome:
    gallery_id = arm.provider_id(
        p["resourceGroupName"], "Microsoft.Compute/galleries", p["galleryName"]
    )
    arm.require_parent(gallery_id, at, "gallery")
    name_check(naming.GALLERY_IMAGE, p["galleryImageName"])
    rid = f"{gallery_id}/images/{p['galleryImageName']}"
    return Outcome(rid, arm.latency("galleryImage.create"))


def gallery_image_version(arm: ControlPlane, p: dict[str, Any], at: float) -> Outcome:
    # In the subscription of the call's provider: the stack's, or an explicit one's.
    image_id = (f"/subscriptions/{arm.subscription}/resourceGroups/{p['resourceGroupName']}"
                f"/providers/Microsoft.Compute/galleries/{p['galleryName']}/images/"
                f"{p['galleryImageName']}")
    definition = arm.require_parent(image_id, at, "gallery image")
    tenancy.check_write_access(arm, image_id,
                               "Microsoft.Compute/galleries/images/versions/write")
    version = p["galleryImageVersionName"]
    if naming.parse_version(version) is None:
        raise ArmError(
            400, "InvalidParameter",
            f"Gallery image version name '{version}' must be Major.Minor.Patch (32-bit integers).",
        )
    rid = f"{image_id}/versions/{version}"
    regions = [r["name"] for r in get_path(p, "publishingProfile.targetRegions") or []]
    if regions and p.get("location") not in regions:
        raise ArmError(
            400, "InvalidParameter",
            f"Target regions must include the source region '{p.get('location')}'.",
        )
    for region in get_path(p, "publishingProfile.targetRegions") or []:
        count = region.get("regionalReplicaCount", 1)
        if not 1 <= count <= 100:
            raise ArmError(400, "InvalidParameter", f"Replica count {count} is out of 1-100.")
    tenancy.check_gallery_version(arm, p, at)
    existing = arm.resources.get(rid.lower())
    if existing is not None and existing.deleted_at is None:
        # Versions are immutable but for updatable publishing settings; no recapture. The
        # publication date stays the one Azure recorded when it was created. A Compute
        # PUT to an existing resource is applied as a PATCH: a setting it leaves out keeps
        # what Azure holds (put-calls-create-or-update), one it sends is what Azure holds
        # next, whatever a PATCH in between set (a publication's excludeFromLatest).
        held = get_path(existing.outputs, "publishingProfile") or {}
        sent = {k: v for k, v in (p.get("publishingProfile") or {}).items() if v is not None}
        return Outcome(rid, 0, {**existing.outputs,
                                "publishingProfile": {**held, **sent}})
    duration = arm.latency("galleryImageVersion.capture")
    if len(set(regions) - {p.get("location")}) > 0:
        duration += arm.latency("galleryImageVersion.replicate")
    published = _published(p, timestamp(at + duration))
    if get_path(p, "storageProfile.osDiskImage"):  # imported from VHD blobs
        tenancy.check_version_fits_definition(arm, definition, None)
        luns = tenancy.vhd_source_luns(arm, p, at)
        tenancy.check_data_disk_encryption(p, luns)
        return Outcome(rid, duration, {"dataDiskLuns": luns, **published})
    vm = captured_vm(
        arm, get_path(p, "storageProfile.source.virtualMachineId"), at, "Capturing an image version"
    )
    tenancy.check_version_fits_definition(arm, definition, unwrap(vm.props))
    tenancy.check_data_disk_encryption(p, disk_luns(vm))
    check_version_source(arm, image_id, vm, p)
    return Outcome(rid, duration, {"dataDiskLuns": disk_luns(vm), "sourceVmId": vm.id,
                                   **published})


def _published(p: dict[str, Any], published: str | None) -> dict[str, Any]:
    """The publishing profile as Azure answers it: the one sent, with the read-only
    `publishedDate` of the version's creation (GalleryRP GalleryImageVersionPublishingProfile)."""
    if published is None:
        return {}
    return {"publishingProfile": {**(p.get("publishingProfile") or {}),
                                  "publishedDate": published}}


def get_gallery_image_version(arm: ControlPlane, a: dict[str, Any], at: float) -> dict[str, Any]:
    rg = arm.rg_id(a["resourceGroupName"])
    gallery = arm.provider_id(a["resourceGroupName"], "Microsoft.Compute/galleries",
                              a["galleryName"])
    image = f"{gallery}/images/{a['galleryImageName']}"
    return arm.read(f"{image}/versions/{a['galleryImageVersionName']}",
                    [(rg, "ResourceGroupNotFound"), (gallery, "ParentResourceNotFound"),
                     (image, "ParentResourceNotFound")], at)
