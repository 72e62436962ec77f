"""Start provisioning when a resource enters creating, updating or terminating, redeploy a config moved to
another agent version, and deploy a listing's demo flow when it goes live (each after commit)."""

from django.conf import settings
from django.db import transaction
from django.db.models.signals import post_save
from django.dispatch import receiver

from marketplace.models import Resource, ResourceState
from marketplace.signals import offering_published
from site_agent.signals import config_version_changed


@receiver(post_save, sender=Resource, dispatch_uid="runtime_bridge.resource_changed")
def resource_changed(sender, instance: Resource, created: bool, update_fields=None, **kwargs) -> None:
    if update_fields is not None and "state" not in update_fields and not created:
        return
    from runtime_bridge import tasks

    task = {
        ResourceState.CREATING: tasks.resource_provision_task,
        ResourceState.UPDATING: tasks.resource_update_task,
        ResourceState.TERMINATING: tasks.resource_terminate_task,
    }.get(instance.state)
    if task is not None:
        resource_id = instance.pk
        transaction.on_commit(lambda: task.delay(resource_id))


@receiver(config_version_changed, dispatch_uid="runtime_bridge.config_version_changed")
def config_version_changed_redeploy(sender, config_id: int, **kwargs) -> None:
    from runtime_bridge.tasks import config_redeploy_task

    transaction.on_commit(lambda: config_redeploy_task.delay(config_id))


@receiver(offering_published, dispatch_uid="runtime_bridge.offering_published")
def offering_published_deploy_demo(sender, offering, **kwargs) -> None:
    if not settings.RUNTIME_URL:
        return
    from runtime_bridge.tasks import offering_demo_deploy_task

    offering_id = offering.pk
    transaction.on_commit(lambda: offering_demo_deploy_task.delay(offering_id))
