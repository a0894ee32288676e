"""A local Azure for processes that believe they talk to the real one.

One HTTPS server plays four kinds of host, told apart by the Host header:
- `management.azure.com`: ARM, served by the simulated ARM's VM REST model
  (offline/arm/vm_rest.py: instance views, run commands, deallocate, generalize, LRO
  polling) over a `VmWorld` (tests/conftest.py), refusing requests without a token it
  issued. Simulated time passes one second per ARM request (real clients wait in real
  time); deallocations and the guest's seal take none, so a poll finds them done;
- `login.microsoftonline.com`: Entra ID's token endpoint (and its discovery documents),
  issuing tokens for client secrets and client assertions;
- `token.actions.githubusercontent.example`: the GitHub Actions ID-token request;
- `<account>.blob.core.windows.net`: the blob service of the world's storage accounts
  (offline/arm/storage.py `BlobRest`: containers, Copy Blob, blob properties), a second
  of simulated time per request too, refusing requests without a token it issued.

A CONNECT proxy in front sends every tunnel to that server, so a child process reaches it
through environment settings alone, exactly as it would reach Azure through a corporate
proxy: `HTTPS_PROXY`, `REQUESTS_CA_BUNDLE` (a throwaway CA from trustme) and credentials.
Nothing in the code under test is patched. Hosts in `refuse` get their tunnel refused,
which is what an unreachable endpoint looks like from behind a proxy.
"""

from __future__ import annotations

import itertools
import json
import select
import socket
import ssl
import threading
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from socketserver import StreamRequestHandler, ThreadingTCPServer
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import trustme
from azure.core.utils import case_insensitive_dict
from vm_world import VmWorld

from offline.arm.storage import BlobRest
from offline.arm.vm_rest import VmRest

ARM_HOST = "management.azure.com"
LOGIN_HOST = "login.microsoftonline.com"
GITHUB_HOST = "token.actions.githubusercontent.example"
BLOB_SUFFIX = ".blob.core.windows.net"
GITHUB_REQUEST_TOKEN = "github-request-token"
#: A service principal the fake Entra ID accepts.
TENANT = "11111111-1111-1111-1111-111111111111"
CLIENT = "22222222-2222-2222-2222-222222222222"
SECRET_CREDENTIALS = {"ARM_CLIENT_ID": CLIENT, "ARM_TENANT_ID": TENANT,
                      "ARM_CLIENT_SECRET": "s3cret-value"}
#: Credentials, and the host polling the VM every 0.2 s instead of every 15 s.
FAST = {**SECRET_CREDENTIALS, "VMIMAGE_POLL_SECONDS": "0.2"}
#: Real clients wait in real time; the simulated clock moves one second per request.
INSTANT = {"vm.deallocate": 0, "vm.restart": 0, "vm.start": 0, "guest.boot": 0,
           "guest.deprovision": 0, "guest.sysprep": 0}
REQUEST_S = 1.0


