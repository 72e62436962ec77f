"""End to end, with every moving part real: a buyer orders a free plan through the API, a real Celery worker
(on Redis, against the test database) processes the order and provisions the agent into the real `lfx serve`,
the buyer creates a key, chats through the gateway and gets the runtime's answer, the call shows on the usage
page and in the seller's analytics, and once the key is revoked the next call is refused.
"""

import pytest
from django.test import Client
from django.urls import reverse

from marketplace.models import Order, OrderState, ResourceState
from site_agent.models import CustomerAgentConfig, DeploymentState, UsageEvent, UsageSource
from tests.conftest import client_for
from tests.marketplace.factories import MembershipFactory, OrganizationFactory, UserFactory
from tests.runtime_bridge.chat_fixtures import list_agent
from tests.worker import (
    TASK_TIMEOUT,
    new_queue_name,
    producer_on,
    runtime_environment,
    wait_for,
    wait_for_pong,
    worker,
)

pytestmark = [pytest.mark.services, pytest.mark.django_db(transaction=True)]


def test_purchase_provisions_on_a_worker_and_the_key_chats_until_revoked(
    redis_url, runtime_settings, support_flow, tmp_path
):
    # Given a listed agent, made free, and a buyer who owns an organisation
    offering = list_agent(support_flow)
    plan = offering.plans.get(name="Starter")
    plan.price_minor = 0
    plan.save(update_fields=["price_minor"])
    seller = UserFactory()
    MembershipFactory(organization=offering.provider.organization, user=seller, role="owner")
    buyer = UserFactory()
    organization = OrganizationFactory()
    MembershipFactory(organization=organization, user=buyer, role="owner")
    api = client_for(buyer)
    queue = new_queue_name()
    log_path = tmp_path / "worker.log"

    with (
        producer_on(redis_url, queue),
        worker(
            broker_url=redis_url,
            queue=queue,
            log_path=log_path,
            extra_env=runtime_environment(runtime_settings),
        ) as process,
    ):
        wait_for_pong(process, log_path)

        # When the buyer orders the free plan through the API
        response = api.post(
            "/api/marketplace-orders/",
            {"plan_uuid": str(plan.uuid), "organization_uuid": str(organization.uuid)},
            format="json",
        )
        assert response.status_code == 201, response.content
        order = Order.objects.get(uuid=response.json()["uuid"])

        # Then the worker processes the order and provisions the agent into the runtime
        def provisioned() -> bool:
            order.refresh_from_db()
            return order.state in (OrderState.DONE, OrderState.ERRED)

        wait_for(provisioned, timeout=TASK_TIMEOUT, what="the worker to provision", log_path=log_path)

    assert process.returncode is not None
    log = log_path.read_text()
    assert order.state == OrderState.DONE, log[-4000:]
    assert order.resource.state == ResourceState.OK
    assert "Task marketplace.tasks.order_process_task[" in log
    assert "Task runtime_bridge.tasks.resource_provision_task[" in log
    config = CustomerAgentConfig.objects.get(resource=order.resource)
    assert config.deployment_state == DeploymentState.DEPLOYED
    assert config.runtime_flow_id == str(config.uuid)
    assert config.agent_version_id == offering.agent.current_version_id

    # When the buyer creates a key through the API
    response = api.post(f"/api/customer-agent-configs/{config.uuid}/keys/", {"name": "shop"}, format="json")
    assert response.status_code == 201, response.content
    key_uuid, secret = response.json()["uuid"], response.json()["key"]
    assert secret.startswith("ar_sk_live_")

    # Then the key chats through the gateway and gets the runtime's answer
    chat = Client()
    chat_url = f"/api/chat/{config.uuid}/messages"
    response = chat.post(
        chat_url,
        {"input": "Where is my parcel?"},
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Bearer {secret}",
    )
    assert response.status_code == 200, response.content
    body = response.json()
    # The sample flow's prompt template, filled in by lfx serve with the question and (no) documents
    assert body["output"].startswith("Thanks for your question: \u201cWhere is my parcel?\u201d")
    assert "No documents have been added" in body["output"]
    assert body["usage"]["api_calls"] == 1
    event = UsageEvent.objects.get(config=config)
    assert (event.event_id, event.source, event.api_calls) == (body["request_id"], UsageSource.GATEWAY, 1)

    # And the call is on the buyer's usage page
    buyer_web = Client()
    buyer_web.force_login(buyer)
    response = buyer_web.get(reverse("site_agent:agent-usage", args=[organization.uuid, config.uuid]))
    assert response.status_code == 200
    assert response.context["calls_total"] == 1
    assert response.context["usage"].period.api_calls == 1
    assert "1 in all" in response.content.decode()

    # And in the seller's analytics
    response = client_for(seller).get(f"/api/provider-agents/{offering.agent.uuid}/analytics/")
    assert response.status_code == 200, response.content
    analytics = response.json()
    assert (analytics["api_calls"], analytics["deployments"], analytics["active_deployments"]) == (1, 1, 1)
    assert analytics["tokens_output"] == body["usage"]["tokens_output"]

    # When the buyer revokes the key through the API
    response = api.post(f"/api/customer-agent-configs/{config.uuid}/keys/{key_uuid}/revoke/")
    assert response.status_code == 200, response.content
    assert response.json()["revoked_at"] is not None

    # Then the very next call is refused, and nothing more is counted
    response = chat.post(
        chat_url,
        {"input": "Where is my parcel?"},
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Bearer {secret}",
    )
    assert response.status_code == 401
    assert response.json()["status"] == 401
    assert UsageEvent.objects.filter(config=config).count() == 1
