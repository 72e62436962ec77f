"""A real `celery -A cmp worker` for tests marked `services`: started on Redis against the test database,
on a queue of its own, with the test process sending tasks there instead of running them eagerly.

The worker is a separate process, so the test must commit its rows (`django_db(transaction=True)`) for
the worker to see them. Its own queue keeps it from taking anyone else's tasks, and anyone else's worker
from taking ours.
"""

import os
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import quote, urlsplit

import pytest
from django.conf import settings
from django.db import connection

from cmp.celery import app as celery_app

WORKER_START_TIMEOUT = 60  # the first task waits in the queue while the worker boots Django
TASK_TIMEOUT = 30


def new_queue_name() -> str:
    return f"cmp-test-{uuid.uuid4().hex[:12]}"


def database_url_of_test_run() -> str:
    """DATABASE_URL for the database this test runs on (pytest-django's test_<name>)."""
    name = connection.settings_dict["NAME"]
    if os.environ.get("DATABASE_URL"):
        return urlsplit(os.environ["DATABASE_URL"])._replace(path="/" + quote(name)).geturl()
    database = connection.settings_dict  # the embedded server: its host is a socket directory
    host = quote(database["HOST"], safe="")
    return f"postgres://{quote(database['USER'])}@{host}:{database['PORT']}/{quote(name)}"


def reset_connections() -> None:
    """Forget the broker connection pool and result backend made for the previous configuration.

    The pools themselves are shared through kombu's registry (keyed by broker URL): they are dropped
    here, not closed, so that the next user of the same URL still finds them open.
    """
    celery_app._pool = None
    celery_app.amqp._producer_pool = None
    celery_app._backend_cache = None
    celery_app._local.__dict__.pop("backend", None)


@contextmanager
def producer_on(broker_url: str, queue: str) -> Iterator[None]:
    """Send tasks to Redis (not eagerly, as the rest of the suite does) on `queue`, then put things back."""
    keys = ("broker_url", "result_backend", "task_always_eager", "task_default_queue")
    saved = {key: celery_app.conf[key] for key in keys}
    celery_app.conf.update(
        broker_url=broker_url, result_backend=broker_url, task_always_eager=False, task_default_queue=queue
    )
    reset_connections()
    try:
        yield
    finally:
        celery_app.conf.update(saved)
        reset_connections()


def runtime_environment(runtime_settings) -> dict[str, str]:
    """The environment that points a worker at the same runtime as the test (the `runtime_settings`
    fixture changes only this process's settings)."""
    return {
        "RUNTIME_KIND": runtime_settings.RUNTIME_KIND,
        "RUNTIME_URL": runtime_settings.RUNTIME_URL,
        "RUNTIME_API_KEY": runtime_settings.RUNTIME_API_KEY,
        "RUNTIME_TIMEOUT": str(runtime_settings.RUNTIME_TIMEOUT),
    }


@contextmanager
def worker(
    *, broker_url: str, queue: str, log_path: Path, extra_env: dict[str, str] | None = None
) -> Iterator[subprocess.Popen]:
    """A worker process consuming only `queue`, stopped (and waited for) on exit."""
    env = {
        **os.environ,
        "DATABASE_URL": database_url_of_test_run(),
        "REDIS_URL": broker_url,
        "CELERY_BROKER_URL": broker_url,
        "CELERY_RESULT_BACKEND": broker_url,
        "CELERY_TASK_ALWAYS_EAGER": "false",
        # Tasks the worker itself queues (provisioning after an order is processed) stay on our queue too.
        "CELERY_TASK_DEFAULT_QUEUE": queue,
        "DJANGO_SETTINGS_MODULE": "cmp.settings",
        **(extra_env or {}),
    }
    command = [
        sys.executable,
        "-m",
        "celery",
        "-A",
        "cmp",
        "worker",
        "--pool=solo",
        "--loglevel=INFO",
        "--queues",
        queue,
        "--hostname",
        f"{queue}@%h",
        "--without-gossip",
        "--without-mingle",
        "--without-heartbeat",
    ]
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            command, cwd=settings.BASE_DIR, env=env, stdout=log, stderr=subprocess.STDOUT
        )
    try:
        yield process
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)


def wait_for(condition: Callable[[], bool], *, timeout: float, what: str, log_path: Path) -> None:
    """Poll `condition` until it holds; fail with the worker's log after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.2)
    pytest.fail(f"Timed out after {timeout}s waiting for {what}. Worker log:\n{log_path.read_text()[-4000:]}")


def wait_for_pong(process: subprocess.Popen, log_path: Path) -> None:
    """Block until the worker has booted and answers a ping task."""
    from cmp.tasks import ping_task

    result = ping_task.delay()
    try:
        answer = result.get(timeout=WORKER_START_TIMEOUT)
    except Exception:
        log = log_path.read_text()[-4000:]
        pytest.fail(f"No pong from the worker (exit code {process.poll()}). Log:\n{log}")
    assert answer == "pong"