@dataclass
class FakeAzure:
    """What the fake saw; tests assert on it."""

    world: VmWorld = field(default_factory=lambda: VmWorld(latency=INSTANT))
    tokens_issued: dict[str, dict[str, str]] = field(default_factory=dict)  # token -> form
    token_requests: list[dict[str, str]] = field(default_factory=list)
    oidc_requests: list[dict[str, str]] = field(default_factory=list)
    arm_auth: list[str] = field(default_factory=list)  # Authorization headers ARM got
    #: (method, URL without its query, status) of every blob request, in order.
    blob_log: list[tuple[str, str, int]] = field(default_factory=list)
    tunnels: Counter[str] = field(default_factory=Counter)  # CONNECT targets
    refuse: set[str] = field(default_factory=set)  # hosts whose tunnels are refused
    token_lifetime_s: int = 3599
    require_issued_tokens: bool = True  # False: ARM takes any bearer token
    poll_after_s: int = 1  # Retry-After on long-running operations (0 means "use 30 s")
    _ids: Iterator[int] = field(default_factory=lambda: itertools.count(1))

    @property
    def arm(self) -> VmRest:
        """ARM's VM REST API as the fake serves it: what it was asked, what it did."""
        return self.world.rest

    # -- the three hosts --------------------------------------------------------------
    def login(self, method: str, path: str, form: dict[str, str]) -> tuple[int, Any]:
        parts = path.strip("/").split("/")
        if method == "GET" and path.endswith("/.well-known/openid-configuration"):
            tenant = parts[0]
            base = f"https://{LOGIN_HOST}/{tenant}"
            return 200, {"token_endpoint": f"{base}/oauth2/v2.0/token",
                         "authorization_endpoint": f"{base}/oauth2/v2.0/authorize",
                         "device_authorization_endpoint": f"{base}/oauth2/v2.0/devicecode",
                         "issuer": f"https://{LOGIN_HOST}/{tenant}/v2.0"}
        if method == "GET" and "discovery/instance" in path:
            return 200, {"tenant_discovery_endpoint":
                         f"https://{LOGIN_HOST}/common/v2.0/.well-known/openid-configuration",
                         "api-version": "1.1", "metadata": []}
        if method == "POST" and path.endswith("/oauth2/v2.0/token"):
            self.token_requests.append({"tenant": parts[0], **form})
            known_secret = form.get("client_secret") == "s3cret-value"
            known_assertion = form.get("client_assertion", "").startswith("github-oidc-")
            if not (known_secret or known_assertion):
                return 401, {"error": "invalid_client",
                             "error_description": "AADSTS7000215: Invalid client secret."}
            token = f"arm-token-{next(self._ids)}"
            self.tokens_issued[token] = {"tenant": parts[0], **form}
            return 200, {"token_type": "Bearer", "access_token": token,
                         "expires_in": self.token_lifetime_s,
                         "ext_expires_in": self.token_lifetime_s}
        return 404, {"error": "not_found", "error_description": path}

    def github(self, method: str, query: dict[str, str], auth: str) -> tuple[int, Any]:
        self.oidc_requests.append({"audience": query.get("audience", ""), "auth": auth})
        if auth != f"Bearer {GITHUB_REQUEST_TOKEN}":
            return 401, {"message": "bad request token"}
        return 200, {"value": f"github-oidc-{len(self.oidc_requests)}"}

    def management(self, method: str, path: str, query: dict[str, str], body: Any,
                   auth: str) -> tuple[int, dict[str, str], Any]:
        self.arm_auth.append(auth)
        token = auth.removeprefix("Bearer ")
        if self.require_issued_tokens and token not in self.tokens_issued:
            return 401, {}, {"error": {"code": "InvalidAuthenticationToken",
                                       "message": "The access token is invalid."}}
        self.world.clock.sleep(REQUEST_S)
        status, headers, payload = self.arm.handle(method, path, query, body)
        if status == 202 or "/operations/" in path.lower():
            # ARM tells pollers when to ask again; a test has no minute to spare.
            headers = {**headers, "Retry-After": str(self.poll_after_s)}
        return status, headers, payload


    def blob(self, method: str, host: str, path: str, query: dict[str, str],
             headers: dict[str, str]) -> tuple[int, dict[str, str]]:
        """The blob service of the world's storage accounts, on their public hosts."""
        token = headers.get("authorization", "").removeprefix("Bearer ")
        if token not in self.tokens_issued:
            reply: tuple[int, dict[str, str]] = (401, {"x-ms-error-code":
                                                       "InvalidAuthenticationInfo"})
        else:
            self.world.clock.sleep(REQUEST_S)
            backend = BlobRest(self.world.arm, lambda: self.world.clock.now)
            reply = backend.handle(method, host, path, query, case_insensitive_dict(headers))
        self.blob_log.append((method, f"https://{host}{path}", reply[0]))
        return reply


