"""site_agent tasks: load by id, call a service, stop.

Webhook deliveries: one attempt per run; a failure worth retrying is tried again with exponential backoff
and jitter until the service gives up (MAX_ATTEMPTS). Without a worker (tasks run in-process, the embedded
mode) there is no "later", so the attempts are made at once, one after another.
"""

import logging
import random

from celery import shared_task

from site_agent.services.webhooks import MAX_ATTEMPTS, DeliveryStatus, webhook_delivery_attempt

logger = logging.getLogger(__name__)

BACKOFF_BASE_SECONDS = 30
BACKOFF_MAX_SECONDS = 6 * 60 * 60


def webhook_backoff(retries: int) -> float:
    """30 s, 1 min, 2 min, ... up to 6 h, plus up to a quarter more at random so retries spread out."""
    delay = min(BACKOFF_MAX_SECONDS, BACKOFF_BASE_SECONDS * 2**retries)
    return delay + random.uniform(0, delay / 4)  # noqa: S311 - jitter, not security


@shared_task(bind=True, acks_late=True, max_retries=MAX_ATTEMPTS)
def webhook_deliver_task(self, delivery_id: int) -> str | None:
    """Send one webhook delivery; retried while its status is `retrying`."""
    while True:
        delivery = webhook_delivery_attempt(delivery_id=delivery_id)
        if delivery is None:
            return None
        if delivery.status != DeliveryStatus.RETRYING:
            return delivery.status
        if not self.request.is_eager:
            raise self.retry(countdown=webhook_backoff(self.request.retries))
