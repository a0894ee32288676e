"""The real network path: ComputeManagementClient with its default requests transport,
TLS verified against a throwaway CA (trustme), talking to a local HTTPS server that
serves FakeVmArm. Proves URLs, headers, LRO polling and retries survive real HTTP."""

from __future__ import annotations

import json
import ssl
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import pytest
import trustme
from azure.core.exceptions import ServiceRequestError
from azure.mgmt.compute import ComputeManagementClient

from components.generalize import generalize_vm
from offline.arm_transport import StaticTokenCredential
from offline.fake_vm import FakeVmArm

RG = "rg-build"


class _ArmHandler(BaseHTTPRequestHandler):
    backend: FakeVmArm
    origin: str
    auth_headers: list[str]

    def _serve(self) -> None:
        url = urlsplit(self.path)
        length = int(self.headers.get("Content-Length") or 0)
        body = json.loads(self.rfile.read(length)) if length else None
        self.auth_headers.append(self.headers.get("Authorization", ""))
        status, headers, payload = self.backend.handle(
            self.command, url.path, dict(parse_qsl(url.query)), body)
        content = b"" if payload is None else json.dumps(payload).encode()
        self.send_response(status)
        for key, value in headers.items():
            # ARM sends absolute operation URLs; the backend gives paths.
            self.send_header(key, self.origin + value if value.startswith("/") else value)
        if payload is not None:
            self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(content)))
        self.end_headers()
        self.wfile.write(content)

    do_GET = do_POST = _serve

    def log_message(self, format: str, *args: Any) -> None:
        pass  # keep pytest output clean


@pytest.fixture
def https_arm(tmp_path: Path) -> Iterator[tuple[str, str, FakeVmArm, list[str]]]:
    ca = trustme.CA()
    cert = ca.issue_cert("127.0.0.1")
    ca_bundle = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(str(ca_bundle))
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    cert.configure_cert(context)

    backend = FakeVmArm()
    auth_headers: list[str] = []
    handler = type("Handler", (_ArmHandler,), {"backend": backend, "auth_headers": auth_headers})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.daemon_threads = True
    server.timeout = 5
    server.socket = context.wrap_socket(server.socket, server_side=True)
    origin = f"https://127.0.0.1:{server.server_address[1]}"
    handler.origin = origin
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05},
                              daemon=True)
    thread.start()
    try:
        yield origin, str(ca_bundle), backend, auth_headers
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
    assert not thread.is_alive()


def _client(origin: str, ca_bundle: str | bool, backend: FakeVmArm, **kwargs: Any) -> Any:
    return ComputeManagementClient(
        StaticTokenCredential("tls-token"), backend.subscription_id, base_url=origin,
        connection_verify=ca_bundle, connection_timeout=5, read_timeout=5,
        polling_interval=0, retry_backoff_factor=0, **kwargs)


def test_generalize_over_real_https(https_arm):
    origin, ca_bundle, backend, auth_headers = https_arm
    backend.add_vm(RG, "vm-https", deallocate_polls=1)
    backend.inject("POST", "/deallocate", 503)  # one transient failure on the wire too
    client = _client(origin, ca_bundle, backend)

    out = generalize_vm(client, RG, "vm-https", wait_for_guest_shutdown=False,
                        sleep=lambda s: None)

    assert out["powerState"] == "deallocated" and out["osState"] == "generalized"
    assert backend.applied == {"deallocate": 1, "generalize": 1}
    assert backend.posts == {"deallocate": 2, "generalize": 1}
    # LRO polling followed the absolute Azure-AsyncOperation URL the server handed out
    assert any("/operations/" in path for method, path, _ in backend.log if method == "GET")
    assert auth_headers and set(auth_headers) == {"Bearer tls-token"}


def test_untrusted_certificate_is_refused(https_arm):
    origin, _ca_bundle, backend, _ = https_arm
    backend.add_vm(RG, "vm-https")
    client = _client(origin, True, backend, retry_total=0)  # system CAs only
    with pytest.raises(ServiceRequestError, match="(?i)certificate"):
        client.virtual_machines.instance_view(RG, "vm-https")
    assert backend.log == []
