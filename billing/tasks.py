"""Billing tasks: load by id, call a service, stop. Stripe outages are retried with backoff and jitter."""

import logging
import random

from celery import shared_task

from billing.services import bundles, subscriptions, usage
from billing.services.stripe_objects import offering_sync_prices
from billing.services.webhooks import webhook_event_process
from marketplace.models import Offering

logger = logging.getLogger(__name__)

MAX_RETRIES = 10


def _backoff(retries: int) -> int:
    return min(3600, 10 * 2**retries) + random.randint(0, 10)  # noqa: S311 - jitter


@shared_task(bind=True, acks_late=True, max_retries=MAX_RETRIES)
def webhook_event_process_task(self, event_id: int) -> None:
    """A failed event stays `failed` with its error (admin shows it and can replay); a worker retries it."""
    try:
        webhook_event_process(event_id=event_id)
    except Exception as error:
        if self.request.is_eager or self.request.retries >= self.max_retries:
            return  # recorded on the event; nothing would run a retry without a worker
        raise self.retry(exc=error, countdown=_backoff(self.request.retries)) from error


@shared_task(bind=True, acks_late=True, max_retries=MAX_RETRIES)
def subscription_cancel_now_task(self, resource_id: int) -> None:
    try:
        subscriptions.subscription_cancel_now(resource_id=resource_id)
    except Exception as error:
        logger.warning("Cancelling the Stripe subscription of resource %s failed: %s", resource_id, error)
        if self.request.is_eager or self.request.retries >= self.max_retries:
            return
        raise self.retry(exc=error, countdown=_backoff(self.request.retries)) from error


@shared_task(bind=True, acks_late=True, max_retries=MAX_RETRIES)
def subscription_follow_plan_task(self, resource_id: int) -> None:
    try:
        subscriptions.subscription_follow_plan(resource_id=resource_id)
    except Exception as error:
        logger.warning("Moving the Stripe price of resource %s failed: %s", resource_id, error)
        if self.request.is_eager or self.request.retries >= self.max_retries:
            return
        raise self.retry(exc=error, countdown=_backoff(self.request.retries)) from error


@shared_task(acks_late=True)
def overage_report_task() -> int:
    return len(usage.overage_report_all())


@shared_task(acks_late=True)
def grace_period_enforce_task() -> int:
    return subscriptions.grace_period_enforce_all()


@shared_task(acks_late=True)
def scheduled_changes_apply_task() -> int:
    return subscriptions.scheduled_changes_apply()


def _retry(task, error: Exception, what: str) -> None:
    logger.warning("%s failed: %s", what, error)
    if task.request.is_eager or task.request.retries >= task.max_retries:
        return
    raise task.retry(exc=error, countdown=_backoff(task.request.retries)) from error


@shared_task(bind=True, acks_late=True, max_retries=MAX_RETRIES)
def offering_prices_sync_task(self, offering_id: int) -> None:
    """A published offering's Stripe product and prices; checkout creates any still missing on demand."""
    try:
        offering_sync_prices(offering=Offering.objects.get(pk=offering_id))
    except Exception as error:
        _retry(self, error, f"Creating the Stripe prices of offering {offering_id}")


@shared_task(bind=True, acks_late=True, max_retries=MAX_RETRIES)
def bundle_resource_expand_task(self, resource_id: int) -> None:
    try:
        bundles.bundle_resource_expand(resource_id=resource_id)
    except Exception as error:
        _retry(self, error, f"Making the included subscriptions of bundle subscription {resource_id}")


@shared_task(bind=True, acks_late=True, max_retries=MAX_RETRIES)
def bundle_resource_terminate_task(self, resource_id: int) -> None:
    try:
        bundles.bundle_resource_terminate(resource_id=resource_id)
    except Exception as error:
        _retry(self, error, f"Cancelling the included subscriptions of bundle subscription {resource_id}")
