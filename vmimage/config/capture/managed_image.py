"""`capture: managedImage` as the config knows it: what a pipeline that captures to a
managed image must give (no Trusted Launch or confidential VM; an OS when there is no gallery)."""

from __future__ import annotations

from vmimage.config.capture.target import CaptureRules
from vmimage.config.models import PipelineSpec
from vmimage.config.security_type import security_key, wanted_security_type


def _problems(spec: PipelineSpec) -> list[str]:
    found = []
    if spec.gallery is None and spec.managed_image is None:
        found.append("managedImage.name: required when capture is 'managedImage' and there "
                     "is no gallery")
    wanted = wanted_security_type(spec)
    if wanted != "Standard":
        found.append(f"{security_key(spec)}: managed images do not support {wanted} VMs; "
                     "use capture: gallery, or security.type: Standard")
    managed = spec.managed_image
    if managed is not None and spec.gallery is None and managed.os is None:
        found.append("managedImage.os: required when there is no gallery (linux or windows: "
                     "it decides deprovision or sysprep, SSH key or password)")
    if managed is not None and spec.gallery is not None and managed.os not in (
            None, spec.gallery.image.os):
        found.append(f"managedImage.os: {managed.os} differs from gallery.image.os "
                     f"{spec.gallery.image.os}; one build makes both images")
    return found


RULES = CaptureRules(key="managedImage", output="managedImageIds", preference=1,
                     problems=_problems)
