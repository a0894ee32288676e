"""The Generalize step as the Pulumi engine runs it: in the dynamic provider host
(`python -u -m pulumi.dynamic`), over its gRPC protocol, in the orders the engine uses
(pulumi/pulumi `pkg/resource/deploy/step_generator.go`; docs/azure-behaviours.md).

Inputs are the ones the program registers, taken from a run under mocks: in preview (ids
and names still unknown) and in an update. Create talks HTTPS to a local Azure (ARM and
Entra ID) that the host reaches through a proxy, a CA bundle and credentials in its
environment; nothing in the code under test is patched.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import grpc
import pytest
from conftest import ROOT, load_stack_dict
from engine_host import (
    clean_env,
    configure,
    from_struct,
    provider_stub,
    start,
    to_struct,
    vm_of,
)
from fake_azure import (
    CLIENT,
    GITHUB_HOST,
    GITHUB_REQUEST_TOKEN,
    LOGIN_HOST,
    SECRET_CREDENTIALS,
    TENANT,
)
from program_mocks import run_program
from pulumi.output import Unknown
from pulumi.runtime import rpc
from pulumi.runtime.proto import provider_pb2

from vmimage.azure.client import UNREACHABLE_BUDGET_S

GENERALIZE = "pulumi-python:dynamic/vmimage:Generalize"
def generalize_request(*, preview: bool) -> Any:
    recorded = run_program(load_stack_dict("dev"), stack="dev", preview=preview)
    (reg,) = [r for r in recorded.resources if r.type == GENERALIZE]
    return reg


@pytest.fixture(scope="module")
def preview_registration() -> Any:
    return generalize_request(preview=True)


@pytest.fixture(scope="module")
def up_registration() -> Any:
    return generalize_request(preview=False)


def check(stub: Any, reg: Any, olds: Any = None, news: Any = None) -> Any:
    return stub.Check(provider_pb2.CheckRequest(
        urn=reg.urn, olds=olds or to_struct({}), news=news or reg.request.object,
        type=GENERALIZE, name=reg.name))


# -- preview ----------------------------------------------------------------------------------

def test_preview_of_a_new_stack_passes_check_with_unknowns(tmp_path, engine,
                                                           preview_registration):
    news = from_struct(preview_registration.request.object)
    unknown = {k for k, v in news.items() if isinstance(v, Unknown) or v == rpc.UNKNOWN}
    assert {"vmId", "vmName", "vmUniqueId", "subscriptionId"} <= unknown
    with start(tmp_path, engine, clean_env()) as host:
        stub = provider_stub(host)
        configure(stub)
        response = check(stub, preview_registration)
        assert list(response.failures) == []
        checked = from_struct(response.inputs)
        assert isinstance(checked["vmId"], Unknown)


def test_preview_of_a_replaced_build_vm_diffs_as_replace(tmp_path, engine, up_registration,
                                                         preview_registration):
    """An existing Generalize whose VM is being replaced: the new VM id is unknown, which
    may be another VM, so the step is replaced, not refused."""
    olds = from_struct(up_registration.request.object)
    olds.update(powerState="deallocated", osState="generalized", generalizedAt="t")
    with start(tmp_path, engine, clean_env()) as host:
        stub = provider_stub(host)
        configure(stub)
        assert list(check(stub, preview_registration,
                          olds=up_registration.request.object).failures) == []
        diff = stub.Diff(provider_pb2.DiffRequest(
            id=olds["vmId"], urn=up_registration.urn, olds=to_struct(olds),
            news=preview_registration.request.object,
            old_inputs=up_registration.request.object))
        assert diff.changes == provider_pb2.DiffResponse.DIFF_SOME
        assert "vmId" in diff.replaces


def test_check_still_refuses_known_bad_values(tmp_path, engine, up_registration):
    news = from_struct(up_registration.request.object)
    news.update(vmName="", timeoutSeconds=0, environment="mars")
    with start(tmp_path, engine, clean_env()) as host:
        stub = provider_stub(host)
        configure(stub)
        failures = check(stub, up_registration, news=to_struct(news)).failures
        assert sorted(f.property for f in failures) == ["environment", "timeoutSeconds",
                                                        "vmName"]


# -- up, no-op up, refresh, replace, destroy ----------------------------------------------------

def run_lifecycle(tmp_path: Path, engine: Any, azure: Any, up_registration: Any, *,
                  env: dict[str, str], config: dict[str, Any] | None = None,
                  cwd: Path = ROOT) -> dict[str, Any]:
    rg, vm = vm_of(up_registration)
    azure.azure.world.add_vm(vm, rg=rg)  # its guest powers off once sealed
    with start(tmp_path, engine, clean_env(**azure.env(**env)), cwd=cwd) as host:
        stub = provider_stub(host)
        configure(stub, config)
        # up: Check, then Create
        checked = check(stub, up_registration)
        assert list(checked.failures) == []
        created = stub.Create(provider_pb2.CreateRequest(
            urn=up_registration.urn, properties=checked.inputs, timeout=3600,
            type=GENERALIZE, name=up_registration.name))
        outs = from_struct(created.properties)
        assert created.id == up_registration.inputs["vmId"]
        assert outs["osState"] == "generalized" and outs["powerState"] == "deallocated"
        # the guest was sealed with the script the program registered
        sent = azure.azure.world.commands(vm, rg)
        assert sent["vmimage-seal"]["source"]["script"] == up_registration.inputs["sealScript"]
        requests_after_create = len(azure.azure.arm.log)

        # a no-op up: Check (old inputs, news), then Diff (old outputs) -> nothing to do
        again = check(stub, up_registration, olds=checked.inputs)
        diff = stub.Diff(provider_pb2.DiffRequest(
            id=created.id, urn=up_registration.urn, olds=created.properties,
            news=again.inputs, old_inputs=checked.inputs))
        assert diff.changes == provider_pb2.DiffResponse.DIFF_NONE

        # refresh: Read keeps the record
        read = stub.Read(provider_pb2.ReadRequest(
            id=created.id, urn=up_registration.urn, properties=created.properties,
            inputs=checked.inputs))
        assert from_struct(read.properties)["generalizedAt"] == outs["generalizedAt"]

        # an in-place change (timeout) is an Update that calls nothing
        news = from_struct(checked.inputs)
        news["timeoutSeconds"] = 7200
        updated = stub.Update(provider_pb2.UpdateRequest(
            id=created.id, urn=up_registration.urn, olds=created.properties,
            news=to_struct(news), old_inputs=checked.inputs))
        assert from_struct(updated.properties)["osState"] == "generalized"

        # replace: the build VM was recreated (new unique id) -> replaces, then the old
        # record's Delete; and destroy: Delete. Neither may send anything to Azure.
        news["vmUniqueId"] = "another-vm"
        diff = stub.Diff(provider_pb2.DiffRequest(
            id=created.id, urn=up_registration.urn, olds=created.properties,
            news=to_struct(news), old_inputs=checked.inputs))
        assert list(diff.replaces) == ["vmUniqueId"]
        stub.Delete(provider_pb2.DeleteRequest(
            id=created.id, urn=up_registration.urn, properties=created.properties,
            old_inputs=checked.inputs))
        assert len(azure.azure.arm.log) == requests_after_create
        modules = host.imported_modules()
        diagnostics = host.diagnostics()
    return {"outs": outs, "modules": modules, "diagnostics": diagnostics}


@pytest.mark.parametrize("where", ["project", "elsewhere"])
def test_lifecycle_with_arm_client_secret(tmp_path, engine, azure, up_registration, where):
    cwd = ROOT if where == "project" else tmp_path
    result = run_lifecycle(tmp_path, engine, azure, up_registration, env=SECRET_CREDENTIALS,
                           cwd=cwd)
    fake = azure.azure
    assert fake.arm.applied == {"deallocate": 1, "generalize": 1}
    # authenticated as azure-native would be: the ARM_* service principal, and every ARM
    # request carried a token Entra issued for it
    assert {r["client_id"] for r in fake.token_requests} == {CLIENT}
    assert {r["tenant"] for r in fake.token_requests} == {TENANT}
    assert fake.arm_auth and all(a.removeprefix("Bearer ") in fake.tokens_issued
                                 for a in fake.arm_auth)
    assert fake.tunnels[LOGIN_HOST] >= 1 and fake.tunnels["management.azure.com"] >= 1
    # the host ran the pickled provider: nothing of the test harness or the simulator
    leaked = {m for m in result["modules"]
              if m.split(".")[0] in ("offline", "tests", "conftest", "program_mocks")}
    assert leaked == set()
    assert "s3cret-value" not in result["diagnostics"]


def test_lifecycle_with_provider_config_credentials(tmp_path, engine, azure, up_registration):
    """`pulumi config set azure-native:clientId ...` reaches the step through Configure,
    the secret wrapped as the engine wraps it; no ARM_* variable is set."""
    config = {"azure-native:clientId": CLIENT, "azure-native:tenantId": TENANT,
              "azure-native:clientSecret": rpc.wrap_rpc_secret("s3cret-value"),
              "azure-native:location": "westeurope"}
    run_lifecycle(tmp_path, engine, azure, up_registration, env={}, config=config)
    assert {r["client_id"] for r in azure.azure.token_requests} == {CLIENT}
    assert azure.azure.arm.applied == {"deallocate": 1, "generalize": 1}


def test_github_oidc_requests_a_fresh_id_token_for_each_entra_token(tmp_path, engine, azure,
                                                                   up_registration):
    """ARM_USE_OIDC with the workflow's token request: every Entra token is minted from a
    new GitHub ID token, so a run longer than a token's life keeps working."""
    # Tokens that expire at once: every ARM request needs a new one, as each does after
    # an hour of a Windows build.
    azure.azure.token_lifetime_s = 0
    env = {"ARM_USE_OIDC": "true", "ARM_CLIENT_ID": CLIENT, "ARM_TENANT_ID": TENANT,
           "ACTIONS_ID_TOKEN_REQUEST_URL": f"https://{GITHUB_HOST}/token?api-version=2.0",
           "ACTIONS_ID_TOKEN_REQUEST_TOKEN": GITHUB_REQUEST_TOKEN}
    run_lifecycle(tmp_path, engine, azure, up_registration, env=env)
    fake = azure.azure
    assert len(fake.oidc_requests) >= 2
    assert {r["audience"] for r in fake.oidc_requests} == {"api://AzureADTokenExchange"}
    assertions = [r["client_assertion"] for r in fake.token_requests]
    assert len(set(assertions)) == len(assertions) >= 2  # a new assertion each time
    assert fake.arm.applied == {"deallocate": 1, "generalize": 1}


