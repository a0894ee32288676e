"""How the VM-action steps authenticate (as azure-native would) and how long they wait for
a dead endpoint. End to end, over HTTPS and the provider host's gRPC protocol:
tests/test_engine_dynamic_provider.py."""

from __future__ import annotations

from typing import Any

import azure.identity as identity
import pytest
from azure.core.pipeline.policies import RetryPolicy

from vmimage.azure import client as arm_client
from vmimage.azure.auth import (
    AuthError,
    make_credential,
    oidc_assertion,
    resolve_settings,
)

IDS = {"ARM_CLIENT_ID": "client", "ARM_TENANT_ID": "tenant"}


def test_provider_config_wins_over_the_environment():
    settings = resolve_settings(
        {"azure-native:clientId": "from-config", "azure-native:tenantId": ""},
        {"ARM_CLIENT_ID": "from-env", "ARM_TENANT_ID": "tenant-env",
         "AZURE_ENVIRONMENT": "china"})
    assert settings.get("clientId") == "from-config"
    assert settings.get("tenantId") == "tenant-env"  # empty config falls back, as azure-native
    assert settings.environment == "china"  # ARM_ENVIRONMENT first, then AZURE_ENVIRONMENT


@pytest.mark.parametrize(("env", "method"), [
    ({}, "cli"),
    ({"ARM_USE_MSI": "true"}, "msi"),
    ({"ARM_USE_OIDC": "true", "ARM_USE_MSI": "true"}, "oidc"),
    ({"ARM_CLIENT_SECRET": "s", "ARM_USE_OIDC": "true"}, "secret"),
    ({"ARM_CLIENT_CERTIFICATE_PATH": "c.pfx", "ARM_CLIENT_SECRET": "s"}, "certificate"),
    ({"ARM_USE_DEFAULT_AZURE_CREDENTIAL": "true", "ARM_CLIENT_SECRET": "s"}, "default"),
    ({"ARM_USE_OIDC": "TRUE"}, "oidc"),
    ({"ARM_USE_OIDC": "1"}, "cli"),  # azure-native compares with "true"
])
def test_method_order_is_azure_natives(env, method):
    assert resolve_settings({}, {**IDS, **env}).method == method


@pytest.mark.parametrize(("env", "credential_type"), [
    ({"ARM_CLIENT_SECRET": "s3cr3t-value"}, identity.ClientSecretCredential),
    ({"ARM_USE_OIDC": "true", "ARM_OIDC_TOKEN": "s3cr3t-value"},
     identity.ClientAssertionCredential),
    ({"ARM_USE_MSI": "true"}, identity.ManagedIdentityCredential),
    ({}, identity.AzureCliCredential),
])
def test_each_method_makes_its_credential(env, credential_type):
    credential, description = make_credential(resolve_settings({}, {**IDS, **env}))
    assert isinstance(credential, credential_type)
    assert "s3cr3t-value" not in description  # messages say how, never with what


def test_missing_ids_are_named_with_their_config_key_and_variable():
    with pytest.raises(AuthError, match=r"azure-native:tenantId \(ARM_TENANT_ID\)"):
        make_credential(resolve_settings({}, {"ARM_CLIENT_ID": "c", "ARM_CLIENT_SECRET": "s"}))


def test_oidc_without_any_token_source_says_what_the_workflow_needs():
    with pytest.raises(AuthError, match="id-token: write"):
        make_credential(resolve_settings({}, {**IDS, "ARM_USE_OIDC": "true"}))


def test_oidc_prefers_a_static_token_then_a_file_then_the_request(tmp_path, monkeypatch):
    token_file = tmp_path / "token"
    token_file.write_text("from-file-1\n")
    request = {"ACTIONS_ID_TOKEN_REQUEST_URL": "https://gh.example/t",
               "ACTIONS_ID_TOKEN_REQUEST_TOKEN": "rt"}
    static, how = oidc_assertion(resolve_settings({}, {"ARM_OIDC_TOKEN": "t", **request}))
    assert static() == "t" and "never renewed" in how
    from_file, _ = oidc_assertion(resolve_settings(
        {}, {"ARM_OIDC_TOKEN_FILE_PATH": str(token_file), **request}))
    assert from_file() == "from-file-1"
    token_file.write_text("from-file-2\n")
    assert from_file() == "from-file-2"  # read again each time: a renewed file is used
    calls: list[tuple[Any, ...]] = []
    monkeypatch.setattr("vmimage.azure.auth.github_oidc_token",
                        lambda *args: calls.append(args) or f"gh-{len(calls)}")
    requested, how = oidc_assertion(resolve_settings({}, request))
    assert (requested(), requested()) == ("gh-1", "gh-2")
    assert calls[0] == ("https://gh.example/t", "rt", "api://AzureADTokenExchange")
    assert "requested anew" in how


def test_backoffs_are_azure_cores():
    """The budget below is only true if our sum of waits is what azure-core waits."""
    policy = RetryPolicy(**{k: v for k, v in arm_client.TRANSPORT.items()
                            if k.startswith("retry_")})
    settings = policy.configure_retries({})
    waits = []
    for _ in range(arm_client.RETRY_CONNECT):
        settings["history"].append(object())
        waits.append(policy.get_backoff_time(settings))
    assert waits == arm_client.backoffs(arm_client.RETRY_CONNECT)


def test_a_dead_endpoint_fails_within_two_minutes():
    """Every attempt bounded and so is their number: connect attempts that time out, or
    connections that never answer, end the step in under two minutes."""
    assert arm_client.unreachable_budget_s() <= 120
    assert arm_client.UNREACHABLE_BUDGET_S == arm_client.unreachable_budget_s()
    # and the default azure-core settings would not (the reason this module exists)
    assert (1 + 3) * 300 > 120


def test_the_client_carries_the_bounded_transport():
    from offline.arm_transport import StaticTokenCredential

    client = arm_client.make_compute_client("sub", credential=StaticTokenCredential())
    transport = client._client._pipeline._transport
    assert transport.connection_config.timeout == arm_client.CONNECT_TIMEOUT_S
    assert transport.connection_config.read_timeout == arm_client.READ_TIMEOUT_S
    retry = client._config.retry_policy
    assert (retry.connect_retries, retry.read_retries, retry.status_retries) == (
        arm_client.RETRY_CONNECT, arm_client.RETRY_READ, arm_client.RETRY_STATUS)
