"""The seller API: /api/flows/import/ and /api/provider-agents/ through the HTTP client."""

import json

import pytest

from marketplace.models import Offering, OfferingState
from site_agent.models import AgentIdentity, AgentVersion
from tests.conftest import client_for
from tests.marketplace.factories import MembershipFactory, PlanFactory, ServiceProviderFactory, UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def provider():
    return ServiceProviderFactory(is_trusted=True)


@pytest.fixture
def seller(provider):
    user = UserFactory()
    MembershipFactory(organization=provider.organization, user=user, role="manager")
    return user


def _import(client, provider, flow, **extra):
    body = {"flow_json": flow, "category": "agents", "provider_uuid": str(provider.uuid), **extra}
    return client.post("/api/flows/import/", body, format="json")


def test_import_returns_the_created_offering_agent_and_version(seller, provider, support_flow):
    response = _import(client_for(seller), provider, support_flow, description="Help-centre answers.")

    assert response.status_code == 201, response.json()
    body = response.json()
    agent = AgentIdentity.objects.get(uuid=body["agent_uuid"])
    assert body["offering_uuid"] == str(agent.offering.uuid)
    assert (body["version"], body["status"]) == ("1.0.0", "created")
    assert body["report"]["summary"] == "Nodes: 3 | Edges: 2"
    assert body["report"]["required_variables"] == ["CMP_CONTEXT"]
    assert agent.offering.state == OfferingState.DRAFT


def test_import_accepts_the_file_text(seller, provider, support_flow):
    response = _import(client_for(seller), provider, json.dumps(support_flow))

    assert response.status_code == 201


def test_invalid_flow_is_a_400_listing_problems_and_changes_nothing(seller, provider, support_flow):
    prompt = next(node for node in support_flow["data"]["nodes"] if node["data"]["type"] == "Prompt Template")
    prompt["data"]["type"] = "NotAComponent"

    response = _import(client_for(seller), provider, support_flow)

    assert response.status_code == 400
    body = response.json()
    assert body["code"] == "invalid_flow"
    assert body["errors"]["flow"] == [
        {
            "code": "unknown_component",
            "message": "Unknown component type 'NotAComponent': the runtime cannot load it.",
            "node_id": prompt["id"],
        }
    ]
    assert (AgentIdentity.objects.count(), Offering.objects.count()) == (0, 0)


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"category": "agents"}, "flow_json"),
        ({"flow_json": 42, "category": "agents"}, "flow_json"),
        ({"flow_json": "{}", "category": "no-such-category"}, "category"),
        ({"flow_json": "{}", "category": "agents", "colour": "red"}, "colour"),
    ],
)
def test_bad_input_is_a_400_naming_the_field(seller, provider, body, field):
    response = client_for(seller).post(
        "/api/flows/import/", {"provider_uuid": str(provider.uuid), **body}, format="json"
    )

    assert response.status_code == 400
    assert field in response.json()["errors"]
    assert AgentIdentity.objects.count() == 0


def test_malformed_json_body_is_a_400(seller):
    response = client_for(seller).post("/api/flows/import/", "{oops", content_type="application/json")

    assert response.status_code == 400
    assert response.json()["status"] == 400


def test_importing_into_another_sellers_provider_is_a_404(seller, support_flow):
    other = ServiceProviderFactory()

    response = _import(client_for(seller), other, support_flow)

    assert response.status_code == 404
    assert AgentIdentity.objects.count() == 0


def test_buyer_without_a_provider_gets_403_on_seller_endpoints(support_flow):
    buyer = UserFactory()
    client = client_for(buyer)

    assert client.get("/api/provider-agents/").status_code == 403
    assert (
        client.post(
            "/api/provider-agents/validate_flow/", {"flow_json": "{}", "category": "agents"}, format="json"
        ).status_code
        == 403
    )


def test_anonymous_is_401(support_flow, provider):
    from rest_framework.test import APIClient

    response = _import(APIClient(), provider, support_flow)

    assert response.status_code in (401, 403)
    assert response.json()["code"] in ("not_authenticated", "authentication_failed")


def test_another_seller_cannot_see_or_change_my_agent(seller, provider, support_flow):
    agent_uuid = _import(client_for(seller), provider, support_flow).json()["agent_uuid"]
    rival = UserFactory()
    MembershipFactory(organization=ServiceProviderFactory().organization, user=rival, role="owner")
    client = client_for(rival)

    assert client.get(f"/api/provider-agents/{agent_uuid}/").status_code == 404
    assert client.post(f"/api/provider-agents/{agent_uuid}/unpublish/").status_code == 404
    assert client.get("/api/provider-agents/").json()["count"] == 0


def test_validate_flow_reports_without_storing(seller, support_flow):
    response = client_for(seller).post(
        "/api/provider-agents/validate_flow/",
        {"flow_json": support_flow, "category": "agents"},
        format="json",
    )

    assert response.status_code == 200
    assert response.json()["valid"] is True
    assert response.json()["component_types"] == ["ChatInput", "ChatOutput", "Prompt Template"]
    assert AgentIdentity.objects.count() == 0


def test_versions_publish_and_unpublish(seller, provider, support_flow):
    client = client_for(seller)
    agent_uuid = _import(client, provider, support_flow, description="Answers questions.").json()[
        "agent_uuid"
    ]
    agent = AgentIdentity.objects.get(uuid=agent_uuid)
    PlanFactory(offering=agent.offering)

    same = client.post(
        f"/api/provider-agents/{agent_uuid}/versions/", {"flow_json": support_flow}, format="json"
    )
    support_flow["data"]["nodes"][0]["data"]["node"]["template"]["input_value"]["value"] = "Hi"
    newer = client.post(
        f"/api/provider-agents/{agent_uuid}/versions/",
        {"flow_json": support_flow, "changelog": "Greets."},
        format="json",
    )
    published = client.post(
        f"/api/provider-agents/{agent_uuid}/publish/", {"terms_accepted": True}, format="json"
    )
    unpublished = client.post(f"/api/provider-agents/{agent_uuid}/unpublish/")

    assert (same.status_code, same.json()["version"]) == (200, "1.0.0")
    assert (newer.status_code, newer.json()["version"]) == (201, "1.1.0")
    assert published.json()["offering_state"] == "active"
    assert unpublished.json()["offering_state"] == "paused"
    assert [v["version"] for v in unpublished.json()["versions"]] == ["1.1.0", "1.0.0"]
    assert AgentVersion.objects.filter(agent=agent).count() == 2


def test_publishing_without_plans_is_refused_with_reasons(seller, provider, support_flow):
    client = client_for(seller)
    agent_uuid = _import(client, provider, support_flow, description="Answers.").json()["agent_uuid"]

    response = client.post(
        f"/api/provider-agents/{agent_uuid}/publish/", {"terms_accepted": True}, format="json"
    )

    assert response.status_code == 400
    assert response.json()["errors"] == {"plans": ["Add at least one plan before publishing."]}
    assert AgentIdentity.objects.get(uuid=agent_uuid).offering.state == OfferingState.DRAFT


def test_delete_archives_an_agent_without_subscribers(seller, provider, support_flow):
    client = client_for(seller)
    agent_uuid = _import(client, provider, support_flow).json()["agent_uuid"]

    response = client.delete(f"/api/provider-agents/{agent_uuid}/")

    agent = AgentIdentity.objects.get(uuid=agent_uuid)
    assert response.status_code == 204
    assert agent.archived_at is not None
    assert agent.offering.state == OfferingState.ARCHIVED
    assert client.get(f"/api/provider-agents/{agent_uuid}/").status_code == 404
