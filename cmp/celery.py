"""The Celery application: Redis when REDIS_URL (or CELERY_BROKER_URL) is set, eager execution otherwise."""

import logging
import os

from celery import Celery
from celery.signals import worker_init

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "cmp.settings")

app = Celery("cmp")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()

logger = logging.getLogger(__name__)


@app.on_after_configure.connect
def _announce_mode(sender: Celery, **kwargs) -> None:
    if sender.conf.task_always_eager:
        logger.info("Celery: no broker configured (REDIS_URL unset), tasks run eagerly in-process.")


@worker_init.connect
def _announce_worker(sender=None, **kwargs) -> None:
    logger.info("Celery worker using broker %s", app.conf.broker_url and app.conf.broker_url.split("@")[-1])
