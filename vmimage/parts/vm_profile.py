"""The parts of a VM definition that build VMs and clones share: OS profile, security,
diagnostics, tags. One place, so a secure default cannot differ between the two."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pulumi
from pulumi_azure_native import compute

from vmimage.azure import naming
from vmimage.config.models import CloneOsDiskSpec, OsDiskSpec, PipelineSpec
from vmimage.config.security_type import encryption_type, wanted_security_type
from vmimage.parts.disks import clone_data_disks, disk_encryption_set
from vmimage.vocabulary import ROLE_TAG, VERSION_TAG

SSH_KEY_PATH = "/home/{user}/.ssh/authorized_keys"


@dataclass(frozen=True)
class AdminCredentials:
    """Who logs in: the SSH key (Linux) or the password (Windows, always a secret)."""

    username: str
    ssh_public_key: str | None
    password: pulumi.Input[str] | None


def guest_configuration(
    spec: PipelineSpec, admin: AdminCredentials
) -> tuple[compute.LinuxConfigurationArgs | None, compute.WindowsConfigurationArgs | None]:
    """(linux, windows) guest settings, one of them None; VMs and scale sets share them."""
    if spec.windows:
        return None, compute.WindowsConfigurationArgs(
            provision_vm_agent=True,  # run commands need the guest agent
            enable_automatic_updates=True,
        )
    return compute.LinuxConfigurationArgs(
        disable_password_authentication=True,
        provision_vm_agent=True,
        ssh=compute.SshConfigurationArgs(
            public_keys=[
                compute.SshPublicKeyArgs(
                    path=SSH_KEY_PATH.format(user=admin.username),
                    key_data=admin.ssh_public_key,
                )
            ]
        ),
    ), None


def os_profile(
    spec: PipelineSpec, vm_name: str, admin: AdminCredentials,
    custom_data: pulumi.Input[str] | None = None,
) -> compute.OSProfileArgs:
    linux, windows = guest_configuration(spec, admin)
    return compute.OSProfileArgs(
        computer_name=naming.computer_name(vm_name, windows=spec.windows),
        admin_username=admin.username,
        admin_password=admin.password if spec.windows else None,
        custom_data=custom_data,
        linux_configuration=linux,
        windows_configuration=windows,
    )


def scale_set_os_profile(
    spec: PipelineSpec, computer_name_prefix: str, admin: AdminCredentials,
    custom_data: pulumi.Input[str] | None = None,
) -> compute.VirtualMachineScaleSetOSProfileArgs:
    linux, windows = guest_configuration(spec, admin)
    return compute.VirtualMachineScaleSetOSProfileArgs(
        computer_name_prefix=computer_name_prefix,
        admin_username=admin.username,
        admin_password=admin.password if spec.windows else None,
        custom_data=custom_data,
        linux_configuration=linux,
        windows_configuration=windows,
    )


def security_profile(spec: PipelineSpec) -> compute.SecurityProfileArgs | None:
    """The stack's security type on a VM or scale set VM profile. Standard is no
    securityType at all: ARM takes an absent one as Standard, while an explicit
    "Standard" is refused where the subscription lacks a feature flag."""
    wanted = wanted_security_type(spec)
    if wanted == "Standard" and not spec.security.encryption_at_host:
        return None
    return compute.SecurityProfileArgs(
        encryption_at_host=spec.security.encryption_at_host or None,
        security_type=None if wanted == "Standard" else compute.SecurityTypes(wanted),
        # vTPM always: a confidential VM requires it, and Trusted Launch is measured by it.
        uefi_settings=None if wanted == "Standard" else compute.UefiSettingsArgs(
            secure_boot_enabled=spec.security.secure_boot, v_tpm_enabled=True),
    )


def os_disk_security(spec: PipelineSpec) -> compute.VMDiskSecurityProfileArgs | None:
    """A confidential VM's OS disk encryption (`managedDisk.securityProfile`); None for
    the others, whose OS disks have none."""
    encryption = encryption_type(spec)
    if encryption is None:
        return None
    return compute.VMDiskSecurityProfileArgs(
        security_encryption_type=compute.SecurityEncryptionTypes(encryption))


def diagnostics_profile(spec: PipelineSpec) -> compute.DiagnosticsProfileArgs | None:
    # Managed boot diagnostics (no storage URI): the serial log is the first place to look
    # when sysprep or cloud-init hangs, and costs no storage account.
    if not spec.security.boot_diagnostics:
        return None
    return compute.DiagnosticsProfileArgs(
        boot_diagnostics=compute.BootDiagnosticsArgs(enabled=True)
    )


# Premium OS disks, ReadWrite host caching (the OS disk's usual setting), deleted with
# their VM: a deleted build VM, clone or scale-set instance leaves nothing billed.
OS_DISK_SKU = compute.StorageAccountTypes.PREMIUM_LRS


def _os_disk_fields(spec: PipelineSpec, disk: OsDiskSpec | None,
                    ) -> tuple[dict[str, Any], bool]:
    """What a VM's and a scale set's OS disk say alike (their Args classes differ). An
    ephemeral disk lives on the host: read-only host caching, no managed disk SKU or key."""
    ephemeral = isinstance(disk, CloneOsDiskSpec) and disk.ephemeral
    return dict(
        create_option=compute.DiskCreateOptionTypes.FROM_IMAGE,
        caching=compute.CachingTypes.READ_ONLY if ephemeral else compute.CachingTypes.READ_WRITE,
        delete_option=compute.DiskDeleteOptionTypes.DELETE,
        disk_size_gb=disk.size_gb if disk else None,  # None: the image's size
        diff_disk_settings=compute.DiffDiskSettingsArgs(option=compute.DiffDiskOptions.LOCAL)
        if ephemeral else None,
    ), ephemeral


def _managed_os_disk_fields(spec: PipelineSpec, disk: OsDiskSpec | None) -> dict[str, Any]:
    """A managed OS disk's settings, the same for a VM and a scale set (their SDK types
    differ, their fields do not)."""
    return {"storage_account_type": compute.StorageAccountTypes(disk.sku) if disk
            else OS_DISK_SKU,
            "disk_encryption_set": disk_encryption_set(spec),
            "security_profile": os_disk_security(spec)}


def os_disk(spec: PipelineSpec, disk: OsDiskSpec | None = None) -> compute.OSDiskArgs:
    fields, ephemeral = _os_disk_fields(spec, disk)
    return compute.OSDiskArgs(
        **fields,
        managed_disk=None if ephemeral else compute.ManagedDiskParametersArgs(
            **_managed_os_disk_fields(spec, disk)),
    )


def scale_set_os_disk(spec: PipelineSpec, disk: OsDiskSpec | None = None,
                      ) -> compute.VirtualMachineScaleSetOSDiskArgs:
    fields, ephemeral = _os_disk_fields(spec, disk)
    return compute.VirtualMachineScaleSetOSDiskArgs(
        **fields,
        managed_disk=None if ephemeral else compute.VirtualMachineScaleSetManagedDiskParametersArgs(
            **_managed_os_disk_fields(spec, disk)),
    )


def from_image_inputs(spec: PipelineSpec, *, vm_name: str, resource_group_name: pulumi.Input[str],
                      location: str, size: str | None, version: str,
                      image_id: pulumi.Input[str], os_disk_spec: OsDiskSpec | None,
                      admin: AdminCredentials, nic_id: pulumi.Input[str],
                      tags: dict[str, str], license_type: str | None = None,
                      user_data: pulumi.Input[str] | None = None,
                      custom_data: pulumi.Input[str] | None = None) -> dict[str, Any]:
    """The inputs of a VM booted from one of this pipeline's images (a clone, a
    validation VM): the image's disks by LUN, its plan, the pipeline's security; a clone
    group's bootstrap data (secret base64, vmimage/parts/bootstrap.py)."""
    return dict(
        vm_name=vm_name,
        resource_group_name=resource_group_name,
        location=location,
        hardware_profile=compute.HardwareProfileArgs(vm_size=size),
        plan=plan(spec, version),
        storage_profile=compute.StorageProfileArgs(
            image_reference=compute.ImageReferenceArgs(id=image_id),
            os_disk=os_disk(spec, os_disk_spec),
            data_disks=clone_data_disks(spec, version),
        ),
        os_profile=os_profile(spec, vm_name, admin, custom_data),
        network_profile=network_profile(nic_id),
        security_profile=security_profile(spec),
        diagnostics_profile=diagnostics_profile(spec),
        **licensed(license_type),
        # Only when set: an absent key keeps existing clones' inputs as they were.
        **({"user_data": user_data} if user_data is not None else {}),
        tags=tags,
    )


