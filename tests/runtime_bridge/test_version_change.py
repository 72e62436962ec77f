"""Moving buyers to a new agent version, explicitly, against a real `lfx serve`: the buyer updates their own
agent or the seller rolls a version out to every subscriber, and the runtime flow is redeployed so that
the very next chat answers with the new version's behaviour."""

import json

import pytest
from django.test import Client
from django.urls import reverse

from runtime_bridge import tasks
from runtime_bridge.ratelimit import local_buckets
from runtime_bridge.services import flow_import_version
from site_agent.models import ConfigState, DeploymentState
from site_agent.services.configs import config_archive, config_change_version
from tests.conftest import client_for
from tests.marketplace.factories import MembershipFactory, UserFactory
from tests.runtime_bridge.chat_fixtures import buy, list_agent

pytestmark = [pytest.mark.django_db, pytest.mark.services]

OLD_TEXT = "Thanks for your question"
NEW_TEXT = "Version two heard your question"


@pytest.fixture(autouse=True)
def _fresh_buckets():
    local_buckets.clear()
    yield
    local_buckets.clear()


@pytest.fixture
def offering(support_flow):
    return list_agent(support_flow)


@pytest.fixture
def seller(offering):
    user = UserFactory()
    MembershipFactory(organization=offering.provider.organization, user=user, role="owner")
    return user


@pytest.fixture
def tenant(runtime_settings, offering, django_capture_on_commit_callbacks):
    return buy(offering, django_capture_on_commit_callbacks)


@pytest.fixture
def new_version(offering, support_flow, seller, tenant):
    """Version 1.1.0, whose prompt template says something else; imported after the tenant bought 1.0.0."""
    return _import_new_version(offering, support_flow, seller)


def _import_new_version(offering, support_flow, seller):
    text = json.dumps(support_flow)
    assert OLD_TEXT in text
    version, created, _report = flow_import_version(
        agent=offering.agent,
        raw=json.loads(text.replace(OLD_TEXT, NEW_TEXT)),
        version="1.1.0",
        changelog="A new greeting.",
        actor=seller,
    )
    assert created
    return version


def _chat(tenant) -> str:
    response = Client().post(
        tenant.url, {"input": "Where is my parcel?"}, content_type="application/json", **tenant.auth
    )
    assert response.status_code == 200, response.content
    return response.json()["output"]


def test_the_buyer_updates_and_the_next_chat_answers_with_the_new_version(
    tenant, new_version, django_capture_on_commit_callbacks
):
    # Given a buyer still on 1.0.0 while 1.1.0 is current
    assert _chat(tenant).startswith(f"{OLD_TEXT}: “Where is my parcel?”")
    tenant.config.refresh_from_db()
    first_deployed_at = tenant.config.deployed_at

    # When the buyer updates through the API
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        response = client_for(tenant.user).post(
            f"/api/customer-agent-configs/{tenant.config.uuid}/version/", {}, format="json"
        )

    # Then the config runs 1.1.0, its flow was redeployed, and the runtime answers with the new text
    assert response.status_code == 200, response.content
    assert response.json()["agent_version"] == "1.1.0"
    assert len(callbacks) == 1
    tenant.config.refresh_from_db()
    assert tenant.config.agent_version == new_version
    assert tenant.config.deployment_state == DeploymentState.DEPLOYED
    assert tenant.config.deployed_at > first_deployed_at
    assert tenant.config.runtime_flow_id == str(tenant.config.uuid)
    assert _chat(tenant).startswith(f"{NEW_TEXT}: “Where is my parcel?”")

    # And asking again for the version it runs changes nothing and deploys nothing
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        response = client_for(tenant.user).post(
            f"/api/customer-agent-configs/{tenant.config.uuid}/version/", {"version": "1.1.0"}, format="json"
        )
    assert response.status_code == 200
    assert callbacks == []
    deployed_at = tenant.config.deployed_at
    tenant.config.refresh_from_db()
    assert tenant.config.deployed_at == deployed_at


def test_a_buyer_can_go_back_to_an_earlier_version(tenant, new_version, django_capture_on_commit_callbacks):
    config = tenant.config
    with django_capture_on_commit_callbacks(execute=True):
        config_change_version(config=config, version=new_version, actor=tenant.user)
    assert _chat(tenant).startswith(NEW_TEXT)

    with django_capture_on_commit_callbacks(execute=True):
        response = client_for(tenant.user).post(
            f"/api/customer-agent-configs/{config.uuid}/version/", {"version": "1.0.0"}, format="json"
        )

    assert response.status_code == 200, response.content
    assert response.json()["agent_version"] == "1.0.0"
    assert _chat(tenant).startswith(OLD_TEXT)


