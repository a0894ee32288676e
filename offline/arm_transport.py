"""An azure-core transport that answers ARM requests in-process.

The real `ComputeManagementClient` (serializers, RetryPolicy, ARMPolling, error mapping)
runs unchanged; only the socket is replaced by a call into a Python backend. That keeps
the offline simulator and the tests honest: whatever the SDK does with a 429, a 202 with
`Azure-AsyncOperation` or an ARM error body, it does here exactly as against Azure.

A backend is any object with

    handle(method, path, query, body) -> (status, headers, json_body_or_None)

`path` has no host and no query string; header values that are paths ("/subscriptions/...")
are made absolute against the request's host, so backends stay host-agnostic.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator, MutableMapping
from typing import Any, Protocol
from urllib.parse import parse_qsl, urlsplit

from azure.core.credentials import AccessToken
from azure.core.pipeline.transport import HttpTransport
from azure.core.rest import HttpRequest, HttpResponse
from azure.core.rest._http_response_impl import HttpResponseImpl
from azure.core.utils import case_insensitive_dict

__all__ = [
    "ArmBackend",
    "SimulatedArmTransport",
    "StaticTokenCredential",
    "offline_compute_client",
]

Reply = tuple[int, dict[str, str], dict[str, Any] | None]

_REASONS = {
    200: "OK", 201: "Created", 202: "Accepted", 204: "No Content", 400: "Bad Request",
    404: "Not Found", 409: "Conflict", 429: "Too Many Requests",
    500: "Internal Server Error", 503: "Service Unavailable",
}


class ArmBackend(Protocol):
    def handle(self, method: str, path: str, query: dict[str, str],
               body: dict[str, Any] | None) -> Reply: ...


class StaticTokenCredential:
    """A TokenCredential that never talks to Entra ID; records the scopes asked for
    so tests can check which cloud audience a client would have requested."""

    def __init__(self, token: str = "offline-token") -> None:
        self.token = token
        self.scopes_requested: list[tuple[str, ...]] = []

    def get_token(self, *scopes: str, **kwargs: Any) -> AccessToken:
        self.scopes_requested.append(scopes)
        return AccessToken(self.token, int(time.time()) + 3600)


class _NoSocket:
    """azure-core closes a response's `internal_response`; there is nothing to close."""

    def close(self) -> None:
        pass


def _absolute(value: str, origin: str) -> str:
    return origin + value if value.startswith("/") else value


class SimulatedArmTransport(HttpTransport):
    """Sync azure-core transport over an in-process ARM backend.

    `sleep` never blocks: RetryPolicy backoffs (Retry-After included) and ARMPolling
    intervals are recorded in `sleeps` and handed to `on_sleep` (the simulator advances
    its virtual clock there), so tests can assert the delay the SDK *asked for*.
    """

    def __init__(self, backend: ArmBackend, *,
                 on_sleep: Callable[[float], None] | None = None) -> None:
        self.backend = backend
        self.on_sleep = on_sleep
        self.sleeps: list[float] = []
        #: (method, full URL) of every request, in order.
        self.requests: list[tuple[str, str]] = []

    def __enter__(self) -> SimulatedArmTransport:
        return self

    def __exit__(self, *args: object) -> None:
        self.close()

    def open(self) -> None:
        pass

    def close(self) -> None:
        pass

    def sleep(self, duration: float) -> None:
        self.sleeps.append(float(duration))
        if self.on_sleep is not None:
            self.on_sleep(float(duration))

    def send(self, request: HttpRequest, **kwargs: Any) -> HttpResponse:
        url = urlsplit(request.url)
        origin = f"{url.scheme}://{url.netloc}"
        query = dict(parse_qsl(url.query, keep_blank_values=True))
        raw = request.content
        body: dict[str, Any] | None = None
        if raw:
            body = json.loads(raw.decode() if isinstance(raw, bytes) else raw)
        self.requests.append((request.method, request.url))
        status, headers, payload = self.backend.handle(request.method, url.path, query, body)
        return self._response(request, status, headers, payload, origin,
                              stream=bool(kwargs.get("stream", False)))

    @staticmethod
    def _response(request: HttpRequest, status: int, headers: dict[str, str],
                  payload: dict[str, Any] | None, origin: str, *, stream: bool) -> HttpResponse:
        content = b"" if payload is None else json.dumps(payload).encode()
        hdrs: MutableMapping[str, str] = case_insensitive_dict(
            {k: _absolute(v, origin) for k, v in headers.items()})
        if payload is not None:
            hdrs.setdefault("Content-Type", "application/json; charset=utf-8")
        hdrs["Content-Length"] = str(len(content))

        def chunks(response: object, pipeline: object, decompress: bool) -> Iterator[bytes]:
            yield content

        response = HttpResponseImpl(
            request=request, internal_response=_NoSocket(), status_code=status,
            reason=_REASONS.get(status, "Unknown"), content_type=hdrs.get("Content-Type"),
            headers=hdrs, stream_download_generator=chunks,
        )
        if not stream:
            # Real transports load the body unless the caller asked to stream.
            response.read()
        return response


def offline_compute_client(backend: ArmBackend,
                           subscription_id: str = "00000000-0000-0000-0000-000000000000",
                           **kwargs: Any) -> Any:
    """A real `ComputeManagementClient` over `SimulatedArmTransport(backend)`.

    Defaults keep runs instant and deterministic: LRO polling interval 0 (ARMPolling
    still honours a Retry-After the backend sends, recorded as a sleep), retry backoff 0.
    Anything can be overridden through kwargs, including `transport`.
    """
    from azure.mgmt.compute import ComputeManagementClient

    kwargs.setdefault("transport", SimulatedArmTransport(backend))
    kwargs.setdefault("polling_interval", 0)
    kwargs.setdefault("retry_backoff_factor", 0)
    kwargs.setdefault("retry_total", 5)
    credential = kwargs.pop("credential", None) or StaticTokenCredential()
    return ComputeManagementClient(credential, subscription_id, **kwargs)