def licensed(license_type: str | None) -> dict[str, str]:
    """`license_type` for a VM's or a scale set VM profile's Args (Azure Hybrid Benefit),
    only when the config sets one: an absent key keeps the inputs (and a frozen build's
    ignore list) as they were before the key existed."""
    return {"license_type": license_type} if license_type else {}


def plan(spec: PipelineSpec, version: str) -> compute.PlanArgs | None:
    """The marketplace purchase plan a VM from this version's lineage must name."""
    purchase = spec.purchase_plan(version)
    if purchase is None:
        return None
    return compute.PlanArgs(name=purchase.name, product=purchase.product,
                            publisher=purchase.publisher)


def tags(role: str, version: str, **extra: str) -> dict[str, str]:
    return {ROLE_TAG: role, VERSION_TAG: version, **extra}


def network_profile(
    nic_id: pulumi.Input[str], *, delete_with_vm: bool = True
) -> compute.NetworkProfileArgs:
    """`delete_with_vm`: the NIC goes with its VM, like the disks, so a deleted clone leaves
    no orphan. Not for a VM replaced delete-before-replace under its own name (the build
    VM): Azure would delete the NIC with the old VM and the new one would find it gone."""
    return compute.NetworkProfileArgs(
        network_interfaces=[
            compute.NetworkInterfaceReferenceArgs(
                id=nic_id, primary=True,
                delete_option=compute.DeleteOptions.DELETE if delete_with_vm
                else compute.DeleteOptions.DETACH,
            )
        ]
    )
