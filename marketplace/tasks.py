import logging

from celery import shared_task

from marketplace.services.orders import order_process, order_set_erred

logger = logging.getLogger(__name__)


@shared_task(acks_late=True)
def order_process_task(order_id: int) -> str:
    """Carry out an executing order; a failure marks it erred with the reason, for an operator to retry."""
    try:
        order = order_process(order_id=order_id)
    except Exception as error:
        logger.exception("Order %s failed", order_id)
        order = order_set_erred(order_id=order_id, message=str(error)[:1000])
    return order.state
