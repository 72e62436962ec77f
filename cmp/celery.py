"""The Celery application: Redis when REDIS_URL (or CELERY_BROKER_URL) is set, eager execution otherwise."""

import logging
import os

from celery import Celery
from celery.signals import worker_init

from cmp.log import connect_celery_signals

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "cmp.settings")

app = Celery("cmp")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()

logger = logging.getLogger(__name__)

connect_celery_signals()  # the request id travels with the tasks a request queues


@app.on_after_configure.connect
def _announce_mode(sender: Celery, **kwargs) -> None:
    if sender.conf.task_always_eager:
        logger.info("Celery: no broker configured (REDIS_URL unset), tasks run eagerly in-process.")


@worker_init.connect
def _announce_worker(sender=None, **kwargs) -> None:
    logger.info("Celery worker using broker %s", app.conf.broker_url and app.conf.broker_url.split("@")[-1])


@worker_init.connect
def _start_metrics_exporter(sender=None, **kwargs) -> None:
    """CELERY_METRICS_PORT set: serve the pool's Prometheus counters there (Kubernetes scrapes it)."""
    port = os.environ.get("CELERY_METRICS_PORT")
    if port:
        from cmp.metrics import start_worker_exporter

        start_worker_exporter(int(port))