class _Handler(BaseHTTPRequestHandler):
    azure: FakeAzure

    def _serve(self) -> None:
        url = urlsplit(self.path)
        authority = self.headers.get("Host") or ""
        host = authority.split(":")[0]
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        auth = self.headers.get("Authorization", "")
        query = dict(parse_qsl(url.query))
        headers: dict[str, str] = {}
        if host.endswith(BLOB_SUFFIX):
            status, headers = self.azure.blob(
                self.command, host, url.path, dict(parse_qsl(url.query, keep_blank_values=True)),
                {k.lower(): v for k, v in self.headers.items()})
            self.send_response(status)
            for key, value in {"x-ms-version": "2025-01-05", **headers}.items():
                self.send_header(key, value)
            if "Content-Length" not in headers:
                self.send_header("Content-Length", "0")
            self.end_headers()  # no body: a HEAD's Content-Length is the blob's size
            return
        if host == LOGIN_HOST:
            form = dict(parse_qsl(raw.decode())) if raw else {}
            status, payload = self.azure.login(self.command, url.path, form)
        elif host == GITHUB_HOST:
            status, payload = self.azure.github(self.command, query, auth)
        elif host in (ARM_HOST, "127.0.0.1"):  # through the proxy, or addressed directly
            body = json.loads(raw) if raw else None
            status, headers, payload = self.azure.management(self.command, url.path, query,
                                                             body, auth)
        else:
            status, payload = 404, {"error": f"unknown host {host}"}
        content = b"" if payload is None else json.dumps(payload).encode()
        self.send_response(status)
        origin = f"https://{authority}"
        for key, value in headers.items():
            # ARM sends absolute operation URLs; the REST model gives paths.
            self.send_header(key, origin + value if value.startswith("/") else value)
        if payload is not None:
            self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(content)))
        self.end_headers()
        self.wfile.write(content)

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = _serve

    def log_message(self, format: str, *args: Any) -> None:
        pass


class _Proxy(StreamRequestHandler):
    azure: FakeAzure
    upstream: tuple[str, int]

    def handle(self) -> None:
        request = self.rfile.readline().decode("latin-1").split()
        while self.rfile.readline() not in (b"\r\n", b"\n", b""):
            pass  # the CONNECT request's headers
        if len(request) < 2 or request[0] != "CONNECT":
            self.wfile.write(b"HTTP/1.1 405 Method Not Allowed\r\n\r\n")
            return
        host = request[1].rsplit(":", 1)[0]
        self.azure.tunnels[host] += 1
        if host in self.azure.refuse:
            self.wfile.write(b"HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\n\r\n")
            return
        with socket.create_connection(self.upstream, timeout=10) as upstream:
            self.wfile.write(b"HTTP/1.1 200 Connection established\r\n\r\n")
            self.wfile.flush()
            _pipe(self.connection, upstream)


def _pipe(a: socket.socket, b: socket.socket) -> None:
    sockets = [a, b]
    while True:
        readable, _, _ = select.select(sockets, [], [], 30)
        if not readable:
            return
        for sock in readable:
            data = sock.recv(65536)
            if not data:
                return
            (b if sock is a else a).sendall(data)


@dataclass
class Endpoints:
    azure: FakeAzure
    proxy_url: str
    ca_bundle: Path
    origin: str  # the server itself, as ARM, for clients given a base URL

    def env(self, **extra: str) -> dict[str, str]:
        """The environment that routes a process's HTTPS to the fake, nothing else."""
        return {"HTTPS_PROXY": self.proxy_url, "https_proxy": self.proxy_url,
                "NO_PROXY": "", "no_proxy": "", "REQUESTS_CA_BUNDLE": str(self.ca_bundle),
                "SSL_CERT_FILE": str(self.ca_bundle), **extra}


@contextmanager
def fake_azure(folder: Path) -> Iterator[Endpoints]:
    ca = trustme.CA()
    cert = ca.issue_cert(ARM_HOST, LOGIN_HOST, GITHUB_HOST, "127.0.0.1", f"*{BLOB_SUFFIX}")
    ca_bundle = folder / "fake-azure-ca.pem"
    ca.cert_pem.write_to_path(str(ca_bundle))
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    cert.configure_cert(context)
    azure = FakeAzure()

    https = ThreadingHTTPServer(("127.0.0.1", 0), type("H", (_Handler,), {"azure": azure}))
    https.daemon_threads = True
    https.socket = context.wrap_socket(https.socket, server_side=True)
    proxy_handler = type("P", (_Proxy,), {"azure": azure,
                                          "upstream": ("127.0.0.1", https.server_address[1])})
    ThreadingTCPServer.allow_reuse_address = True
    proxy = ThreadingTCPServer(("127.0.0.1", 0), proxy_handler)
    proxy.daemon_threads = True
    threads = [threading.Thread(target=s.serve_forever, kwargs={"poll_interval": 0.05},
                                daemon=True) for s in (https, proxy)]
    for thread in threads:
        thread.start()
    try:
        yield Endpoints(azure, f"http://127.0.0.1:{proxy.server_address[1]}", ca_bundle,
                        f"https://127.0.0.1:{https.server_address[1]}")
    finally:
        for server in (https, proxy):
            server.shutdown()
            server.server_close()
