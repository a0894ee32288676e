"""What Azure says of VM security types (Standard, TrustedLaunch, ConfidentialVM): the
image definition's SecurityType feature each needs, the image version's OS-disk
encryption a confidential one carries, which VM security types a definition's feature
lets boot, and which sizes run each (read from the resource SKUs' capabilities). Pure and
free of Pulumi: the config rules, the preflight, the simulator and the policy pack share
it. Sources in docs/azure-behaviours.md ("Security types")."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Final

STANDARD: Final = "Standard"
TRUSTED_LAUNCH: Final = "TrustedLaunch"
CONFIDENTIAL_VM: Final = "ConfidentialVM"

#: The name of the image definition feature that says which security types it boots.
SECURITY_TYPE_FEATURE = "SecurityType"

#: The image definition's `SecurityType` feature a stack of that security type registers.
#: TrustedLaunchSupported (not TrustedLaunch): its versions boot Trusted Launch VMs and
#: Standard Gen2 ones, so a consumer who cannot run Trusted Launch is not locked out.
#: ConfidentialVM: the versions are captured from a confidential build VM and carry its
#: confidential OS-disk encryption, which only confidential VMs boot.
DEFINITION_FEATURE: dict[str, str | None] = {
    STANDARD: None,
    TRUSTED_LAUNCH: "TrustedLaunchSupported",
    CONFIDENTIAL_VM: "ConfidentialVM",
}

#: A definition's SecurityType feature -> the VM security types its versions boot.
#: (No feature: Standard VMs only, as for definitions made before the feature existed.)
BOOTS: dict[str, frozenset[str]] = {
    "": frozenset({STANDARD}),
    "trustedlaunchsupported": frozenset({STANDARD, TRUSTED_LAUNCH}),
    "trustedlaunch": frozenset({TRUSTED_LAUNCH}),
    "confidentialvmsupported": frozenset({STANDARD, CONFIDENTIAL_VM}),
    "confidentialvm": frozenset({CONFIDENTIAL_VM}),
    "trustedlaunchandconfidentialvmsupported": frozenset(
        {STANDARD, TRUSTED_LAUNCH, CONFIDENTIAL_VM}),
}

#: A confidential build VM's OS-disk `securityEncryptionType` -> the image version's
#: `confidentialVMEncryptionType` (platform-managed keys) that carries it.
IMAGE_ENCRYPTION: dict[str, str] = {
    "VMGuestStateOnly": "EncryptedVMGuestStateOnlyWithPmk",
    "DiskWithVMGuestState": "EncryptedWithPmk",
}

#: Resource SKU capability names (`resourceSkus` list, `capabilities[]`).
HYPER_V_GENERATIONS = "HyperVGenerations"
TRUSTED_LAUNCH_DISABLED = "TrustedLaunchDisabled"
CONFIDENTIAL_COMPUTING_TYPE = "ConfidentialComputingType"
#: The capabilities a preflight keeps of each size (beside vCPUs and family).
SECURITY_CAPABILITIES = (HYPER_V_GENERATIONS, TRUSTED_LAUNCH_DISABLED,
                         CONFIDENTIAL_COMPUTING_TYPE)


def boots(feature: str | None, security_type: str) -> bool:
    """Whether a version of a definition with that SecurityType feature boots a VM of
    that security type (an unknown feature value: judged by Azure, not here)."""
    allowed = BOOTS.get((feature or "").lower())
    return allowed is None or security_type in allowed


def allows(feature: str | None, security_type: str) -> bool:
    """The same, strictly: an existing definition the stack publishes into must be known
    to take its VMs (an unknown feature value allows nothing: it is not guessed at)."""
    return security_type in BOOTS.get((feature or "").lower(), frozenset())


def size_problem(security_type: str, size: str, capabilities: Mapping[str, str]) -> str | None:
    """Why a VM size cannot run that security type, from its resource SKU capabilities,
    or None (also when the SKU list says nothing either way)."""
    if security_type == STANDARD:
        return None
    generations = capabilities.get(HYPER_V_GENERATIONS)
    if generations is not None and "V2" not in generations.upper().split(","):
        return f"{size} runs generation {generations} only; {security_type} needs V2"
    if security_type == TRUSTED_LAUNCH and \
            capabilities.get(TRUSTED_LAUNCH_DISABLED, "").lower() == "true":
        return f"{size} does not support Trusted Launch (its SKU has TrustedLaunchDisabled)"
    if security_type == CONFIDENTIAL_VM and not capabilities.get(CONFIDENTIAL_COMPUTING_TYPE):
        return (f"{size} is not a confidential VM size (its SKU has no "
                "ConfidentialComputingType): use one such as Standard_DC2as_v5 or "
                "Standard_EC2as_v5")
    return None
