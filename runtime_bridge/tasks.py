"""Provisioning tasks: load by id, call a service, stop. Runtime outages are retried with backoff."""

import logging
import random

from celery import shared_task

from cmp.errors import NotFoundError
from cmp.metrics import PROVISIONING_FAILURES
from marketplace.models import Offering
from marketplace.services.orders import resource_set_erred
from runtime_bridge import provisioning
from runtime_bridge.runtime_client import RuntimeRejected, RuntimeUnavailable
from site_agent.models import CustomerAgentConfig
from site_agent.services.configs import config_record_deployment_failure

logger = logging.getLogger(__name__)

MAX_RETRIES = 8  # about 25 minutes of backoff in all


def _backoff(retries: int) -> int:
    return min(600, 5 * 2**retries) + random.randint(0, 5)  # noqa: S311 - jitter


def _run(task, operation, resource_id: int) -> None:
    operation_label = operation.__name__.removeprefix("resource_")
    try:
        operation(resource_id=resource_id)
    except RuntimeUnavailable as error:
        PROVISIONING_FAILURES.labels(operation=operation_label, reason="runtime_unavailable").inc()
        config = CustomerAgentConfig.objects.filter(resource_id=resource_id).first()
        if config is not None:
            config_record_deployment_failure(config=config, message=error.detail)
        if task.request.is_eager or task.request.retries >= task.max_retries:
            # Without a worker (embedded mode) nothing would run a retry later: give up now, visibly; an
            # operator can retry the order from admin.
            resource_set_erred(
                resource_id=resource_id, message=f"The runtime stayed unavailable: {error.detail}"
            )
            return
        logger.warning("Resource %s: runtime unavailable, retry %s", resource_id, task.request.retries + 1)
        raise task.retry(exc=error, countdown=_backoff(task.request.retries)) from error
    except RuntimeRejected as error:
        PROVISIONING_FAILURES.labels(operation=operation_label, reason="runtime_rejected").inc()
        resource_set_erred(resource_id=resource_id, message=error.detail)


@shared_task(bind=True, acks_late=True, max_retries=MAX_RETRIES)
def resource_provision_task(self, resource_id: int) -> None:
    _run(self, provisioning.resource_provision, resource_id)


@shared_task(bind=True, acks_late=True, max_retries=MAX_RETRIES)
def resource_update_task(self, resource_id: int) -> None:
    _run(self, provisioning.resource_update, resource_id)


@shared_task(bind=True, acks_late=True, max_retries=MAX_RETRIES)
def resource_terminate_task(self, resource_id: int) -> None:
    _run(self, provisioning.resource_terminate, resource_id)


@shared_task(bind=True, acks_late=True, max_retries=MAX_RETRIES)
def config_redeploy_task(self, config_id: int) -> None:
    """Replace a config's runtime flow with its (new) agent version. The flow id stays the config's uuid, so a
    repeat deploys the same thing again; outages are retried like provisioning, and failures are shown on the
    config (the runtime keeps serving the previous flow meanwhile)."""
    config = CustomerAgentConfig.objects.select_related("agent_version").filter(pk=config_id).first()
    if config is None or config.is_read_only:
        return
    try:
        provisioning.config_deploy(config=config)
    except RuntimeUnavailable as error:
        PROVISIONING_FAILURES.labels(operation="redeploy", reason="runtime_unavailable").inc()
        config_record_deployment_failure(config=config, message=error.detail)
        if self.request.is_eager or self.request.retries >= self.max_retries:
            return
        logger.warning("Config %s: runtime down, redeploy retry %s", config_id, self.request.retries + 1)
        raise self.retry(exc=error, countdown=_backoff(self.request.retries)) from error
    except RuntimeRejected as error:
        PROVISIONING_FAILURES.labels(operation="redeploy", reason="runtime_rejected").inc()
        config_record_deployment_failure(config=config, message=error.detail)


# --- Automations -------------------------------------------------------------------------------------

WORKFLOW_MAX_RETRIES = 5


def _workflow_backoff(retries: int) -> int:
    return min(300, 15 * 2**retries) + random.randint(0, 10)  # noqa: S311 - jitter


@shared_task(acks_late=True)
def workflows_due_task() -> int:
    """Every minute (Celery beat): queue a run of each scheduled automation that is due."""
    from runtime_bridge.workflows import workflows_enqueue_due

    return workflows_enqueue_due()


@shared_task(bind=True, acks_late=True, max_retries=WORKFLOW_MAX_RETRIES)
def workflow_run_task(self, run_id: int) -> None:
    """One attempt at an automation run; a runtime outage is retried with backoff, and after the last retry
    the run fails with the outage as its error (attempts and errors stay visible in the run history)."""
    from runtime_bridge.workflows import workflow_run_execute

    if self.request.is_eager:
        # Without a worker (embedded mode) nothing would run a retry later: make the attempts now, in a row.
        for retries in range(self.max_retries + 1):
            try:
                workflow_run_execute(run_id=run_id, is_final_attempt=retries >= self.max_retries)
            except RuntimeUnavailable:
                continue
            return
        return
    try:
        workflow_run_execute(run_id=run_id, is_final_attempt=self.request.retries >= self.max_retries)
    except RuntimeUnavailable as error:
        logger.warning("Workflow run %s: runtime unavailable, retry %s", run_id, self.request.retries + 1)
        raise self.retry(exc=error, countdown=_workflow_backoff(self.request.retries)) from error


@shared_task(bind=True, acks_late=True, max_retries=3)
def offering_demo_deploy_task(self, offering_id: int) -> None:
    """Deploy a listing that just went live as its demo flow, so its first visitor's "Try it" does not wait
    for a deploy. The demo chat deploys it itself when this has not happened (or the runtime restarted)."""
    from runtime_bridge import gateway

    offering = Offering.objects.filter(pk=offering_id).only("uuid").first()
    if offering is None:
        return
    try:
        gateway.demo_flow_deploy(offering=gateway.demo_offering_get(offering_uuid=offering.uuid))
    except NotFoundError:
        return  # no agent version to try, or no longer active
    except RuntimeUnavailable as error:
        if self.request.is_eager or self.request.retries >= self.max_retries:
            logger.warning("Offering %s: demo flow not deployed, the runtime is down", offering_id)
            return
        raise self.retry(exc=error, countdown=_backoff(self.request.retries)) from error
    except RuntimeRejected as error:
        logger.warning("Offering %s: the runtime refused the demo flow: %s", offering_id, error.detail)
