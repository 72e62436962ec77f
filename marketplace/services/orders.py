"""Orders and the resources (subscriptions) they create, change and cancel.

An order's state changes only here, one service per transition, each writing an OrderEvent:

    pending_payment -> executing -> done | erred        (erred -> executing when an operator retries)
    pending_payment -> canceled (buyer) | rejected (operator)

Free plans and cancellations skip payment. Executing orders are processed by a Celery task after commit.
"""

import logging
from datetime import timedelta

from django.db import transaction
from django.utils import timezone

from marketplace.errors import ApplicationError, ConflictError, InvalidTransition
from marketplace.models import (
    Order,
    OrderEvent,
    OrderState,
    OrderType,
    Organization,
    Plan,
    Resource,
    ResourceState,
)

logger = logging.getLogger(__name__)

ORDER_TRANSITIONS: dict[str, set[str]] = {
    OrderState.PENDING_PAYMENT: {OrderState.EXECUTING, OrderState.CANCELED, OrderState.REJECTED},
    OrderState.EXECUTING: {OrderState.DONE, OrderState.ERRED},
    OrderState.ERRED: {OrderState.EXECUTING},
    OrderState.DONE: set(),
    OrderState.CANCELED: set(),
    OrderState.REJECTED: set(),
}
RESOURCE_TRANSITIONS: dict[str, set[str]] = {
    ResourceState.CREATING: {ResourceState.OK, ResourceState.ERRED},
    ResourceState.OK: {ResourceState.UPDATING, ResourceState.TERMINATING},
    ResourceState.UPDATING: {ResourceState.OK, ResourceState.ERRED},
    ResourceState.TERMINATING: {ResourceState.TERMINATED, ResourceState.ERRED},
    ResourceState.ERRED: {
        ResourceState.CREATING,
        ResourceState.OK,
        ResourceState.UPDATING,
        ResourceState.TERMINATING,
    },
    ResourceState.TERMINATED: set(),
}
PERIOD_LENGTH = {"month": timedelta(days=30), "year": timedelta(days=365)}


def _order_transition(
    *,
    order: Order,
    to_state: str,
    actor=None,
    message: str = "",
    from_states: set[str] | None = None,
    **changes,
) -> Order:
    """`from_states` narrows the table for services that mean one edge only (retry is erred -> executing)."""
    order = Order.objects.select_for_update().get(pk=order.pk)
    allowed_from = from_states is None or order.state in from_states
    if to_state not in ORDER_TRANSITIONS[order.state] or not allowed_from:
        raise InvalidTransition(entity="order", from_state=order.state, to_state=to_state)
    from_state = order.state
    order.state = to_state
    for field, value in changes.items():
        setattr(order, field, value)
    order.save(update_fields=["state", *changes, "updated_at"])
    OrderEvent.objects.create(
        order=order, from_state=from_state, to_state=to_state, actor=actor, message=message
    )
    return order


def _resource_transition(*, resource: Resource, to_state: str, **changes) -> Resource:
    resource = Resource.objects.select_for_update().get(pk=resource.pk)
    if to_state not in RESOURCE_TRANSITIONS[resource.state]:
        raise InvalidTransition(entity="subscription", from_state=resource.state, to_state=to_state)
    resource.state = to_state
    for field, value in changes.items():
        setattr(resource, field, value)
    resource.save(update_fields=["state", *changes, "updated_at"])
    return resource


def _enqueue_processing(order: Order) -> None:
    from marketplace.tasks import order_process_task

    order_pk = order.pk
    transaction.on_commit(lambda: order_process_task.delay(order_pk))


def _start(order: Order, *, actor, needs_payment: bool) -> Order:
    """A new order waits for payment, or starts executing at once."""
    initial = OrderState.PENDING_PAYMENT if needs_payment else OrderState.EXECUTING
    order.state = initial
    order.save()
    OrderEvent.objects.create(
        order=order,
        from_state="",
        to_state=initial,
        actor=actor,
        message="Waiting for payment." if needs_payment else "",
    )
    if not needs_payment:
        _enqueue_processing(order)
    return order


def _check_orderable(plan: Plan) -> None:
    if not plan.offering.is_orderable:
        raise ConflictError("This offering is not available for ordering.", code="not_orderable")
    if plan.is_archived:
        raise ConflictError("This plan is no longer sold.", code="plan_archived")


@transaction.atomic
def order_create(*, organization: Organization, plan: Plan, actor) -> Order:
    """Subscribe an organisation to an offering on a plan."""
    plan = Plan.objects.select_related("offering").get(pk=plan.pk)
    _check_orderable(plan)
    order = Order(
        organization=organization,
        offering=plan.offering,
        plan=plan,
        type=OrderType.CREATE,
        created_by=actor,
        cost_minor=plan.price_minor,
        currency=plan.currency,
    )
    return _start(order, actor=actor, needs_payment=not plan.is_free)