@pytest.mark.parametrize(
    ("who", "body", "status", "code"),
    [
        ("member", {}, 403, "permission_denied"),
        ("owner", {"version": "9.9.9"}, 400, "invalid"),
        ("owner", {"version": "1.1.0", "extra": 1}, 400, "invalid"),
        ("stranger", {}, 404, "not_found"),
    ],
)
def test_refused_version_changes_change_nothing(
    tenant, new_version, django_capture_on_commit_callbacks, who, body, status, code
):
    user = {"owner": tenant.user, "stranger": UserFactory()}.get(who)
    if who == "member":
        user = UserFactory()
        MembershipFactory(organization=tenant.organization, user=user, role="member")
    old_version_id = tenant.config.agent_version_id

    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        response = client_for(user).post(
            f"/api/customer-agent-configs/{tenant.config.uuid}/version/", body, format="json"
        )

    assert response.status_code == status, response.content
    assert response.json()["code"] == code
    assert callbacks == []
    tenant.config.refresh_from_db()
    assert tenant.config.agent_version_id == old_version_id


def test_a_cancelled_agent_and_another_agents_version_are_refused(
    tenant, new_version, support_flow, django_capture_on_commit_callbacks
):
    other = list_agent(json.loads(json.dumps(support_flow).replace(OLD_TEXT, "Another agent")))
    old_version_id = tenant.config.agent_version_id

    with pytest.raises(Exception, match="Choose a version of this agent") as error:
        config_change_version(config=tenant.config, version=other.agent.current_version, actor=tenant.user)
    assert error.value.errors == {"version": ["Not a version of this agent."]}

    config_archive(config=tenant.config)
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        response = client_for(tenant.user).post(
            f"/api/customer-agent-configs/{tenant.config.uuid}/version/", {}, format="json"
        )
    assert response.status_code == 409
    assert response.json()["code"] == "read_only"
    assert callbacks == []
    tenant.config.refresh_from_db()
    assert tenant.config.agent_version_id == old_version_id


def test_the_seller_rolls_a_version_out_to_every_live_subscriber(
    offering, seller, tenant, support_flow, django_capture_on_commit_callbacks
):
    # Given two subscribers on 1.0.0, and a third whose subscription was cancelled, when 1.1.0 comes out
    second = buy(offering, django_capture_on_commit_callbacks)
    cancelled = buy(offering, django_capture_on_commit_callbacks)
    config_archive(config=cancelled.config)
    new_version = _import_new_version(offering, support_flow, seller)

    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        response = client_for(seller).post(
            f"/api/provider-agents/{offering.agent.uuid}/rollout/", {"version": "1.1.0"}, format="json"
        )

    assert response.status_code == 200, response.content
    assert response.json() == {"version": "1.1.0", "configs_moved": 2}
    assert len(callbacks) == 2
    for buyer in (tenant, second):
        buyer.config.refresh_from_db()
        assert buyer.config.agent_version == new_version
        assert buyer.config.deployment_state == DeploymentState.DEPLOYED
        assert _chat(buyer).startswith(NEW_TEXT)
    cancelled.config.refresh_from_db()
    assert cancelled.config.state == ConfigState.ARCHIVED
    assert cancelled.config.agent_version_id != new_version.pk

    # Rolling it out again moves nobody
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        response = client_for(seller).post(
            f"/api/provider-agents/{offering.agent.uuid}/rollout/", {"version": "1.1.0"}, format="json"
        )
    assert response.json() == {"version": "1.1.0", "configs_moved": 0}
    assert callbacks == []


def test_a_rollout_of_an_unknown_version_or_by_another_seller_is_refused(
    offering, seller, tenant, new_version, support_flow, django_capture_on_commit_callbacks
):
    other_seller = UserFactory()
    other = list_agent(support_flow)  # another trusted provider's agent
    MembershipFactory(organization=other.provider.organization, user=other_seller, role="owner")
    url = f"/api/provider-agents/{offering.agent.uuid}/rollout/"

    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        unknown = client_for(seller).post(url, {"version": "2.0.0"}, format="json")
        foreign = client_for(other_seller).post(url, {"version": "1.1.0"}, format="json")

    assert unknown.status_code == 400
    assert unknown.json()["errors"] == {"version": ["No such version of this agent."]}
    assert foreign.status_code == 404
    assert callbacks == []
    tenant.config.refresh_from_db()
    assert tenant.config.agent_version.version == "1.0.0"


