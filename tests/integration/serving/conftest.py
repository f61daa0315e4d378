"""One real registry, one real `mlflow server` over it and one `alphaloop serve` per session."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest

from tests.conftest import REPO
from tests.integration.serving import registry_setup

TOKEN = "test-token-not-a-secret"
POLL_S = 0.5
STALE_S = 1.5


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_until(url: str, deadline_s: float, process: subprocess.Popen[bytes], log: Path,
               ready: Callable[[httpx.Response], bool] = lambda answer: True,
               headers: dict[str, str] | None = None) -> None:
    """Until GET ``url`` answers 200 and ``ready(answer)``; fails fast if the process exits."""
    end = time.monotonic() + deadline_s
    while time.monotonic() < end:
        if process.poll() is not None:
            raise RuntimeError(f"{url}: process exited ({process.returncode}):\n"
                               f"{log.read_text()[-3000:]}")
        with contextlib.suppress(httpx.HTTPError):
            answer = httpx.get(url, timeout=2, headers=headers)
            if answer.status_code == 200 and ready(answer):
                return
        time.sleep(0.25)
    raise TimeoutError(f"{url} not ready after {deadline_s} s:\n{log.read_text()[-3000:]}")


def stop(process: subprocess.Popen[bytes]) -> None:
    """SIGTERM the process group we started, SIGKILL if it lingers."""
    if process.poll() is not None:
        return
    os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=10)


@dataclass
class MlflowServer:
    """``mlflow server`` over the test registry's sqlite store; stopped to cut the registry."""

    backend: str
    log: Path
    port: int = field(default_factory=free_port)
    process: subprocess.Popen[bytes] | None = None

    @property
    def uri(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        cmd = [sys.executable, "-m", "mlflow", "server", "--backend-store-uri", self.backend,
               "--host", "127.0.0.1", "--port", str(self.port), "--workers", "1"]
        with self.log.open("ab") as out:
            self.process = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT,
                                            start_new_session=True)
        wait_until(f"{self.uri}/health", 90, self.process, self.log)

    def stop(self) -> None:
        if self.process is not None:
            stop(self.process)


@dataclass
class Server:
    url: str
    log: Path
    process: subprocess.Popen[bytes]

    def client(self, token: str | None = TOKEN) -> httpx.Client:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        return httpx.Client(base_url=self.url, headers=headers, timeout=60)


@pytest.fixture(scope="session")
def registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[registry_setup.Registry]:
    import mlflow

    built = registry_setup.build(tmp_path_factory.mktemp("serving-registry"))
    yield built
    mlflow.set_tracking_uri(None)


@pytest.fixture(scope="session")
def mlflow_server(registry: registry_setup.Registry) -> Iterator[MlflowServer]:
    server = MlflowServer(registry.tracking_uri, registry.root / "mlflow-server.log")
    server.start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def server(registry: registry_setup.Registry, mlflow_server: MlflowServer
           ) -> Iterator[Server]:
    """``alphaloop serve`` as a user runs it, against the registry over HTTP, token on."""
    port, log = free_port(), registry.root / "serve.log"
    env = {**os.environ, "ALPHALOOP_MLFLOW_TRACKING_URI": mlflow_server.uri,
           "ALPHALOOP_API_TOKEN": TOKEN, "PYTHONPATH": str(REPO)}
    params = registry.root / "params.yaml"
    # Batching on: the in-process round trip through BentoML's batcher is the path with the
    # most moving parts (the default, batching off, runs in bench/serving.py).
    params.write_text(f"serving:\n  stale_after_s: {STALE_S}\n  shadow_alias: challenger\n"
                      "  batching: true\n")
    cmd = [sys.executable, "-m", "pipelines.cli", "serve", "--params", str(params),
           "--port", str(port), "--poll-interval", str(POLL_S)]
    with log.open("wb") as out:
        process = subprocess.Popen(cmd, cwd=registry.root, env=env, stdout=out,
                                   stderr=subprocess.STDOUT, start_new_session=True)
    try:
        wait_until(f"http://127.0.0.1:{port}/readyz", 180, process, log)
        yield Server(f"http://127.0.0.1:{port}", log, process)
    finally:
        stop(process)
