"""The whole pipeline: resource group, network and gallery; one ImageBuild per build
(build VM, customize, generalize, capture); then the clone groups.

Every edge that can be a data dependency is one: capture reads the Generalize step's
`vm_id`, clones read the capture's id, a child build boots from its parent's version id.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import pulumi
import pulumi_random as random
from pulumi_azure_native import resources

from vmimage.azure import naming
from vmimage.azure.auth import AuthSettings
from vmimage.capture import TARGETS
from vmimage.components.clones import CloneGroupArgs, CloneSet
from vmimage.components.image import ImageGallery, ImageGalleryArgs
from vmimage.components.image_build import ImageBuild, ImageBuildArgs
from vmimage.components.network import Network, NetworkArgs
from vmimage.components.scale_set import CloneScaleSet
from vmimage.config.fingerprint import Capture
from vmimage.config.models import BuildSpec, CloneSpec, PipelineSpec
from vmimage.config.retention import retained_out, retire
from vmimage.parts.type_aliases import drop_type_aliases
from vmimage.parts.user_tags import user_tags
from vmimage.parts.vm_profile import AdminCredentials
from vmimage.vocabulary import IMAGE_PIPELINE


@dataclass(frozen=True)
class ImagePipelineArgs:
    spec: PipelineSpec
    """The validated pipeline spec."""
    captures: Mapping[str, Capture] = field(default_factory=dict)
    """Which builds Azure already holds an image of (vmimage/stack/captures.py): their
    build resources are registered frozen."""
    evictions: Mapping[str, str] = field(default_factory=dict)
    """Spot builds whose VM Azure evicted (vmimage/stack/evictions.py): resumed first."""
    admin_password: pulumi.Input[str] | None = None
    """Windows admin password (a secret); generated when not given."""
    environment: str | None = None
    """azure-native:environment, for the Generalize step's SDK client."""
    keep_type_aliases: bool = False
    """Keep azure-native's type aliases (vmimage/parts/type_aliases.py)."""
    deployment_subscription: str | None = None
    """The subscription the stack deploys into, when known: versions of an existing
    definition in another one go through a provider for that subscription."""
    login: AuthSettings = field(default_factory=lambda: AuthSettings({}))
    """The stack's azure-native login, which that provider signs in with."""