def test_runtime_down_during_a_redeploy_is_shown_and_retried_then_a_retry_succeeds(
    settings, lfx_runtime, tenant, new_version, django_capture_on_commit_callbacks, monkeypatch
):
    settings.RUNTIME_URL = "http://127.0.0.1:9"
    countdowns = []

    def retry(*, exc, countdown):
        countdowns.append(countdown)
        return RuntimeError("retry scheduled")

    # On a worker (not eager), an outage asks for a retry with backoff, and the config shows the failure
    monkeypatch.setattr(tasks.config_redeploy_task, "retry", retry)
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        config_change_version(config=tenant.config, version=new_version, actor=tenant.user)
    assert len(callbacks) == 1
    with pytest.raises(RuntimeError, match="retry scheduled"):
        tasks.config_redeploy_task.run(tenant.config.pk)
    assert 5 <= countdowns[0] <= 10
    tenant.config.refresh_from_db()
    assert tenant.config.agent_version == new_version
    assert tenant.config.deployment_state == DeploymentState.FAILED
    assert tenant.config.deployment_error != ""
    # Meanwhile the runtime still serves the previous flow
    settings.RUNTIME_URL = lfx_runtime.url
    assert _chat(tenant).startswith(OLD_TEXT)

    # Asking for the same version again after a failure deploys it
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        config_change_version(config=tenant.config, version=new_version, actor=tenant.user)
    assert len(callbacks) == 1
    tenant.config.refresh_from_db()
    assert (tenant.config.deployment_state, tenant.config.deployment_error) == (DeploymentState.DEPLOYED, "")
    assert _chat(tenant).startswith(NEW_TEXT)


# --- Web pages ------------------------------------------------------------------------------------


def test_the_buyer_overview_offers_the_update_and_the_button_updates(
    tenant, new_version, django_capture_on_commit_callbacks
):
    web = Client()
    web.force_login(tenant.user)
    overview = reverse("site_agent:agent-overview", args=[tenant.organization.uuid, tenant.config.uuid])
    update = reverse("site_agent:agent-version-update", args=[tenant.organization.uuid, tenant.config.uuid])

    page = web.get(overview).content.decode()
    assert "Update to version 1.1.0" in page
    assert f'action="{update}"' in page

    with django_capture_on_commit_callbacks(execute=True):
        response = web.post(update)

    assert response.status_code == 302
    assert response["Location"] == overview
    tenant.config.refresh_from_db()
    assert tenant.config.agent_version == new_version
    assert _chat(tenant).startswith(NEW_TEXT)
    page = web.get(overview).content.decode()
    assert "Update to version" not in page
    assert "Updating to version 1.1.0" in page


def test_a_member_sees_no_update_button_and_cannot_post_it(tenant, new_version):
    member = UserFactory()
    MembershipFactory(organization=tenant.organization, user=member, role="member")
    web = Client()
    web.force_login(member)
    args = [tenant.organization.uuid, tenant.config.uuid]

    page = web.get(reverse("site_agent:agent-overview", args=args)).content.decode()
    assert "Update to version" not in page
    assert web.post(reverse("site_agent:agent-version-update", args=args)).status_code == 403
    tenant.config.refresh_from_db()
    assert tenant.config.agent_version.version == "1.0.0"


def test_the_seller_page_counts_subscribers_per_version_and_rolls_out(
    offering, seller, tenant, new_version, django_capture_on_commit_callbacks
):
    web = Client()
    web.force_login(seller)
    provider = offering.provider
    detail = reverse("runtime_bridge:agent-detail", args=[provider.uuid, offering.agent.uuid])
    rollout = reverse(
        "runtime_bridge:agent-version-rollout", args=[provider.uuid, offering.agent.uuid, new_version.uuid]
    )
    response = web.get(detail)
    versions = {version.version: version.config_count for version in response.context["versions"]}
    assert versions == {"1.1.0": 0, "1.0.0": 1}
    assert f'action="{rollout}"' in response.content.decode()

    with django_capture_on_commit_callbacks(execute=True):
        response = web.post(rollout)

    assert response.status_code == 302
    assert response["Location"] == f"{detail}#versions"
    response = web.get(detail)
    assert {version.version: version.config_count for version in response.context["versions"]} == {
        "1.1.0": 1,
        "1.0.0": 0,
    }
    assert "Moving 1 subscriber to version 1.1.0" in response.content.decode()
    assert f'action="{rollout}"' not in response.content.decode()
    assert _chat(tenant).startswith(NEW_TEXT)
