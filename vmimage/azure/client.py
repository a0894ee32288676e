"""The ARM client of the VM-action steps: which cloud, which credential, and how long to
wait before giving up on a dead endpoint.

azure-core's defaults wait 300 s to connect and 300 s to read, per attempt, with up to 10
retries (azure/core/configuration.py, pipeline/policies/_retry.py): a wrong proxy or a
blocked firewall would hang a `pulumi up` for about 20 minutes before saying anything.
Here every attempt is bounded and so is their number, so an unreachable ARM fails within
`UNREACHABLE_BUDGET_S` with one line naming the endpoint. Throttling (429) and transient
5xx are different: ARM answers, so they are retried longer, honouring Retry-After.

Runs in the dynamic provider host (see vmimage/providers/bundle.py): no project imports
but its bundle, Azure SDK imported lazily.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from vmimage.azure.auth import CLOUDS, AuthError, AuthSettings, make_credential

CONNECT_TIMEOUT_S = 15
READ_TIMEOUT_S = 25
RETRY_CONNECT = 3  # a refused or timed-out connection: 4 attempts in all
RETRY_READ = 2  # an answer that never comes: 3 attempts
RETRY_STATUS = 10  # 429 and transient 5xx: ARM is there, just busy
RETRY_TOTAL = 12
RETRY_BACKOFF_S = 2.0
RETRY_BACKOFF_MAX_S = 60

TRANSPORT: dict[str, Any] = {
    "connection_timeout": CONNECT_TIMEOUT_S,
    "read_timeout": READ_TIMEOUT_S,
    "retry_connect": RETRY_CONNECT,
    "retry_read": RETRY_READ,
    "retry_status": RETRY_STATUS,
    "retry_total": RETRY_TOTAL,
    "retry_backoff_factor": RETRY_BACKOFF_S,
    "retry_backoff_max": RETRY_BACKOFF_MAX_S,
}


def backoffs(retries: int, factor: float = RETRY_BACKOFF_S,
             cap: float = RETRY_BACKOFF_MAX_S) -> list[float]:
    """azure-core's waits between `retries` consecutive failures: none before the first
    retry, then factor * 2^(n-1), capped (RetryPolicyBase.get_backoff_time)."""
    return [0.0 if n <= 1 else min(cap, factor * 2 ** (n - 1)) for n in range(1, retries + 1)]


def unreachable_budget_s() -> float:
    """The longest one request can take before failing when ARM never answers: every
    connect attempt times out, or every connection opens and no answer comes."""
    never_connects = (1 + RETRY_CONNECT) * CONNECT_TIMEOUT_S + sum(backoffs(RETRY_CONNECT))
    never_answers = (1 + RETRY_READ) * READ_TIMEOUT_S + sum(backoffs(RETRY_READ))
    return max(never_connects, never_answers)


UNREACHABLE_BUDGET_S = unreachable_budget_s()


class ArmUnreachable(Exception):
    """ARM (or the token endpoint) did not answer; the message is one line."""


def endpoints(environment: str | None) -> dict[str, Any]:
    """The ARM endpoint and token scope of a cloud (they differ: US Gov ARM is
    management.usgovcloudapi.net, its scope management.core.usgovcloudapi.net)."""
    from azure.core import AzureClouds
    from azure.mgmt.core.tools import get_arm_endpoints

    env = (environment or "public").lower()
    if env not in CLOUDS:
        raise AuthError(f"unknown azure-native:environment {environment!r}; expected one of "
                        f"{', '.join(CLOUDS)}")
    cloud = AzureClouds[CLOUDS[env][0]]
    return {"cloud": cloud, **get_arm_endpoints(cloud)}


def make_compute_client(subscription_id: str, *, credential: Any = None,
                        environment: str | None = None, settings: AuthSettings | None = None,
                        **client_kwargs: Any) -> Any:
    """A `ComputeManagementClient` for the cloud of `environment`, authenticated as
    azure-native would be (`settings`), with bounded timeouts and retries."""
    from azure.mgmt.compute import ComputeManagementClient

    if settings is None:
        settings = AuthSettings({"environment": environment} if environment else {})
    cloud = endpoints(environment or settings.environment)
    if credential is None:
        credential, _ = make_credential(settings, **TRANSPORT)
    for key, value in TRANSPORT.items():
        client_kwargs.setdefault(key, value)
    client_kwargs.setdefault("base_url", cloud["resource_manager"])
    client_kwargs.setdefault("credential_scopes", cloud["credential_scopes"])
    return ComputeManagementClient(credential, subscription_id, cloud_setting=cloud["cloud"],
                                   **client_kwargs)


#: Azure Storage's endpoint suffix per cloud (the hosts of values.BLOB_HOST_SUFFIXES).
STORAGE_SUFFIXES = {"public": "core.windows.net", "usgovernment": "core.usgovcloudapi.net",
                    "china": "core.chinacloudapi.cn"}


def blob_endpoint(account: str, environment: str | None = None) -> str:
    """A storage account's blob service URL in a cloud."""
    env = (environment or "public").lower()
    if env not in STORAGE_SUFFIXES:
        raise AuthError(f"unknown azure-native:environment {environment!r}; expected one of "
                        f"{', '.join(STORAGE_SUFFIXES)}")
    return f"https://{account}.blob.{STORAGE_SUFFIXES[env]}"


