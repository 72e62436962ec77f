"""Importing a Studio export: agent, immutable versions and a draft offering; bad flows change nothing."""

import json

import pytest

from marketplace.models import Category, Offering, OfferingState
from marketplace.selectors import offering_search
from marketplace.services.catalogue import offering_submit, plan_template_apply
from runtime_bridge.services import InvalidFlow, flow_import, flow_import_version
from site_agent.models import AgentIdentity, AgentVersion
from tests.marketplace.factories import ServiceProviderFactory, UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def seller():
    return UserFactory()


@pytest.fixture
def provider():
    return ServiceProviderFactory(is_trusted=True)


def test_import_creates_agent_version_and_draft_offering(provider, seller, support_flow):
    agent, report = flow_import(
        provider=provider,
        category=Category.objects.get(slug="agents"),
        raw=json.dumps(support_flow),
        actor=seller,
    )

    version = agent.versions.get()
    assert (agent.name, agent.offering.state) == ("Customer Support Agent", OfferingState.DRAFT)
    assert agent.offering.provider == provider
    assert agent.current_version == version
    assert (version.version, version.node_count, version.edge_count) == ("1.0.0", 3, 2)
    assert version.required_variables == ["CMP_CONTEXT"]
    assert version.sha256 == report.sha256
    assert version.source_flow_id == support_flow["id"]


def test_same_content_twice_creates_no_new_version(provider, seller, support_flow):
    agent, _ = flow_import(
        provider=provider, category=Category.objects.get(slug="agents"), raw=support_flow, actor=seller
    )
    moved = json.loads(json.dumps(support_flow))
    moved["data"]["nodes"][0]["position"] = {"x": 1, "y": 1}

    version, created, _ = flow_import_version(agent=agent, raw=moved, actor=seller)

    assert created is False
    assert version.version == "1.0.0"
    assert AgentVersion.objects.filter(agent=agent).count() == 1


def test_changed_content_is_the_next_minor_version(provider, seller, support_flow):
    agent, _ = flow_import(
        provider=provider, category=Category.objects.get(slug="agents"), raw=support_flow, actor=seller
    )
    prompt = next(n for n in support_flow["data"]["nodes"] if n["data"]["type"] == "Prompt Template")
    prompt["data"]["node"]["template"]["template"]["value"] = "Short answer to {question}: {context}"

    version, created, _ = flow_import_version(
        agent=agent, raw=support_flow, actor=seller, changelog="Shorter."
    )

    agent.refresh_from_db()
    assert created is True
    assert version.version == "1.1.0"
    assert agent.current_version == version
    assert version.changelog == "Shorter."


def test_invalid_flow_changes_nothing(provider, seller, support_flow):
    support_flow["data"]["edges"].append(
        {"source": "nowhere", "target": support_flow["data"]["nodes"][0]["id"]}
    )

    with pytest.raises(InvalidFlow) as raised:
        flow_import(
            provider=provider, category=Category.objects.get(slug="agents"), raw=support_flow, actor=seller
        )

    assert raised.value.errors["flow"] == [
        {
            "code": "unknown_edge_node",
            "message": "Edge #3 points to unknown source node 'nowhere'.",
            "node_id": "nowhere",
        }
    ]
    assert (AgentIdentity.objects.count(), AgentVersion.objects.count(), Offering.objects.count()) == (
        0,
        0,
        0,
    )


def test_secret_from_the_upload_is_never_stored(provider, seller, llm_flow):
    model = next(n for n in llm_flow["data"]["nodes"] if n["data"]["type"] == "LanguageModelComponent")
    model["data"]["node"]["template"]["api_key"].update(
        load_from_db=False, value="sk-live-SUPERSECRET0123456789abcd"
    )

    agent, _ = flow_import(
        provider=provider, category=Category.objects.get(slug="agents"), raw=llm_flow, actor=seller
    )

    stored = AgentVersion.objects.filter(agent=agent).values_list("flow_json", flat=True).get()
    assert "SUPERSECRET" not in json.dumps(stored)


def test_imported_agent_published_is_in_the_public_catalogue(provider, seller, support_flow):
    agent, _ = flow_import(
        provider=provider,
        category=Category.objects.get(slug="agents"),
        raw=support_flow,
        actor=seller,
        description="Answers from your help centre.",
    )
    plan_template_apply(offering=agent.offering, actor=seller)

    offering_submit(offering=agent.offering, actor=seller, terms_accepted=True)

    assert list(offering_search(query="support")) == [agent.offering]
    assert offering_search(query="support")[0].state == OfferingState.ACTIVE
