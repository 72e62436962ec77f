"""A real `celery -A cmp worker` on the real Redis: it answers a ping and carries out a paid order.

The worker is a separate process with the test database passed in DATABASE_URL, so the test commits its
rows (transaction=True) for the worker to see. Its own queue keeps it from taking anyone else's tasks, and
anyone else's worker from taking ours.
"""

import os
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import quote, urlsplit

import pytest
from django.conf import settings
from django.db import connection

from cmp.celery import app as celery_app
from cmp.tasks import ping_task
from marketplace.models import OrderState, ResourceState
from marketplace.services.orders import order_create, order_mark_paid
from marketplace.tasks import order_process_task
from tests.marketplace.factories import MembershipFactory, PlanFactory, UserFactory

pytestmark = [pytest.mark.services, pytest.mark.django_db(transaction=True)]

WORKER_START_TIMEOUT = 60  # the first task waits in the queue while the worker boots Django
TASK_TIMEOUT = 30


def _test_database_url() -> str:
    """DATABASE_URL for the database this test runs on (pytest-django's test_<name>)."""
    name = connection.settings_dict["NAME"]
    if os.environ.get("DATABASE_URL"):
        return urlsplit(os.environ["DATABASE_URL"])._replace(path="/" + quote(name)).geturl()
    database = connection.settings_dict  # the embedded server: its host is a socket directory
    host = quote(database["HOST"], safe="")
    return f"postgres://{quote(database['USER'])}@{host}:{database['PORT']}/{quote(name)}"


def _reset_connections() -> None:
    """Forget the broker connection pool and result backend made for the previous configuration.

    The pools themselves are shared through kombu's registry (keyed by broker URL): they are dropped
    here, not closed, so that the next user of the same URL still finds them open.
    """
    celery_app._pool = None
    celery_app.amqp._producer_pool = None
    celery_app._backend_cache = None
    celery_app._local.__dict__.pop("backend", None)


@contextmanager
def _producer_on(broker_url: str, queue: str) -> Iterator[None]:
    """Send tasks to Redis (not eagerly, as the rest of the suite does) on `queue`, then put things back."""
    keys = ("broker_url", "result_backend", "task_always_eager", "task_default_queue")
    saved = {key: celery_app.conf[key] for key in keys}
    celery_app.conf.update(
        broker_url=broker_url, result_backend=broker_url, task_always_eager=False, task_default_queue=queue
    )
    _reset_connections()
    try:
        yield
    finally:
        celery_app.conf.update(saved)
        _reset_connections()


@contextmanager
def _worker(*, broker_url: str, queue: str, log_path: Path) -> Iterator[subprocess.Popen]:
    env = {
        **os.environ,
        "DATABASE_URL": _test_database_url(),
        "REDIS_URL": broker_url,
        "CELERY_BROKER_URL": broker_url,
        "CELERY_RESULT_BACKEND": broker_url,
        "CELERY_TASK_ALWAYS_EAGER": "false",
        # Tasks the worker itself queues (provisioning after an order is processed) stay on our queue too.
        "CELERY_TASK_DEFAULT_QUEUE": queue,
        "DJANGO_SETTINGS_MODULE": "cmp.settings",
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


def _wait_for(condition, *, timeout: float, what: str, log_path: Path) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.2)
    pytest.fail(f"Timed out after {timeout}s waiting for {what}. Worker log:\n{log_path.read_text()[-4000:]}")


def test_a_real_worker_answers_ping_and_completes_a_paid_order(redis_url, tmp_path):
    queue = f"cmp-test-{uuid.uuid4().hex[:12]}"
    log_path = tmp_path / "worker.log"
    operator = UserFactory(is_staff=True)
    buyer = MembershipFactory(role="owner")
    plan = PlanFactory(price_minor=2900)
    order = order_create(organization=buyer.organization, plan=plan, actor=buyer.user)
    assert order.state == OrderState.PENDING_PAYMENT

    with (
        _producer_on(redis_url, queue),
        _worker(broker_url=redis_url, queue=queue, log_path=log_path) as worker,
    ):
        result = ping_task.delay()
        try:
            assert result.get(timeout=WORKER_START_TIMEOUT) == "pong"
        except Exception:
            pytest.fail(
                f"No pong from the worker (exit code {worker.poll()}). Log:\n{log_path.read_text()[-4000:]}"
            )

        # Committed at once (no surrounding transaction), so the task is queued and the worker sees the row.
        order_mark_paid(order=order, actor=operator, reference="wire-77")

        def order_is_done() -> bool:
            order.refresh_from_db()
            return order.state == OrderState.DONE

        _wait_for(
            order_is_done, timeout=TASK_TIMEOUT, what="the worker to complete the order", log_path=log_path
        )
        # Running the task again through the worker changes nothing: it is idempotent.
        completed_at = order.completed_at
        assert order_process_task.delay(order.pk).get(timeout=TASK_TIMEOUT) == OrderState.DONE

    assert worker.returncode is not None
    order.refresh_from_db()
    assert order.completed_at == completed_at
    assert order.payment_reference == "wire-77"
    assert order.resource.state == ResourceState.OK
    assert list(order.events.values_list("from_state", "to_state")) == [
        ("", "pending_payment"),
        ("pending_payment", "executing"),
        ("executing", "done"),
    ]
    assert celery_app.conf.task_always_eager is True
    log = log_path.read_text()
    assert "Task marketplace.tasks.order_process_task[" in log
    assert "succeeded" in log
