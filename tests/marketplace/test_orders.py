"""Order state machine: free plans run at once, paid plans wait for payment, every change is logged."""

import pytest

from marketplace.errors import ConflictError, InvalidTransition
from marketplace.models import OrderState, ResourceState
from marketplace.services.orders import (
    order_cancel,
    order_change_plan,
    order_create,
    order_mark_paid,
    order_terminate,
)
from tests.marketplace.factories import PlanFactory

pytestmark = pytest.mark.django_db


def test_free_plan_order_completes_without_payment(organization, user, django_capture_on_commit_callbacks):
    plan = PlanFactory(price_minor=0, name="Free")

    with django_capture_on_commit_callbacks(execute=True):
        order = order_create(organization=organization, plan=plan, actor=user)

    order.refresh_from_db()
    assert order.state == OrderState.DONE
    assert order.resource.state == ResourceState.OK
    assert order.resource.plan == plan
    assert list(order.events.values_list("from_state", "to_state")) == [
        ("", "executing"),
        ("executing", "done"),
    ]


def test_paid_plan_order_waits_for_payment_then_completes(
    organization, user, operator, django_capture_on_commit_callbacks
):
    plan = PlanFactory(price_minor=2900)

    with django_capture_on_commit_callbacks(execute=True):
        order = order_create(organization=organization, plan=plan, actor=user)
    order.refresh_from_db()
    assert order.state == OrderState.PENDING_PAYMENT
    assert order.resource is None

    with django_capture_on_commit_callbacks(execute=True):
        order_mark_paid(order=order, actor=operator, reference="manual-1")
    order.refresh_from_db()
    assert order.state == OrderState.DONE
    assert order.payment_reference == "manual-1"
    assert order.resource.state == ResourceState.OK


def test_cancelled_order_cannot_be_paid(organization, user, operator):
    order = order_create(organization=organization, plan=PlanFactory(price_minor=100), actor=user)
    order_cancel(order=order, actor=user)

    with pytest.raises(InvalidTransition):
        order_mark_paid(order=order, actor=operator)
    order.refresh_from_db()
    assert order.state == OrderState.CANCELED
    assert order.paid_at is None


def test_ordering_a_paused_offering_is_refused(organization, user):
    plan = PlanFactory(offering__state="paused")

    with pytest.raises(ConflictError):
        order_create(organization=organization, plan=plan, actor=user)
    assert organization.orders.count() == 0


def test_downgrade_runs_at_once_and_cancel_terminates(organization, user, django_capture_on_commit_callbacks):
    cheap = PlanFactory(price_minor=0, name="Free")
    dear = PlanFactory(offering=cheap.offering, price_minor=9900, name="Pro")
    with django_capture_on_commit_callbacks(execute=True):
        resource = order_create(organization=organization, plan=cheap, actor=user).resource
    resource_order = organization.orders.get()
    resource_order.refresh_from_db()
    resource = resource_order.resource

    with django_capture_on_commit_callbacks(execute=True):
        upgrade = order_change_plan(resource=resource, plan=dear, actor=user)
    upgrade.refresh_from_db()
    assert upgrade.state == OrderState.PENDING_PAYMENT
    resource.refresh_from_db()
    assert resource.plan == cheap

    order_cancel(order=upgrade, actor=user)
    with django_capture_on_commit_callbacks(execute=True):
        order_terminate(resource=resource, actor=user)
    resource.refresh_from_db()
    assert resource.state == ResourceState.TERMINATED
    assert resource.terminated_at is not None