class ImagePipeline(pulumi.ComponentResource):
    image_ids: dict[str, dict[str, pulumi.Output[str]]]
    """Per capture target's output name (imageVersionIds, managedImageIds), each
    version's image id; every target has its entry, empty when not captured there."""
    build_vm_states: dict[str, pulumi.Output[dict[str, str]]]
    step_digests: dict[str, pulumi.Output[list[str | None]] | None]
    """Per version, each customize step's digest (None: no build VM, no run commands)."""
    clones: dict[str, pulumi.Output[dict[str, Any]]]
    """Per clone group, one shape whatever its kind (`clone_group_output`)."""
    generated_password: pulumi.Output[str] | None
    gallery_image_id: pulumi.Output[str] | None

    def __init__(
        self, name: str, args: ImagePipelineArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        transformations: list[pulumi.ResourceTransformation] = []
        if not args.keep_type_aliases:
            # Every resource below: without the aliases it never needs, at a fraction of
            # the SDK's cost (bench/README.md, B1).
            transformations.append(drop_type_aliases)
        if args.spec.tags:
            transformations.append(user_tags(args.spec.tags))
        if transformations:
            opts = pulumi.ResourceOptions.merge(
                opts, pulumi.ResourceOptions(transformations=transformations))
        super().__init__(IMAGE_PIPELINE, name, None, opts)
        # Versions past retention's keep that Azure holds: end of life set, build VM retired.
        spec = retire(args.spec, args.captures)
        past_keep = retained_out(args.spec, args.captures)
        child = pulumi.ResourceOptions(parent=self)
        group = resources.ResourceGroup(
            naming.child_name(name, "rg"),
            resource_group_name=spec.resource_group,
            location=spec.location,
            opts=child,
        )
        rg_name = group.name
        # An existing subnet is the user's: nothing of its network is created.
        subnet_id: pulumi.Input[str] = spec.network.subnet_id or Network(
            naming.child_name(name, "network"),
            NetworkArgs(resource_group_name=rg_name, location=spec.location, spec=spec.network,
                        image_name=spec.image_name),
            opts=child,
        ).subnet_id
        gallery = (
            ImageGallery(
                naming.child_name(name, "gallery"),
                ImageGalleryArgs(spec=spec, resource_group_name=rg_name,
                                 deployment_subscription=args.deployment_subscription,
                                 login=args.login),
                opts=child,
            )
            if spec.uses_gallery
            else None
        )
        self.generated_password = None
        admin = AdminCredentials(
            username=spec.admin.username,
            ssh_public_key=spec.admin.ssh_public_key,
            password=self._password(name, spec, args.admin_password),
        )

        builds: dict[str, ImageBuild] = {}
        for build in build_order(spec):  # oldest first: a child boots from its parent
            parent = builds[build.from_.version].image_id if build.from_.version else None
            builds[build.version] = ImageBuild(
                naming.child_name(name, f"v{naming.version_slug(build.version)}"),
                ImageBuildArgs(
                    spec=spec, build=build, resource_group_name=rg_name,
                    resource_group_id=group.id, subnet_id=subnet_id, admin=admin,
                    gallery=gallery, parent_image_id=parent,
                    capture=args.captures.get(build.version), environment=args.environment,
                    evicted_at=args.evictions.get(build.version),
                    retention_keep=past_keep.get(build.version),
                ),
                opts=child,
            )
        captures = {version: b.image for version, b in builds.items()}
        self.build_vm_states = {version: b.vm_state for version, b in builds.items()}
        self.step_digests = {version: b.step_digests for version, b in builds.items()}

        self.image_ids = {
            target.output: {v: c.image_ids[target.key] for v, c in captures.items()
                            if target.key in c.image_ids}
            for target in TARGETS.values()
        }
        self.gallery_image_id = gallery.image_id if gallery else None
        self.clones = {}
        for clone in spec.clones:
            version = spec.resolve_version(clone.version)
            assert version is not None  # the spec guarantees it
            group_args = CloneGroupArgs(
                spec=spec, clone=clone, version=version,
                image_id=builds[version].image_id,
                resource_group_name=rg_name, subnet_id=subnet_id, admin=admin,
            )
            group_name = naming.child_name(name, f"clones-{clone.name}")
            if clone.kind == "scaleSet":
                # One scale set, however many instances: registrations do not grow with count.
                scale_set = CloneScaleSet(group_name, group_args, opts=child)
                self.clones[clone.name] = clone_group_output(
                    clone, version, scale_set=scale_set.scale_set_name, vms=[])
            else:
                members = CloneSet(group_name, group_args, opts=child).members
                self.clones[clone.name] = clone_group_output(clone, version, vms=members)
        self.register_outputs(
            {
                **self.image_ids,
                "galleryImageId": self.gallery_image_id,
                "buildVmStates": self.build_vm_states,
                "clones": self.clones,
            }
        )

    def _password(
        self, name: str, spec: PipelineSpec, configured: pulumi.Input[str] | None
    ) -> pulumi.Input[str] | None:
        if not spec.windows:
            return None  # Linux: SSH keys only, password authentication off
        if configured is not None:
            return pulumi.Output.secret(configured)
        generated = random.RandomPassword(
            naming.child_name(name, "admin-password"),
            length=24,
            special=True,
            min_lower=1,
            min_upper=1,
            min_numeric=1,
            min_special=1,
            # Characters Windows and the Azure API both accept in a password.
            override_special="!#%*()-_=+[]{}:?",
            opts=pulumi.ResourceOptions(parent=self),
        )
        # Secret here, not only by the engine's additionalSecretOutputs: an engine or mock
        # that does not honour them must still never see the password in plain text.
        self.generated_password = pulumi.Output.secret(generated.result)
        return self.generated_password


def clone_group_output(
    clone: CloneSpec, version: str, *, vms: pulumi.Input[list[dict[str, str | None]]],
    scale_set: str | None = None,
) -> pulumi.Output[dict[str, Any]]:
    """A clone group as the `clones` stack output shows it, whatever its kind: its kind,
    the version it runs, how many VMs, the scale set's name (kind scaleSet), and each VM's
    name and private IP (kind vm; a scale set's instances are Azure's to name)."""
    return pulumi.Output.from_input({
        "kind": clone.kind, "version": version, "count": clone.count,
        "scaleSet": scale_set, "vms": vms,
    })


def build_order(spec: PipelineSpec) -> list[BuildSpec]:
    return sorted(spec.builds, key=lambda b: naming.version_key(b.version))

