"""The real network path: ComputeManagementClient with its default requests transport,
TLS verified against a throwaway CA (trustme), talking to a local HTTPS ARM
(tests/fake_azure.py). Proves URLs, headers, run commands, LRO polling and retries
survive real HTTP."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from azure.core.exceptions import ServiceRequestError
from azure.mgmt.compute import ComputeManagementClient
from fake_azure import Endpoints, fake_azure
from vm_world import LINUX_SEAL_SCRIPT

from offline.arm import SUBSCRIPTION_ID
from offline.arm_transport import StaticTokenCredential
from vmimage.providers.generalize import generalize_vm
from vmimage.providers.guest_seal import Seal

RG = "rg-build"


@pytest.fixture
def https_arm(tmp_path: Path) -> Iterator[Endpoints]:
    with fake_azure(tmp_path) as endpoints:
        endpoints.azure.require_issued_tokens = False
        yield endpoints


def _client(endpoints: Endpoints, verify: str | bool, **kwargs: Any) -> Any:
    return ComputeManagementClient(
        StaticTokenCredential("tls-token"), SUBSCRIPTION_ID,
        base_url=endpoints.origin, connection_verify=verify, connection_timeout=5,
        read_timeout=5, polling_interval=0, retry_backoff_factor=0, **kwargs)


def test_generalize_over_real_https(https_arm):
    world, arm = https_arm.azure.world, https_arm.azure.arm
    world.add_vm("vm-https", rg=RG)
    arm.inject("POST", "/deallocate", 503)  # one transient failure on the wire too
    client = _client(https_arm, str(https_arm.ca_bundle))

    out = generalize_vm(client, RG, "vm-https", seal=Seal("linux", LINUX_SEAL_SCRIPT),
                        location="westeurope", sleep=lambda s: None)

    assert out["powerState"] == "deallocated" and out["osState"] == "generalized"
    assert arm.applied == {"deallocate": 1, "generalize": 1}
    assert arm.posts == {"deallocate": 2, "generalize": 1}
    # the seal went as a managed run command, its script in the body
    sent = world.commands("vm-https", RG)["vmimage-seal"]
    assert sent["source"]["script"] == LINUX_SEAL_SCRIPT
    # LRO polling followed the absolute Azure-AsyncOperation URL the server handed out
    assert any("/operations/" in path for method, path, _ in arm.log if method == "GET")
    assert https_arm.azure.arm_auth and set(https_arm.azure.arm_auth) == {"Bearer tls-token"}


def test_untrusted_certificate_is_refused(https_arm):
    arm = https_arm.azure.arm
    https_arm.azure.world.add_vm("vm-https", rg=RG)
    client = _client(https_arm, True, retry_total=0)  # system CAs only
    with pytest.raises(ServiceRequestError, match="(?i)certificate"):
        client.virtual_machines.instance_view(RG, "vm-https")
    assert arm.log == []
