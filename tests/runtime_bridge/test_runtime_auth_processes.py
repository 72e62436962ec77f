"""A revocation reaches every process: `POST /api/runtime/auth/` served by gunicorn with two worker processes,
each keeping the checked key in its near cache, refuses the key on the first call after it is revoked here.

The server is a real gunicorn on the test database (rows are committed) and the same Redis cache as this
process, so the revocation's cache write is the only thing that can tell the workers.
"""

import os
import secrets
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
import redis
from django.conf import settings

from site_agent.models import ApiKey
from site_agent.services.api_keys import api_key_create, api_key_revoke
from tests.site_agent.factories import ConfigFactory
from tests.worker import database_url_of_test_run

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.services]

ROOT = Path(__file__).resolve().parents[2]
WORKERS = 2
NEAR_CACHE_LISTENER = "cmp-near-cache-"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _worker_pids(master_pid: int) -> set[int]:
    children = Path(f"/proc/{master_pid}/task/{master_pid}/children").read_text().split()
    return {int(pid) for pid in children}


@pytest.fixture
def gunicorn(redis_url):
    """(base URL, runtime token, master pid) of a gunicorn with two workers; stopped afterwards."""
    token = secrets.token_urlsafe(24)
    port = _free_port()
    environment = {
        **os.environ,
        "DATABASE_URL": database_url_of_test_run(),
        "REDIS_URL": redis_url,
        "CACHE_URL": settings.CACHES["default"]["LOCATION"],  # the cache this process writes to
        "DEBUG": "false",
        "SECRET_KEY": secrets.token_urlsafe(32),
        "ALLOWED_HOSTS": "127.0.0.1",
        "SECURE_SSL_REDIRECT": "false",
        "RUNTIME_SERVICE_TOKEN": token,
        "LOG_LEVEL": "WARNING",
    }
    command = [sys.executable, "-m", "gunicorn", "cmp.wsgi", "--workers", str(WORKERS)]
    process = subprocess.Popen(
        [*command, "--bind", f"127.0.0.1:{port}", "--log-level", "warning"],
        cwd=ROOT,
        env=environment,
        start_new_session=True,
    )
    base_url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            assert process.poll() is None, f"gunicorn exited with code {process.returncode}"
            try:
                ping = httpx.get(
                    f"{base_url}/api/runtime/ping/", headers={"Authorization": f"Bearer {token}"}
                )
                if ping.status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, "gunicorn did not start within 60 s"
            time.sleep(0.2)
        yield base_url, token, process.pid
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=15)


def _check(base_url: str, token: str, key: str) -> httpx.Response:
    # A new connection each time, so that both workers take calls
    return httpx.post(
        f"{base_url}/api/runtime/auth/", json={"api_key": key}, headers={"Authorization": f"Bearer {token}"}
    )


def _listening_workers(master_pid: int) -> set[int]:
    """Workers whose near cache has its invalidation connection open (each names it with its pid)."""
    client = redis.Redis.from_url(settings.CACHES["default"]["LOCATION"])
    names = [entry["name"] for entry in client.client_list() if entry["name"].startswith(NEAR_CACHE_LISTENER)]
    client.close()
    pids = {int(name.removeprefix(NEAR_CACHE_LISTENER).split("-")[0]) for name in names}
    return pids & _worker_pids(master_pid)


def test_a_key_cached_in_every_worker_is_refused_by_all_of_them_right_after_revocation(gunicorn):
    base_url, token, master_pid = gunicorn
    config = ConfigFactory(deployment_state="deployed", runtime_flow_id="flow-1")
    _api_key, key = api_key_create(config=config, name="Site", actor=None)

    # Given both workers have checked the key (and keep it locally)
    calls = 0
    while len(_listening_workers(master_pid)) < WORKERS:
        assert calls < 200, "the calls never reached both workers"
        assert _check(base_url, token, key).status_code == 200
        calls += 1
    assert [_check(base_url, token, key).status_code for _ in range(20)] == [200] * 20

    # When the buyer revokes it here
    api_key_revoke(api_key=ApiKey.objects.get(), actor=None)

    # Then no worker serves it again, not even once
    answers = [_check(base_url, token, key) for _ in range(40)]
    assert {answer.status_code for answer in answers} == {401}
    assert {answer.json()["reason"] for answer in answers} == {"revoked"}
    assert (
        len(_listening_workers(master_pid)) == WORKERS
    )  # still served from near caches, not by reconnecting
