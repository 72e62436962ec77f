"""Diagnostic tasks: prove that a worker is consuming from the broker and can answer."""

from celery import shared_task


@shared_task
def ping_task() -> str:
    """Answer "pong": `ping_task.delay().get(timeout=10)` checks the broker, a worker and the results."""
    return "pong"
