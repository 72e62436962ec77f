"""Billing follows what happens to orders and subscriptions elsewhere; receivers only enqueue or record."""

from django.db import transaction
from django.db.models.signals import post_save
from django.dispatch import receiver

from marketplace.models import OrderEvent, OrderState, OrderType, Resource, ResourceState
from marketplace.signals import offering_published

STRIPE_REFERENCE_PREFIXES = ("sub_", "in_", "cs_")


@receiver(post_save, sender=Resource, dispatch_uid="billing.resource_changed")
def resource_changed(sender, instance: Resource, created: bool, update_fields=None, **kwargs) -> None:
    """A subscription being cancelled or changing plan outside billing's pages: keep Stripe in step."""
    if created or (update_fields is not None and "state" not in update_fields):
        return
    from billing import tasks
    from billing.models import BillingSubscription
    from billing.stripe_client import stripe_enabled

    if instance.state == ResourceState.OK:
        _mirror_billed_period(instance, BillingSubscription)
        return
    task = {
        ResourceState.TERMINATING: tasks.subscription_cancel_now_task,
        ResourceState.UPDATING: tasks.subscription_follow_plan_task,
    }.get(instance.state)
    if task is None or not stripe_enabled():
        return
    if (
        not BillingSubscription.objects.filter(order__resource=instance)
        .exclude(stripe_subscription_id=None)
        .exists()
    ):
        return
    resource_id = instance.pk
    transaction.on_commit(lambda: task.delay(resource_id))


@receiver(post_save, sender=Resource, dispatch_uid="billing.bundle_resource_changed")
def bundle_resource_changed(sender, instance: Resource, created: bool, update_fields=None, **kwargs) -> None:
    """A subscription to a bundle makes its included subscriptions when created and ends them when it ends."""
    if not created and (update_fields is None or "state" not in update_fields):
        return
    from billing import tasks
    from billing.services.bundles import is_bundle

    task = {
        ResourceState.CREATING: tasks.bundle_resource_expand_task,
        ResourceState.OK: tasks.bundle_resource_expand_task,
        ResourceState.TERMINATING: tasks.bundle_resource_terminate_task,
    }.get(instance.state)
    if task is None or not is_bundle(instance.offering_id):
        return
    resource_id = instance.pk
    transaction.on_commit(lambda: task.delay(resource_id))


@receiver(offering_published, dispatch_uid="billing.offering_published")
def offering_published_received(sender, offering, **kwargs) -> None:
    """Stripe products and prices exist before the first buyer reaches Checkout."""
    from billing import tasks
    from billing.stripe_client import stripe_enabled

    if not stripe_enabled():
        return
    offering_id = offering.pk
    transaction.on_commit(lambda: tasks.offering_prices_sync_task.delay(offering_id))


@receiver(post_save, sender=OrderEvent, dispatch_uid="billing.order_paid")
def order_paid(sender, instance: OrderEvent, created: bool, **kwargs) -> None:
    """A payment confirmed outside Stripe (an operator in admin) is recorded as a local invoice."""
    if (
        not created
        or instance.from_state != OrderState.PENDING_PAYMENT
        or instance.to_state != OrderState.EXECUTING
    ):
        return
    order = instance.order
    if order.payment_reference.startswith(STRIPE_REFERENCE_PREFIXES) or order.paid_at is None:
        return  # Stripe-paid (its invoice comes by webhook), or approved without payment
    from billing.services.checkout import manual_subscription_record
    from billing.services.invoices import manual_invoice_record

    if order.type == OrderType.CREATE:
        manual_subscription_record(order=order)
    manual_invoice_record(order=order)


def _mirror_billed_period(resource: Resource, billing_model) -> None:
    """A subscription paid through Stripe shows the period Stripe bills, not one counted from set-up."""
    billed = (
        billing_model.objects.filter(order__resource=resource, current_period_end__isnull=False)
        .values("current_period_start", "current_period_end")
        .first()
    )
    if billed and billed["current_period_end"] != resource.current_period_end:
        Resource.objects.filter(pk=resource.pk).update(**billed)
