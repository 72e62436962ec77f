"""Real Langflow exports, generated at test time by the installed `lfx` (in the runtime's own venv)."""

import json
import os
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def runtime_python() -> Path | None:
    configured = os.environ.get("CMP_RUNTIME_PYTHON")
    candidate = Path(configured) if configured else ROOT / ".venv-runtime" / "bin" / "python"
    return candidate if candidate.exists() else None


@pytest.fixture(scope="session")
def sample_flows(tmp_path_factory) -> dict[str, dict]:
    """The five sample products' flows, built with lfx's graph API: {slug: export}."""
    python = runtime_python()
    if python is None:
        message = "the runtime venv (.venv-runtime with lfx) is not installed; `make test` installs it"
        if os.environ.get("CMP_REQUIRE_SERVICES"):
            pytest.fail(message)
        pytest.skip(message)
    output = tmp_path_factory.mktemp("flows")
    subprocess.run(
        [str(python), str(ROOT / "scripts" / "build_sample_flows.py"), str(output)],
        check=True,
        capture_output=True,
        timeout=180,
        env={**os.environ, "DO_NOT_TRACK": "true"},
    )
    return {path.stem: json.loads(path.read_text()) for path in sorted(output.glob("*.json"))}


@pytest.fixture
def support_flow(sample_flows) -> dict:
    return json.loads(json.dumps(sample_flows["customer-support-agent"]))


@pytest.fixture
def llm_flow(sample_flows) -> dict:
    return json.loads(json.dumps(sample_flows["code-review-agent"]))


@pytest.fixture(scope="session")
def lfx_runtime(tmp_path_factory):
    """A real `lfx serve`, empty, with filesystem-backed flows."""
    from tests.runtime_server import start_lfx_serve, stop

    base = tmp_path_factory.mktemp("lfx")
    (base / "flows").mkdir()
    server = start_lfx_serve(base / "flows", base / "lfx.log")
    yield server
    stop(server)


@pytest.fixture
def runtime_settings(settings, lfx_runtime):
    settings.RUNTIME_KIND = "lfx"
    settings.RUNTIME_URL = lfx_runtime.url
    settings.RUNTIME_API_KEY = lfx_runtime.api_key
    settings.RUNTIME_TIMEOUT = 30
    return settings
