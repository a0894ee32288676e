"""Start the processes the Pulumi engine starts, and speak their gRPC protocols with the
stubs that ship in the `pulumi` package: the dynamic provider host
(`python -u -m pulumi.dynamic <engine address>`, cwd the project directory) and a
policy pack (`python -u -m pulumi.policy <engine address> <pack directory>`, cwd the pack).

Each prints its port on its first stdout line, as the engine expects. Both are started
with `-X importtime`, so a test can list every module the process imported.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from concurrent import futures
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grpc
from google.protobuf import empty_pb2, struct_pb2
from pulumi.runtime import rpc
from pulumi.runtime.proto import (
    analyzer_pb2_grpc,
    engine_pb2_grpc,
    provider_pb2,
    provider_pb2_grpc,
)
from pulumi.runtime.sync_await import _sync_await

START_TIMEOUT_S = 30
#: Where the engine starts the dynamic provider host: the project directory.
PROJECT_DIR = Path(__file__).resolve().parent.parent


@dataclass
class HostProcess:
    process: subprocess.Popen[bytes]
    channel: grpc.Channel
    stderr: Path

    def imported_modules(self) -> set[str]:
        """Every module the process imported so far (from its -X importtime lines)."""
        names = set()
        for line in self.stderr.read_text(errors="replace").splitlines():
            if line.startswith("import time:") and "|" in line:
                names.add(line.rsplit("|", 1)[1].strip())
        return names

    def diagnostics(self) -> str:
        return "\n".join(line for line in self.stderr.read_text(errors="replace").splitlines()
                         if not line.startswith("import time:"))


class _Engine(engine_pb2_grpc.EngineServicer):
    """Where plugins send log lines; recorded for assertions."""

    def __init__(self) -> None:
        self.logs: list[str] = []

    def Log(self, request: Any, context: Any) -> Any:
        self.logs.append(request.message)
        return empty_pb2.Empty()

    def GetRootResource(self, request: Any, context: Any) -> Any:
        from pulumi.runtime.proto import engine_pb2
        return engine_pb2.GetRootResourceResponse(urn="")

    def SetRootResource(self, request: Any, context: Any) -> Any:
        from pulumi.runtime.proto import engine_pb2
        return engine_pb2.SetRootResourceResponse()


@contextmanager
def fake_engine() -> Iterator[tuple[str, _Engine]]:
    engine = _Engine()
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=2))
    engine_pb2_grpc.add_EngineServicer_to_server(engine, server)
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    try:
        yield f"127.0.0.1:{port}", engine
    finally:
        server.stop(0)


@contextmanager
def host_process(args: list[str], *, cwd: Path, env: dict[str, str],
                 log_dir: Path) -> Iterator[HostProcess]:
    stderr_path = log_dir / f"host-{len(list(log_dir.glob('host-*')))}.stderr"
    with open(stderr_path, "wb") as stderr:
        process = subprocess.Popen(
            [sys.executable, "-X", "importtime", "-u", "-m", *args], cwd=cwd, env=env,
            stdout=subprocess.PIPE, stderr=stderr)
    try:
        assert process.stdout is not None
        line = process.stdout.readline().decode().strip()
        if not line.isdigit():
            process.kill()
            raise AssertionError(f"no port from {args}: {line!r}\n"
                                 f"{stderr_path.read_text(errors='replace')[-3000:]}")
        channel = grpc.insecure_channel(f"127.0.0.1:{line}")
        grpc.channel_ready_future(channel).result(timeout=START_TIMEOUT_S)
        yield HostProcess(process, channel, stderr_path)
        channel.close()
    finally:
        process.kill()
        process.wait(timeout=10)
        if process.stdout is not None:
            process.stdout.close()


def clean_env(**extra: str) -> dict[str, str]:
    """The environment of a CLI user with none of this checkout's test settings and no
    Azure credentials of its own: the tests add exactly what they mean to."""
    drop = ("PYTHONPATH", "AZURE_", "ARM_", "ACTIONS_ID_TOKEN", "HTTPS_PROXY", "HTTP_PROXY",
            "https_proxy", "http_proxy", "REQUESTS_CA_BUNDLE", "SSL_CERT_FILE", "PULUMI_")
    env = {k: v for k, v in os.environ.items() if not k.startswith(drop)}
    env["PATH"] = os.pathsep.join(p for p in env.get("PATH", "").split(os.pathsep)
                                  if "azure-cli" not in p)
    return {**env, **extra}


def provider_stub(host: HostProcess) -> Any:
    return provider_pb2_grpc.ResourceProviderStub(host.channel)


def analyzer_stub(host: HostProcess) -> Any:
    return analyzer_pb2_grpc.AnalyzerStub(host.channel)


def to_struct(values: dict[str, Any]) -> struct_pb2.Struct:
    """Properties as the engine puts them on the wire (unknowns and secrets included)."""
    return _sync_await(rpc.serialize_properties(values, {}))


def from_struct(struct: struct_pb2.Struct) -> dict[str, Any]:
    return rpc.deserialize_properties(struct, keep_unknowns=True)


def start(tmp_path: Path, engine: Any, env: dict[str, str], cwd: Path = PROJECT_DIR) -> Any:
    return host_process(["pulumi.dynamic", engine[0]], cwd=cwd, env=env, log_dir=tmp_path)


def configure(stub: Any, config: dict[str, Any] | None = None) -> None:
    """As the engine does after GetPluginInfo: the whole stack config, `ns:key` keys,
    secret values wrapped (pulumi/pulumi#17673)."""
    stub.GetPluginInfo(empty_pb2.Empty())
    response = stub.Configure(provider_pb2.ConfigureRequest(
        args=to_struct(config or {}), acceptSecrets=True, acceptResources=True))
    assert response.acceptSecrets is False  # so the engine strips secrets from props


def vm_of(reg: Any) -> tuple[str, str]:
    inputs = reg.inputs
    return inputs["resourceGroupName"], inputs["vmName"]
