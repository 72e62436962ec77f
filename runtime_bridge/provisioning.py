"""Provisioning: a buyer's subscription becomes a config and a flow of its own in the runtime.

Creating:    config (defaults from the agent) + knowledge base -> deploy the agent version as flow
             `config.uuid` -> resource ok, order done.
Updating:    (plan or version change) redeploy the flow, refresh cached key contexts -> resource ok.
Terminating: remove the flow, revoke keys, remove documents from the index, archive the config read-only
             -> resource terminated.

Each step is idempotent, so a retried task never deploys twice: the flow id is the config's uuid and
deploying replaces. No database transaction is held open across a runtime call.
"""

import logging

from django.core.exceptions import ObjectDoesNotExist
from django.db import transaction
from django.utils import timezone

from marketplace.models import Resource, ResourceState
from marketplace.services.orders import resource_set_ok, resource_set_terminated
from marketplace_ai.services.knowledge_bases import knowledge_base_archive, knowledge_base_create
from runtime_bridge.runtime_client import get_runtime_client
from site_agent.models import CustomerAgentConfig
from site_agent.services.api_keys import api_key_cache_clear_for_config
from site_agent.services.configs import (
    config_archive,
    config_create_for_resource,
    config_record_deployment,
)

logger = logging.getLogger(__name__)


def _agent_of(resource: Resource):
    try:
        return resource.offering.agent
    except ObjectDoesNotExist:
        return None


def runtime_flow_name(config: CustomerAgentConfig) -> str:
    return f"cmp-{config.uuid}"


def config_deploy(*, config: CustomerAgentConfig) -> CustomerAgentConfig:
    """Deploy (or redeploy) the config's agent version into the runtime as the config's own flow."""
    flow = config.agent_version.flow_json
    with get_runtime_client() as runtime:
        deployed = runtime.deploy_flow(flow, flow_id=str(config.uuid), name=runtime_flow_name(config))
    return config_record_deployment(config=config, flow_id=deployed.flow_id, endpoint=deployed.endpoint)


def _knowledge_base_for(resource: Resource):
    return knowledge_base_create(organization=resource.organization, name=f"{resource.name} knowledge")


def resource_provision(*, resource_id: int) -> CustomerAgentConfig | None:
    """Carry out a creating resource. Returns its config, or None for an offering without an agent."""
    resource = Resource.objects.select_related("offering", "organization", "plan").get(pk=resource_id)
    if resource.state != ResourceState.CREATING:
        logger.info("Resource %s is %s: nothing to provision.", resource.uuid, resource.state)
        return getattr(resource, "agent_config", None)
    if _agent_of(resource) is None:
        resource_set_ok(resource_id=resource.pk)
        return None
    with transaction.atomic():
        config = CustomerAgentConfig.objects.filter(resource=resource).first()
        if config is None:
            config, _created = config_create_for_resource(
                resource=resource, knowledge_base=_knowledge_base_for(resource)
            )
    config = config_deploy(config=config)
    resource_set_ok(resource_id=resource.pk)
    logger.info("Provisioned %s as runtime flow %s", resource.uuid, config.runtime_flow_id)
    return config


def resource_update(*, resource_id: int) -> CustomerAgentConfig | None:
    resource = Resource.objects.select_related("offering").get(pk=resource_id)
    if resource.state != ResourceState.UPDATING:
        return getattr(resource, "agent_config", None)
    config = CustomerAgentConfig.objects.filter(resource=resource).first()
    if config is not None:
        config = config_deploy(config=config)
        api_key_cache_clear_for_config(config_id=config.pk)
    resource_set_ok(resource_id=resource.pk)
    return config


def resource_terminate(*, resource_id: int) -> None:
    resource = Resource.objects.get(pk=resource_id)
    if resource.state != ResourceState.TERMINATING:
        return
    config = CustomerAgentConfig.objects.filter(resource=resource).select_related("knowledge_base").first()
    if config is not None:
        if config.runtime_flow_id:
            with get_runtime_client() as runtime:
                runtime.delete_flow(config.runtime_flow_id)
        with transaction.atomic():
            config.api_keys.filter(revoked_at__isnull=True).update(revoked_at=timezone.now())
            config_archive(config=config)
        if config.knowledge_base_id:
            knowledge_base_archive(knowledge_base=config.knowledge_base)
    resource_set_terminated(resource_id=resource.pk)
