"""CrossGuard entry point: ``pulumi preview --policy-pack policy``.

Wraps the pure rules of :mod:`vmimage.policy.rules` as pulumi-policy policies. What the
engine shows a policy, and how it is adapted into :class:`rules.ResourceView`:

* Resource policies get the resource's *inputs* (``args.props``); stack policies get every
  resource's *outputs*. Both arrive wrapped in pulumi-policy proxies that raise
  ``UnknownValueError`` when an unknown (preview-time) value is read; :func:`plain` copies them
  into dicts/lists that keep the unknown sentinels, and the rules skip what they cannot know.
* ``protect`` is ``args.opts.protect`` (resource) / ``resource.opts.protect`` (stack).
* Secrets: pulumi-policy deserializes secret values to plain values with no trace of their
  secretness (pulumi/pulumi-policy#241, CrossGuard FAQ "secrets are unencrypted in policies").
  The one signal a resource policy has is ``opts.additional_secret_outputs``, so
  ``admin-password-secret`` here passes when the VM lists ``osProfile`` (scale set:
  ``virtualMachineProfile``) in ``additional_secret_outputs``, or when the password is still
  unknown (first preview of a fresh ``random.RandomPassword``). The offline runner also sees
  secret markers and secret inputs and fills ``secret_paths`` itself.
* Numbers arrive as floats (protobuf Struct); the rules accept integral floats.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from pulumi_policy import (
    EnforcementLevel,
    Policy,
    PolicyConfigSchema,
    PolicyPack,
    PolicyResource,
    ReportViolation,
    ResourceValidationArgs,
    ResourceValidationPolicy,
    Secret,
    StackValidationArgs,
    StackValidationPolicy,
)

# The rules are the project's (installed into the pack's virtualenv, ../.venv): the same
# module object whether the engine runs this pack or a test imports it.
from vmimage.policy import rules

PACK_NAME = "vmimage"
ALLOW_PUBLIC_IP = "allowPublicIp"
REQUIRED_TAGS = "requiredTags"

_CONFIG_SCHEMAS: dict[str, PolicyConfigSchema] = {
    "no-public-ip-on-clones": PolicyConfigSchema(
        properties={ALLOW_PUBLIC_IP: {"type": "boolean", "default": False}},
    ),
    "required-tags": PolicyConfigSchema(
        properties={REQUIRED_TAGS: {"type": "array", "items": {"type": "string"},
                                    "default": []}},
    ),
}


def _target(value: Any) -> Any:
    """The raw container behind a pulumi-policy proxy, or ``value`` itself."""
    try:
        return value["__target"]
    except (KeyError, TypeError, IndexError):
        return value


def plain(value: Any) -> Any:
    """Copy pulumi-policy's proxies into plain dicts and lists, keeping unknown sentinels."""
    if isinstance(value, Secret):
        return {rules.SECRET_SIG_KEY: rules.SECRET_SIG, "value": plain(value.value)}
    if isinstance(value, Mapping):
        return {str(k): plain(v) for k, v in _target(value).items()}
    if isinstance(value, Sequence) and not isinstance(value, (str, bytes)):
        return [plain(v) for v in _target(value)]
    return value


def view_from_args(args: ResourceValidationArgs) -> rules.ResourceView:
    return _view(args.urn, args.resource_type, args.name, args.props, args.opts)


def view_from_resource(resource: PolicyResource) -> rules.ResourceView:
    return _view(resource.urn, resource.resource_type, resource.name, resource.props,
                 resource.opts)


def _view(urn: str, resource_type: str, name: str, props: Any, opts: Any) -> rules.ResourceView:
    """Resource and stack policies see the same fields under different objects."""
    return rules.ResourceView(
        urn=urn,
        type=resource_type,
        name=name,
        props=plain(props),
        protect=bool(opts.protect),
        secret_paths=frozenset(opts.additional_secret_outputs or ()),
    )


def options_from_config(config: Mapping[str, Any]) -> rules.Options:
    return rules.Options(allow_public_ip=bool(config.get(ALLOW_PUBLIC_IP, False)),
                         required_tags=tuple(str(t) for t in config.get(REQUIRED_TAGS) or ()))


def _resource_validator(
    rule: rules.Rule,
) -> Callable[[ResourceValidationArgs, ReportViolation], None]:
    def validate(args: ResourceValidationArgs, report_violation: ReportViolation) -> None:
        options = options_from_config(args.get_config())
        for message in rules.run_resource_rule(rule, view_from_args(args), options):
            report_violation(message, None)

    return validate


def _stack_validator(rule: rules.Rule) -> Callable[[StackValidationArgs, ReportViolation], None]:
    def validate(args: StackValidationArgs, report_violation: ReportViolation) -> None:
        options = options_from_config(args.get_config())
        views = [view_from_resource(r) for r in args.resources]
        for urn, message in rules.run_stack_rule(rule, views, options):
            report_violation(message, urn)

    return validate


def build_policies() -> list[Policy]:
    """One pulumi-policy object per entry of :data:`rules.RULES`, in the same order."""
    policies: list[Policy] = []
    for rule in rules.RULES:
        level = EnforcementLevel(rule.enforcement)
        schema = _CONFIG_SCHEMAS.get(rule.name)
        if rule.scope == "resource":
            policies.append(
                ResourceValidationPolicy(
                    name=rule.name,
                    description=rule.description,
                    validate=_resource_validator(rule),
                    enforcement_level=level,
                    config_schema=schema,
                )
            )
        else:
            policies.append(
                StackValidationPolicy(
                    name=rule.name,
                    description=rule.description,
                    validate=_stack_validator(rule),
                    enforcement_level=level,
                    config_schema=schema,
                )
            )
    return policies


def main() -> None:
    # PolicyPack.__init__ starts the analyzer gRPC server and blocks until the CLI stops it.
    PolicyPack(
        name=PACK_NAME,
        policies=build_policies(),
        description="vmimage guard rails for golden-image builds and their clones on Azure.",
        provider="azure",
    )


if __name__ == "__main__":
    main()
