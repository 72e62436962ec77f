"""A real `celery -A cmp worker` on the real Redis: it answers a ping and carries out a paid order.

The worker (`tests/worker.py`) is a separate process with the test database passed in DATABASE_URL, so the
test commits its rows (transaction=True) for the worker to see, on a queue of its own.
"""

import pytest

from cmp.celery import app as celery_app
from marketplace.models import OrderState, ResourceState
from marketplace.services.orders import order_create, order_mark_paid
from marketplace.tasks import order_process_task
from tests.marketplace.factories import MembershipFactory, PlanFactory, UserFactory
from tests.worker import TASK_TIMEOUT, new_queue_name, producer_on, wait_for, wait_for_pong, worker

pytestmark = [pytest.mark.services, pytest.mark.django_db(transaction=True)]


def test_a_real_worker_answers_ping_and_completes_a_paid_order(redis_url, tmp_path):
    queue = new_queue_name()
    log_path = tmp_path / "worker.log"
    operator = UserFactory(is_staff=True)
    buyer = MembershipFactory(role="owner")
    plan = PlanFactory(price_minor=2900)
    order = order_create(organization=buyer.organization, plan=plan, actor=buyer.user)
    assert order.state == OrderState.PENDING_PAYMENT

    with (
        producer_on(redis_url, queue),
        worker(broker_url=redis_url, queue=queue, log_path=log_path) as process,
    ):
        wait_for_pong(process, log_path)

        # Committed at once (no surrounding transaction), so the task is queued and the worker sees the row.
        order_mark_paid(order=order, actor=operator, reference="wire-77")

        def order_is_done() -> bool:
            order.refresh_from_db()
            return order.state == OrderState.DONE

        wait_for(
            order_is_done, timeout=TASK_TIMEOUT, what="the worker to complete the order", log_path=log_path
        )
        # Running the task again through the worker changes nothing: it is idempotent.
        completed_at = order.completed_at
        assert order_process_task.delay(order.pk).get(timeout=TASK_TIMEOUT) == OrderState.DONE

    assert process.returncode is not None
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
