"""Factories for agents and buyer configs (an agent offering, a subscription and its config)."""

import hashlib

import factory

from site_agent.models import AgentIdentity, AgentVersion, CustomerAgentConfig
from tests.marketplace.factories import OfferingFactory, PlanFactory, ResourceFactory

MINIMAL_FLOW = {"name": "Echo", "data": {"nodes": [], "edges": []}}


class AgentFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = AgentIdentity
        skip_postgeneration_save = True

    offering = factory.SubFactory(OfferingFactory)
    provider = factory.SelfAttribute("offering.provider")
    category = factory.SelfAttribute("offering.category")
    name = factory.SelfAttribute("offering.name")
    slug = factory.SelfAttribute("offering.slug")

    @factory.post_generation
    def version(obj, create, extracted, **kwargs):
        if not create:
            return
        version = AgentVersion.objects.create(
            agent=obj,
            version="1.0.0",
            flow_json=MINIMAL_FLOW,
            sha256=hashlib.sha256(f"agent-{obj.pk}".encode()).hexdigest(),
            node_count=0,
            edge_count=0,
        )
        obj.current_version = version
        obj.save(update_fields=["current_version"])


class ConfigFactory(factory.django.DjangoModelFactory):
    """A subscription (resource ok) to an agent offering, with its config."""

    class Meta:
        model = CustomerAgentConfig

    agent = factory.SubFactory(AgentFactory)
    agent_version = factory.SelfAttribute("agent.current_version")
    resource = factory.SubFactory(
        ResourceFactory,
        plan=factory.SubFactory(PlanFactory, offering=factory.SelfAttribute("...agent.offering")),
    )
    organization = factory.SelfAttribute("resource.organization")
    agent_name = "Support Bot"
    widget_id = factory.Sequence(lambda n: f"wid_test{n}")
