import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from marketplace_ai import tasks
from tests.fakes.ragflow_server import FakeRagflow


@pytest.fixture(autouse=True)
def _no_poll_wait(monkeypatch):
    """Eager tasks poll RAGFlow inline; the fake needs no time between polls."""
    monkeypatch.setattr(tasks, "POLL_INTERVAL_SECONDS", 0)


@pytest.fixture(autouse=True)
def _builtin_backend(settings):
    settings.RAGFLOW_BASE_URL = ""
    settings.KNOWLEDGE_URL_FETCH_ALLOW_PRIVATE = False


@pytest.fixture
def fake_ragflow(settings):
    fake = FakeRagflow().start()
    settings.RAGFLOW_BASE_URL = fake.base_url
    settings.RAGFLOW_API_KEY = fake.api_key
    settings.RAGFLOW_TIMEOUT = 5
    yield fake
    fake.stop()


class LocalSite:
    """A real http.server on 127.0.0.1 (loopback) serving a few pages; records the paths asked for."""

    PAGES = {
        "/shipping": (
            200,
            "text/html; charset=utf-8",
            b"<!doctype html><html><head><title>Shipping help</title><style>.x{color:red}</style>"
            b"<script>var secret = 'do-not-index';</script></head><body><h1>Shipping</h1>"
            b"<p>Parcels leave our warehouse within two working days.</p></body></html>",
        ),
        "/missing": (404, "text/html", b"<h1>Not found</h1>"),
        "/broken": (503, "text/html", b"<h1>Busy</h1>"),
        "/binary": (200, "application/octet-stream", b"MZ\x90\x00\x03\x00\x00\x00" + b"\x00" * 64),
    }

    def __init__(self):
        self.paths: list[str] = []
        self.redirects: dict[str, str] = {}
        site = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_GET(self):
                site.paths.append(self.path)
                if self.path in site.redirects:
                    self.send_response(302)
                    self.send_header("Location", site.redirects[self.path])
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                status, content_type, body = site.PAGES.get(self.path, (404, "text/plain", b"not found"))
                self.send_response(status)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True).start()

    def url(self, path: str, host: str = "127.0.0.1") -> str:
        return f"http://{host}:{self.server.server_address[1]}{path}"

    def stop(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def local_site():
    site = LocalSite()
    yield site
    site.stop()
