"""The words the program, the policy pack and the offline simulator share: type tokens, tag
keys, run command names and Pulumi's wire markers. Plain strings, no imports: the dynamic
provider host, the policy analyzer and the simulator all read this module, and none of
them may need Pulumi's runtime to do so.

What a resource *is* is said here once and read from its type and tags everywhere else,
never guessed from its logical name or its script text.
"""

from __future__ import annotations

# -- component resources (vmimage:index:<Name>) ---------------------------------------------

IMAGE_PIPELINE = "vmimage:index:ImagePipeline"
IMAGE_BUILD = "vmimage:index:ImageBuild"
NETWORK = "vmimage:index:Network"
BUILD_VM = "vmimage:index:BuildVm"
VALIDATION = "vmimage:index:Validation"
GUEST_SCRIPTS = "vmimage:index:GuestScripts"
IMAGE_GALLERY = "vmimage:index:ImageGallery"
IMAGE_CAPTURE = "vmimage:index:ImageCapture"
CLONE_SET = "vmimage:index:CloneSet"
CLONE_SCALE_SET = "vmimage:index:CloneScaleSet"

# -- dynamic resources (the VM-action provider) ---------------------------------------------

DYNAMIC_PREFIX = "pulumi-python:dynamic/"
#: The Azure provider's tokens: only these resources are calls to Azure.
AZURE_NATIVE_PREFIX = "azure-native:"
GENERALIZE = "pulumi-python:dynamic/vmimage:Generalize"
RESTART = "pulumi-python:dynamic/vmimage:Restart"
RESUME = "pulumi-python:dynamic/vmimage:Resume"
HEALTH_GATE = "pulumi-python:dynamic/vmimage:HealthGate"
PUBLISH = "pulumi-python:dynamic/vmimage:Publish"
RETIRE_BATCH = "pulumi-python:dynamic/vmimage:RetireBatch"
EXPORT_VHD = "pulumi-python:dynamic/vmimage:ExportVhd"
#: The input in which a dynamic resource carries its pickled provider.
DYNAMIC_PROVIDER_KEY = "__provider"

# -- provider resources the program registers -----------------------------------------------

RESOURCE_GROUP = "azure-native:resources:ResourceGroup"
VIRTUAL_NETWORK = "azure-native:network:VirtualNetwork"
SUBNET = "azure-native:network:Subnet"
NSG = "azure-native:network:NetworkSecurityGroup"
SECURITY_RULE = "azure-native:network:SecurityRule"
PUBLIC_IP = "azure-native:network:PublicIPAddress"
NIC = "azure-native:network:NetworkInterface"
VIRTUAL_MACHINE = "azure-native:compute:VirtualMachine"
SCALE_SET = "azure-native:compute:VirtualMachineScaleSet"
RUN_COMMAND = "azure-native:compute:VirtualMachineRunCommandByVirtualMachine"
GALLERY = "azure-native:compute:Gallery"
GALLERY_IMAGE = "azure-native:compute:GalleryImage"
#: An explicit azure-native provider (writes to an existing definition's subscription).
AZURE_NATIVE_PROVIDER = "pulumi:providers:azure-native"
GALLERY_IMAGE_VERSION = "azure-native:compute:GalleryImageVersion"
MANAGED_IMAGE = "azure-native:compute:Image"
RANDOM_PASSWORD = "random:index/randomPassword:RandomPassword"
STACK = "pulumi:pulumi:Stack"

#: What a capture registers: the image clones boot from.
CAPTURED_IMAGE_TYPES = (GALLERY_IMAGE_VERSION, MANAGED_IMAGE)

# -- invokes --------------------------------------------------------------------------------

GET_GALLERY_IMAGE_VERSION = "azure-native:compute:getGalleryImageVersion"
GET_MANAGED_IMAGE = "azure-native:compute:getImage"

# -- tags the program puts on Azure resources -----------------------------------------------