def _check_not_included(resource: Resource) -> None:
    """A subscription a bundle includes lives and ends with the bundle's subscription."""
    if resource.included_in_id is not None:
        bundle = Resource.objects.only("name").get(pk=resource.included_in_id)
        raise ConflictError(
            f"This subscription is part of the {bundle.name} bundle: change or cancel the bundle.",
            code="included_in_bundle",
        )


def _check_no_open_change(resource: Resource) -> None:
    open_states = [OrderState.PENDING_PAYMENT, OrderState.EXECUTING]
    if resource.orders.filter(state__in=open_states).exclude(type=OrderType.CREATE).exists():
        raise ConflictError("This subscription already has a change in progress.", code="change_in_progress")


@transaction.atomic
def order_change_plan(*, resource: Resource, plan: Plan, actor) -> Order:
    """Move a subscription to another plan of the same offering. A dearer plan is paid for first, and so is
    leaving a free plan for a usage-based one (its calls are billed from then on)."""
    resource = Resource.objects.select_for_update().select_related("plan").get(pk=resource.pk)
    plan = Plan.objects.select_related("offering").get(pk=plan.pk)
    _check_not_included(resource)
    if resource.state != ResourceState.OK:
        raise ConflictError("Only an active subscription can change plan.", code="not_active")
    if plan.offering_id != resource.offering_id:
        raise ApplicationError(
            "Choose a plan of the same offering.", errors={"plan": ["Plan of another offering."]}
        )
    if plan.pk == resource.plan_id:
        raise ConflictError("The subscription is already on this plan.", code="same_plan")
    _check_orderable(plan)
    _check_no_open_change(resource)
    order = Order(
        organization=resource.organization,
        offering=resource.offering,
        plan=plan,
        resource=resource,
        type=OrderType.UPDATE,
        created_by=actor,
        cost_minor=plan.price_minor,
        currency=plan.currency,
    )
    leaves_free_plan = resource.plan.is_free and not plan.is_free
    needs_payment = plan.price_minor > resource.plan.price_minor or leaves_free_plan
    return _start(order, actor=actor, needs_payment=needs_payment)


@transaction.atomic
def order_terminate(*, resource: Resource, actor, via_bundle: bool = False) -> Order:
    """Cancel a subscription. One a bundle includes is cancelled only with the bundle (`via_bundle`, the
    bundle's cancellation cancelling what it includes)."""
    resource = Resource.objects.select_for_update().get(pk=resource.pk)
    if not via_bundle:
        _check_not_included(resource)
    if resource.state not in {ResourceState.OK, ResourceState.ERRED}:
        raise ConflictError("This subscription cannot be cancelled now.", code="not_cancellable")
    _check_no_open_change(resource)
    order = Order(
        organization=resource.organization,
        offering=resource.offering,
        plan=resource.plan,
        resource=resource,
        type=OrderType.TERMINATE,
        created_by=actor,
        currency=resource.plan.currency,
    )
    return _start(order, actor=actor, needs_payment=False)


@transaction.atomic
def order_mark_paid(*, order: Order, actor, reference: str = "") -> Order:
    """Payment confirmed (by an operator in manual mode, or by the payment provider)."""
    order = _order_transition(
        order=order,
        to_state=OrderState.EXECUTING,
        actor=actor,
        message=f"Payment confirmed{f' ({reference})' if reference else ''}.",
        from_states={OrderState.PENDING_PAYMENT},
        paid_at=timezone.now(),
        payment_reference=reference,
    )
    _enqueue_processing(order)
    return order


@transaction.atomic
def order_approve(*, order: Order, actor) -> Order:
    """An operator lets an order proceed without payment."""
    order = _order_transition(
        order=order,
        to_state=OrderState.EXECUTING,
        actor=actor,
        message="Approved by an operator without payment.",
        from_states={OrderState.PENDING_PAYMENT},
    )
    _enqueue_processing(order)
    return order


@transaction.atomic
def order_reject(*, order: Order, actor, reason: str = "") -> Order:
    return _order_transition(
        order=order,
        to_state=OrderState.REJECTED,
        actor=actor,
        message=reason or "Rejected by an operator.",
        completed_at=timezone.now(),
    )


@transaction.atomic
def order_cancel(*, order: Order, actor) -> Order:
    """The buyer withdraws an order that has not been paid."""
    return _order_transition(
        order=order,
        to_state=OrderState.CANCELED,
        actor=actor,
        message="Cancelled by the buyer.",
        completed_at=timezone.now(),
    )


@transaction.atomic
def order_retry(*, order: Order, actor) -> Order:
    """An operator runs a failed order again."""
    order = _order_transition(
        order=order,
        to_state=OrderState.EXECUTING,
        actor=actor,
        message="Retried.",
        error_message="",
        from_states={OrderState.ERRED},
    )
    _enqueue_processing(order)
    return order


