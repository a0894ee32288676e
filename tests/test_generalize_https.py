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
        StaticTokenCredential("tls-token"), endpoints.azure.arm.subscription_id,
        base_url=endpoints.origin, connection_verify=verify, connection_timeout=5,
        read_timeout=5, polling_interval=0, retry_backoff_factor=0, **kwargs)


def test_generalize_over_real_https(https_arm):
    arm = https_arm.azure.arm
    arm.add_vm(RG, "vm-https", deallocate_polls=1, stops_after_polls=0)
    arm.inject("POST", "/deallocate", 503)  # one transient failure on the wire too
    client = _client(https_arm, str(https_arm.ca_bundle))

    out = generalize_vm(client, RG, "vm-https", seal=Seal("linux", "deprovision"),
                        location="westeurope", sleep=lambda s: None)

    assert out["powerState"] == "deallocated" and out["osState"] == "generalized"
    assert arm.applied == {"deallocate": 1, "generalize": 1}
    assert arm.posts == {"deallocate": 2, "generalize": 1}
    # the seal went as a managed run command, its script in the body
    assert arm.vms[(RG, "vm-https")].commands["vmimage-seal"]["script"] == "deprovision"
    # LRO polling followed the absolute Azure-AsyncOperation URL the server handed out
    assert any("/operations/" in path for method, path, _ in arm.log if method == "GET")
    assert https_arm.azure.arm_auth and set(https_arm.azure.arm_auth) == {"Bearer tls-token"}


def test_untrusted_certificate_is_refused(https_arm):
    arm = https_arm.azure.arm
    arm.add_vm(RG, "vm-https")
    client = _client(https_arm, True, retry_total=0)  # system CAs only
    with pytest.raises(ServiceRequestError, match="(?i)certificate"):
        client.virtual_machines.instance_view(RG, "vm-https")
    assert arm.log == []