#: On VMs, NICs and scale sets: `build` or `clone`.
ROLE_TAG = "vmimage-role"
#: The role of the NAT gateway and its public IP: the subnet's way out, never a way in.
EGRESS_ROLE = "egress"
#: On VMs and scale sets: the image version they run or build.
VERSION_TAG = "vmimage-version"
#: On clone VMs and scale sets: their `clones[].name`.
GROUP_TAG = "vmimage-clone-group"
#: On clone VMs and scale sets with userData or customData: the rendered text's digests
#: (`userData=<12 hex> customData=<12 hex>`), so a plan shows what changed, never the text.
BOOTSTRAP_TAG = "vmimage-bootstrap"
#: On run commands: the kind of step (`customize`, or `deprovision` for legacy builds).
STEP_TAG = "vmimage-step"
#: On a step's run commands: its kind (the config key: `template`, `ansible`, ...; or
#: FORMAT_DISKS_KIND) and its index in its list: plans read these, never the names.
STEP_KIND_TAG = "vmimage-step-kind"
STEP_INDEX_TAG = "vmimage-step-index"
#: The kind of the built-in step that formats a build's data disks.
FORMAT_DISKS_KIND = "formatDisks"
#: On captured images: the fingerprint of the build they were captured from.
FINGERPRINT_TAG = "vmimage-build"
#: On captured images: what the build booted, resolved (a marketplace image's exact
#: version, the parent version, a VHD's digest): what `vmimage outdated` compares.
SOURCE_TAG = "vmimage-source"
#: On captured images: the git commit of the config that built them (when known).
COMMIT_TAG = "vmimage-commit"
#: On captured images: the vmimage release that built them.
RELEASE_TAG = "vmimage-release"
#: On a revoked gallery version (`builds[].revoked`): why it must no longer be used.
REVOKED_TAG = "vmimage-revoked"
#: On a gallery version past `gallery.retention.keep`: `keep N`. It is out of latest and no
#: longer protected, so removing its build deletes it (vmimage/config/retention.py).
RETENTION_TAG = "vmimage-retention"
#: The provenance tags, in the order they are recorded.
PROVENANCE_TAGS = (SOURCE_TAG, COMMIT_TAG, RELEASE_TAG)

STEP_CUSTOMIZE = "customize"
STEP_VALIDATE = "validate"
STEP_DEPROVISION = "deprovision"

# -- run commands the VM-action provider sends ------------------------------------------------

SEAL_COMMAND = "vmimage-seal"
SEAL_CHECKS_COMMAND = "vmimage-seal-checks"

# -- Pulumi's wire format (pulumi.runtime.rpc; the same values in pulumi_policy) --------------

SECRET_SIG_KEY = "4dabf18193072939515e22adb298388d"
SECRET_SIG = "1b47061264138c4ac30d75fd1eb44270"
#: The same key with another value marks a resource reference (Pulumi's
#: sdk/go/common/resource/properties.go `ResourceReferenceSig`), not a secret.
RESOURCE_REFERENCE_SIG = "5cf8f73096256a8f31e491e813e4eb8e"
REDACTED_SECRET = "[secret]"
UNKNOWN_STRING = "04da6b54-80e4-46f7-96ec-b56ff0331ba9"
#: Every unknown sentinel, one per kind of value.
UNKNOWN_VALUES = frozenset({
    "1c4a061d-8072-4f0a-a4cb-0ff528b18fe7",  # boolean
    "3eeb2bf0-c639-47a8-9e75-3b44932eb421",  # number
    UNKNOWN_STRING,
    "6a19a0b0-7e62-4c92-b797-7f8e31da9cc2",  # array
    "030794c1-ac77-496b-92df-f27374a8bd58",  # asset
    "e48ece36-62e2-4504-bad9-02848725956a",  # archive
    "dd056dcd-154b-4c76-9bd3-c8f88648b5ff",  # object
})

# -- what the Windows seal prints once sysprep has sealed the image ---------------------------

#: templates/windows/sysprep.ps1.j2 prints it; the seal's confirmation looks for it.
SEALED_MARKER = "ImageState=IMAGE_STATE_GENERALIZE_RESEAL_TO_OOBE"

# -- what a step prints when the guest needs a restart (templates/windows/install-features) --

#: A script that may need a restart prints this line when it does; a template holding it
#: is followed by a Restart action that restarts only if the line is in its output.
RESTART_MARKER = "vmimage: restart needed"

# -- tenancy (#16): what the program refers to or creates around an existing tenant ---------

NAT_GATEWAY = "azure-native:network:NatGateway"
VM_EXTENSION = "azure-native:compute:VirtualMachineExtension"
USER_ASSIGNED_IDENTITY = "azure-native:managedidentity:UserAssignedIdentity"
DISK_ENCRYPTION_SET = "azure-native:compute:DiskEncryptionSet"
STORAGE_ACCOUNT = "azure-native:storage:StorageAccount"
GET_SUBNET = "azure-native:network:getSubnet"
GET_CLIENT_CONFIG = "azure-native:authorization:getClientConfig"
GET_VIRTUAL_MACHINE = "azure-native:compute:getVirtualMachine"
GET_RUN_COMMAND = "azure-native:compute:getVirtualMachineRunCommandByVirtualMachine"