def _period_end(start, plan: Plan):
    return start + PERIOD_LENGTH.get(plan.billing_period, PERIOD_LENGTH["month"])


def _resource_name(organization: Organization, plan: Plan) -> str:
    count = Resource.objects.filter(organization=organization, offering=plan.offering).count()
    return plan.offering.name if count == 0 else f"{plan.offering.name} #{count + 1}"


@transaction.atomic
def resource_create_for_bundle(*, organization: Organization, plan: Plan, included_in: Resource) -> Resource:
    """A subscription that comes with another one (an offering included in the bundle subscription
    `included_in`): no order or payment of its own, and changed or cancelled only with the bundle. Saved in
    creating, it is provisioned like any other."""
    return Resource.objects.create(
        organization=organization,
        offering=plan.offering,
        plan=plan,
        name=_resource_name(organization, plan),
        state=ResourceState.CREATING,
        included_in=included_in,
    )


@transaction.atomic
def order_process(*, order_id: int) -> Order:
    """Start carrying out an executing order. Idempotent: an order that is no longer executing is left alone.

    The order's resource moves to creating, updating or terminating; saving it is what starts the work
    (runtime_bridge listens to Resource post_save and provisions after commit). The provisioner reports back
    through `resource_set_ok`, `resource_set_terminated` or `resource_set_erred`, which finish the order.
    """
    order = (
        Order.objects.select_for_update(of=("self",))
        .select_related("plan__offering", "resource")
        .get(pk=order_id)
    )
    if order.state != OrderState.EXECUTING:
        logger.info("Order %s is %s, nothing to process.", order.uuid, order.state)
        return order
    if order.type == OrderType.CREATE:
        resource = order.resource
        if resource is None:
            resource = Resource.objects.create(
                organization=order.organization,
                offering=order.offering,
                plan=order.plan,
                name=_resource_name(order.organization, order.plan),
                state=ResourceState.CREATING,
            )
            order.resource = resource
            order.save(update_fields=["resource", "updated_at"])
        elif resource.state == ResourceState.ERRED:
            _resource_transition(resource=resource, to_state=ResourceState.CREATING, error_message="")
    elif order.type == OrderType.UPDATE:
        if order.resource.state != ResourceState.UPDATING:
            _resource_transition(resource=order.resource, to_state=ResourceState.UPDATING, plan=order.plan)
    elif order.resource.state != ResourceState.TERMINATING:
        _resource_transition(resource=order.resource, to_state=ResourceState.TERMINATING)
    return order


def _finish_open_order(resource: Resource, *, to_state: str, message: str = "") -> None:
    order = (
        resource.orders.select_for_update().filter(state=OrderState.EXECUTING).order_by("-created_at").first()
    )
    if order is None:
        return
    changes = {"completed_at": timezone.now()} if to_state == OrderState.DONE else {"error_message": message}
    _order_transition(order=order, to_state=to_state, message=message, **changes)


@transaction.atomic
def resource_set_ok(*, resource_id: int) -> Resource:
    """The provisioner finished creating or updating the resource: it is active and its order is done."""
    resource = Resource.objects.select_for_update().select_related("plan").get(pk=resource_id)
    if resource.state == ResourceState.OK:
        return resource
    changes: dict = {"error_message": ""}
    if resource.current_period_start is None:
        now = timezone.now()
        changes.update(current_period_start=now, current_period_end=_period_end(now, resource.plan))
    resource = _resource_transition(resource=resource, to_state=ResourceState.OK, **changes)
    _finish_open_order(resource, to_state=OrderState.DONE)
    return resource


@transaction.atomic
def resource_set_terminated(*, resource_id: int) -> Resource:
    resource = Resource.objects.select_for_update().get(pk=resource_id)
    if resource.state == ResourceState.TERMINATED:
        return resource
    resource = _resource_transition(
        resource=resource, to_state=ResourceState.TERMINATED, terminated_at=timezone.now()
    )
    _finish_open_order(resource, to_state=OrderState.DONE)
    return resource


@transaction.atomic
def resource_set_erred(*, resource_id: int, message: str) -> Resource:
    """The provisioner gave up: the resource and its order are erred, for an operator to retry."""
    resource = Resource.objects.select_for_update().get(pk=resource_id)
    if resource.state in (ResourceState.ERRED, ResourceState.TERMINATED):
        return resource
    resource = _resource_transition(
        resource=resource, to_state=ResourceState.ERRED, error_message=message[:2000]
    )
    _finish_open_order(resource, to_state=OrderState.ERRED, message=message[:1000])
    return resource


@transaction.atomic
def order_set_erred(*, order_id: int, message: str) -> Order:
    order = Order.objects.select_for_update().get(pk=order_id)
    if order.state != OrderState.EXECUTING:
        return order
    return _order_transition(order=order, to_state=OrderState.ERRED, message=message, error_message=message)
