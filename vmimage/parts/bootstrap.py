"""A clone group's userData and customData as the VM and scale set Args take them: base64
of the rendered text (vmimage/config/bootstrap.py), always a Pulumi secret, so neither the
state, nor a report, nor a plan holds the content (it may carry tokens or join keys)."""

from __future__ import annotations

from dataclasses import dataclass, field

import pulumi

from vmimage.config import bootstrap
from vmimage.config.models import CloneSpec
from vmimage.vocabulary import BOOTSTRAP_TAG

#: The outputs that echo the content back (customData inside osProfile): secret in state.
USER_DATA_OUTPUT = "userData"
OS_PROFILE_OUTPUT = "osProfile"
VM_PROFILE_OUTPUT = "virtualMachineProfile"


def digest_tag(clone: CloneSpec, os: str) -> dict[str, str]:
    """BOOTSTRAP_TAG for the group's VMs or scale set: the digests only (none when unset)."""
    keyed = (("userData", clone.user_data), ("customData", clone.custom_data))
    shown = " ".join(f"{key}={bootstrap.digest(data, os)}" for key, data in keyed
                     if data is not None)
    return {BOOTSTRAP_TAG: shown} if shown else {}


@dataclass(frozen=True)
class Bootstrap:
    """What one clone group's VMs (or its scale set's VM profile) receive; None: not set."""

    user_data: pulumi.Output[str] | None = None
    custom_data: pulumi.Output[str] | None = None
    tag: dict[str, str] = field(default_factory=dict)
    """digest_tag: what the VMs or the scale set carry beside their other tags."""

    def vm_secret_outputs(self, password: bool) -> list[str] | None:
        """The VM outputs to keep secret whole in state: osProfile when it holds the
        password or customData, userData when set."""
        names = [OS_PROFILE_OUTPUT] if password or self.custom_data is not None else []
        return names + ([USER_DATA_OUTPUT] if self.user_data is not None else []) or None

    @property
    def any(self) -> bool:
        return self.user_data is not None or self.custom_data is not None


def _secret(data: bootstrap.BootstrapData | None, os: str) -> pulumi.Output[str] | None:
    return None if data is None else pulumi.Output.secret(bootstrap.encoded(data, os))


def of_clone(clone: CloneSpec, os: str) -> Bootstrap:
    """The group's data, encoded once for all its VMs (validation rendered it already)."""
    return Bootstrap(user_data=_secret(clone.user_data, os),
                     custom_data=_secret(clone.custom_data, os), tag=digest_tag(clone, os))