def create_failure(tmp_path: Path, engine: Any, azure: Any, reg: Any,
                   env: dict[str, str]) -> tuple[str, float]:
    rg, vm = vm_of(reg)
    azure.azure.world.add_vm(vm, rg=rg, power="stopped")
    with start(tmp_path, engine, clean_env(**azure.env(**env))) as host:
        stub = provider_stub(host)
        configure(stub)
        checked = check(stub, reg)
        began = time.monotonic()
        with pytest.raises(grpc.RpcError) as info:
            stub.Create(provider_pb2.CreateRequest(urn=reg.urn, properties=checked.inputs,
                                                   timeout=3600))
        return str(info.value.details()), time.monotonic() - began


def test_wrong_credentials_fail_before_any_vm_is_touched(tmp_path, engine, azure,
                                                        up_registration):
    details, _ = create_failure(tmp_path, engine, azure, up_registration,
                                {**SECRET_CREDENTIALS, "ARM_CLIENT_SECRET": "wrong"})
    assert f"cannot authenticate to Azure with client secret of {CLIENT}" in details
    assert "AADSTS7000215" in details
    assert azure.azure.arm.log == []  # not one ARM request


def test_unreachable_arm_fails_with_one_line_naming_the_endpoint(tmp_path, engine, azure,
                                                                up_registration):
    azure.azure.refuse.add("management.azure.com")
    details, took = create_failure(tmp_path, engine, azure, up_registration,
                                   SECRET_CREDENTIALS)
    message = details.strip().splitlines()[-1]
    assert "cannot reach Azure Resource Manager at https://management.azure.com/" in message
    assert "HTTPS_PROXY" in message
    assert took < UNREACHABLE_BUDGET_S <= 120
    assert azure.azure.tunnels["management.azure.com"] == 4  # 1 + RETRY_CONNECT attempts
