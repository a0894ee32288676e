"""The Application Health extension: the health signal of a rollout, for clone VMs
(a `HealthGate` per clone waits for it, vmimage/providers/health_gate.py) and for scale
sets (their rolling upgrade policy reads it). One definition of the probe for both.

Without `rollout.health`, a scale set still needs a signal for its rolling upgrades
(Flexible orchestration takes only this extension): the guest answering on its admin
port. A web tier should probe what it serves instead (protocol http/https, a path).
"""

from __future__ import annotations

from typing import Any

from vmimage.config.models import CloneSpec, PipelineSpec

PUBLISHER = "Microsoft.ManagedServices"
EXTENSION_VERSION = "2.0"
ADMIN_PORT = {"linux": 22, "windows": 3389}


def extension_type(spec: PipelineSpec) -> str:
    return "ApplicationHealthWindows" if spec.windows else "ApplicationHealthLinux"


def probe_settings(spec: PipelineSpec, clone: CloneSpec) -> dict[str, Any]:
    """The extension's public settings: the configured probe, or TCP on the admin port."""
    probe = clone.rollout.health
    if probe is None:
        return {"protocol": "tcp", "port": ADMIN_PORT[spec.os]}
    settings: dict[str, Any] = {"protocol": probe.protocol, "port": probe.port}
    if probe.path is not None:
        settings["requestPath"] = probe.path
    return settings
