"""Which VM security types an image definition's `SecurityType` feature allows: for the
VMs made from its versions and for the source VM a version is captured from.

learn.microsoft.com/azure/virtual-machines/trusted-launch-portal ("Trusted launch VM
supported images") and the compute REST spec's `GalleryImageFeature`: TrustedLaunch
definitions take only Trusted Launch VMs, TrustedLaunchSupported both Standard and Trusted
Launch, the ConfidentialVM pair likewise, and no feature at all Standard VMs only
(docs/azure-behaviours.md, "Publishing into an existing definition").
"""

from __future__ import annotations

STANDARD, TRUSTED_LAUNCH, CONFIDENTIAL_VM = "Standard", "TrustedLaunch", "ConfidentialVM"

#: By the feature's value, lower-case ('' : the definition has none).
ALLOWED: dict[str, frozenset[str]] = {
    "": frozenset({STANDARD}),
    "trustedlaunchsupported": frozenset({STANDARD, TRUSTED_LAUNCH}),
    "trustedlaunch": frozenset({TRUSTED_LAUNCH}),
    "confidentialvmsupported": frozenset({STANDARD, CONFIDENTIAL_VM}),
    "confidentialvm": frozenset({CONFIDENTIAL_VM}),
    "trustedlaunchandconfidentialvmsupported": frozenset(
        {STANDARD, TRUSTED_LAUNCH, CONFIDENTIAL_VM}),
}


def allows(feature: str, security_type: str) -> bool:
    """Whether a definition whose SecurityType is `feature` takes `security_type` VMs
    (an unknown feature value allows nothing: it is not guessed at)."""
    return security_type in ALLOWED.get(feature.lower(), frozenset())
