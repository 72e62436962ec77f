"""A real `lfx serve` process for the tests, started once per session on a free port."""

import os
import secrets
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

ROOT = Path(__file__).resolve().parent.parent
START_TIMEOUT = 120


def runtime_bin(name: str) -> Path | None:
    configured = os.environ.get("CMP_RUNTIME_PYTHON")
    directory = Path(configured).parent if configured else ROOT / ".venv-runtime" / "bin"
    candidate = directory / name
    return candidate if candidate.exists() else None


def missing_runtime(message: str):
    """Skip locally, but fail in CI (CMP_REQUIRE_SERVICES=1), where every service must be there."""
    if os.environ.get("CMP_REQUIRE_SERVICES"):
        pytest.fail(message)
    pytest.skip(message)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass(frozen=True)
class RuntimeServer:
    url: str
    api_key: str
    process: subprocess.Popen


def start_lfx_serve(flow_dir: Path, log_path: Path) -> RuntimeServer:
    lfx = runtime_bin("lfx")
    if lfx is None:
        missing_runtime("the runtime venv (.venv-runtime with lfx) is not installed; `make test` installs it")
    port = free_port()
    api_key = secrets.token_urlsafe(24)
    env = {**os.environ, "DO_NOT_TRACK": "true", "LANGFLOW_API_KEY": api_key}
    log = log_path.open("wb")
    process = subprocess.Popen(
        [str(lfx), "serve", "--flow-dir", str(flow_dir), "--host", "127.0.0.1", "--port", str(port)],
        stdout=log,
        stderr=subprocess.STDOUT,
        env=env,
        cwd=flow_dir,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"lfx serve exited with {process.returncode}; see {log_path}")
        try:
            if httpx.get(f"{url}/health", timeout=1).is_success:
                return RuntimeServer(url=url, api_key=api_key, process=process)
        except httpx.TransportError:
            pass
        time.sleep(0.5)
    process.kill()
    pytest.fail(f"lfx serve did not become healthy in {START_TIMEOUT}s; see {log_path}")


def stop(server: RuntimeServer) -> None:
    server.process.terminate()
    try:
        server.process.wait(timeout=15)
    except subprocess.TimeoutExpired:
        server.process.kill()
        server.process.wait(timeout=5)
