"""Fixtures for the operations tests: closed ports, a local RAGFlow double, a log capture."""

import io
import json
import logging
import socket

import pytest

from cmp import health
from cmp.log import JsonFormatter, RedactSecretsFilter, RequestIdFilter
from tests.fakes.ragflow_server import FakeRagflow


@pytest.fixture
def closed_port() -> int:
    """A port nothing listens on: bound for a moment to pick it, then released."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(autouse=True)
def _operations_defaults(settings):
    """Embedded-mode dependencies unless a test configures one; fresh dependency results every time."""
    settings.REDIS_URL = ""
    settings.RAGFLOW_BASE_URL = ""
    settings.RAGFLOW_API_KEY = ""
    settings.READINESS_OPTIONAL_CHECKS = []
    settings.HEALTH_CHECK_TIMEOUT = 2
    settings.METRICS_TOKEN = ""
    settings.METRICS_ALLOW_PRIVATE_NETWORKS = True
    health._remember([])


@pytest.fixture
def ragflow(settings):
    fake = FakeRagflow().start()
    settings.RAGFLOW_BASE_URL = fake.base_url
    settings.RAGFLOW_API_KEY = fake.api_key
    yield fake
    fake.stop()


class JsonLines:
    def __init__(self, stream: io.StringIO):
        self.stream = stream

    def entries(self) -> list[dict]:
        return [json.loads(line) for line in self.stream.getvalue().splitlines() if line]

    @property
    def text(self) -> str:
        return self.stream.getvalue()


@pytest.fixture
def json_log():
    """The root logger also writes to a buffer, through the production handler's filters and formatter."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    handler.addFilter(RequestIdFilter())
    handler.addFilter(RedactSecretsFilter())
    root = logging.getLogger()
    root.addHandler(handler)
    previous_level = root.level
    root.setLevel(logging.INFO)
    yield JsonLines(stream)
    root.removeHandler(handler)
    root.setLevel(previous_level)