def make_blob_service(account_url: str, *, credential: Any, **client_kwargs: Any) -> Any:
    """A `BlobServiceClient` authenticated with the same (Entra) credential as the compute
    client: no account key or SAS of the destination is ever handled. Bounded like ARM."""
    # lazy: azure-storage-blob is needed only by a VHD export, in the provider host
    from azure.storage.blob import BlobServiceClient

    for key in ("connection_timeout", "read_timeout", "retry_connect", "retry_read",
                "retry_status", "retry_total"):
        client_kwargs.setdefault(key, TRANSPORT[key])
    return BlobServiceClient(account_url, credential=credential, **client_kwargs)


def first_line(err: BaseException) -> str:
    text = str(err).strip()
    return text.splitlines()[0] if text else type(err).__name__


def check_credential(credential: Any, scopes: list[str], description: str) -> None:
    """Get one token before anything else, so a missing or wrong credential fails the step
    before any VM is touched, with a message saying which method was tried."""
    from azure.core.exceptions import ClientAuthenticationError, ServiceRequestError

    try:
        credential.get_token(*scopes)
    except ServiceRequestError as err:
        raise ArmUnreachable(
            f"cannot reach the Entra ID token endpoint for {description}: {first_line(err)}; "
            "check the network path (HTTPS_PROXY, firewall) and azure-native:environment"
        ) from None
    except (ClientAuthenticationError, ValueError, OSError) as err:
        raise AuthError(f"cannot authenticate to Azure with {description}: "
                        f"{first_line(err)}; nothing was changed") from None


def unreachable(err: BaseException, endpoint: str) -> ArmUnreachable:
    """One line for a request that never got an answer from ARM."""
    return ArmUnreachable(
        f"cannot reach Azure Resource Manager at {endpoint} after "
        f"{1 + RETRY_CONNECT} attempts ({first_line(err)}); check the network path "
        "(HTTPS_PROXY/NO_PROXY, firewall, DNS) and azure-native:environment; nothing was "
        "changed by this step")


def configured(config: Mapping[str, Any] | None) -> dict[str, Any]:
    """The `azure-native:*` part of the config a dynamic provider is configured with."""
    return {k: v for k, v in (config or {}).items() if str(k).startswith("azure-native:")}


def arm_code(err: BaseException) -> str:
    """The ARM error code of an HttpResponseError ('' if it has none)."""
    error = getattr(err, "error", None)
    return str(getattr(error, "code", "") or "")


def describe(err: BaseException) -> str:
    """'Code: message' of an ARM error, or its first line."""
    error = getattr(err, "error", None)
    if error is not None and getattr(error, "code", None):
        return f"{error.code}: {getattr(error, 'message', '')}"
    return first_line(err)


def retry_after(err: BaseException) -> float | None:
    """The Retry-After of an error response, in seconds, if it has one."""
    response = getattr(err, "response", None)
    value = response.headers.get("Retry-After") if response is not None else None
    try:
        return float(value) if value else None
    except ValueError:
        return None


def is_transient(err: BaseException) -> bool:
    """Worth another try later: no answer at all, throttling, or a server-side error
    (what is left once the client's own retries gave up)."""
    from azure.core.exceptions import HttpResponseError, ServiceRequestError

    if isinstance(err, ServiceRequestError):
        return True
    status = getattr(err, "status_code", None) if isinstance(err, HttpResponseError) else None
    return status in (408, 429) or (status is not None and status >= 500)
