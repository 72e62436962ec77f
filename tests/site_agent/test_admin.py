"""Django admin for agents, buyer configs, keys, usage and webhooks: operators only, changelists without N+1,
secrets never rendered, ledgers read-only, and every action goes through its service."""

import datetime
import hashlib

import pytest
from django.contrib import admin
from django.urls import reverse
from django.utils import timezone

from billing.models import BillingSubscription
from cmp.crypto import encrypt
from site_agent.models import (
    AgentIdentity,
    AgentVersion,
    ApiKey,
    ConfigState,
    CustomerAgentConfig,
    DemoUsageDaily,
    DeploymentState,
    UsageDaily,
    UsageEvent,
    WebhookDelivery,
    WebhookEndpoint,
)
from site_agent.services.api_keys import api_key_check, api_key_create
from site_agent.services.configs import config_record_deployment_failure
from site_agent.services.webhooks import webhook_endpoint_create
from tests.admin_helpers import action_messages, add_url, change_url, changelist_url, run_admin_action
from tests.marketplace.factories import OfferingFactory, OrderFactory, UserFactory
from tests.site_agent.factories import AgentFactory, ConfigFactory

pytestmark = pytest.mark.django_db

ROWS = 20
MAX_CHANGELIST_QUERIES = 10  # measured 5-9 (session, user, counts, rows, dates), whether 1 row or 20


def _key(config, number: int) -> ApiKey:
    return ApiKey.objects.create(
        config=config,
        name=f"server {number}",
        prefix=f"ar_sk_live_{number:06d}",
        key_hash=hashlib.sha256(f"key-{number}".encode()).hexdigest(),
    )


def _endpoint(config, number: int = 0) -> WebhookEndpoint:
    return WebhookEndpoint.objects.create(
        config=config,
        url=f"https://hooks{number}.example.com/cmp",
        events=["document.indexed"],
        secret_encrypted=encrypt(f"whsec_{number}"),
    )


def _delivery(endpoint, status: str = "delivered") -> WebhookDelivery:
    return WebhookDelivery.objects.create(
        endpoint=endpoint, event="document.indexed", payload={"document": {"name": "faq.txt"}}, status=status
    )


# --- Registration, access, changelists ------------------------------------------------------------

MODELS = [
    AgentIdentity,
    AgentVersion,
    CustomerAgentConfig,
    ApiKey,
    UsageEvent,
    UsageDaily,
    DemoUsageDaily,
    WebhookEndpoint,
    WebhookDelivery,
]


def test_every_model_is_registered():
    assert set(MODELS) <= set(admin.site._registry)


@pytest.mark.parametrize("model", MODELS, ids=lambda model: model.__name__)
def test_a_non_staff_user_is_sent_to_the_login_page(client, model):
    ConfigFactory()
    client.force_login(UserFactory())

    response = client.get(changelist_url(model))

    assert response.status_code == 302
    assert response["Location"] == f"{reverse('admin:login')}?next={changelist_url(model)}"


def test_a_non_staff_user_cannot_open_a_config(client):
    config = ConfigFactory()
    client.force_login(UserFactory())

    response = client.get(change_url(config))

    assert response.status_code == 302
    assert response["Location"].startswith(reverse("admin:login"))


def _agents():
    for agent in AgentFactory.create_batch(ROWS):
        ConfigFactory(agent=agent)


def _versions():
    for agent in AgentFactory.create_batch(ROWS // 2):
        AgentVersion.objects.create(
            agent=agent,
            version="1.1.0",
            flow_json={"data": {"nodes": [], "edges": []}},
            sha256=hashlib.sha256(f"second-{agent.pk}".encode()).hexdigest(),
            node_count=3,
            edge_count=2,
            created_by=UserFactory(),
        )


def _configs():
    ConfigFactory.create_batch(ROWS)


def _keys():
    for number, config in enumerate(ConfigFactory.create_batch(ROWS)):
        _key(config, number)


def _usage_events():
    now = timezone.now()
    for number, config in enumerate(ConfigFactory.create_batch(ROWS)):
        UsageEvent.objects.create(config=config, event_id=f"event-{number}", occurred_at=now, tokens_input=9)


def _usage_days():
    today = timezone.now().date()
    for number, config in enumerate(ConfigFactory.create_batch(ROWS)):
        UsageDaily.objects.create(config=config, day=today - datetime.timedelta(days=number), api_calls=3)


def _demo_usage_days():
    today = timezone.now().date()
    for number, offering in enumerate(OfferingFactory.create_batch(ROWS)):
        DemoUsageDaily.objects.create(offering=offering, day=today - datetime.timedelta(days=number), calls=2)


def _endpoints():
    for number, config in enumerate(ConfigFactory.create_batch(ROWS)):
        endpoint = _endpoint(config, number)
        _delivery(endpoint, status="failed")


def _deliveries():
    for number, config in enumerate(ConfigFactory.create_batch(ROWS)):
        _delivery(_endpoint(config, number), status="failed" if number % 2 else "delivered")


@pytest.mark.parametrize(
    ("model", "make_rows"),
    [
        (AgentIdentity, _agents),
        (AgentVersion, _versions),
        (CustomerAgentConfig, _configs),
        (ApiKey, _keys),
        (UsageEvent, _usage_events),
        (UsageDaily, _usage_days),
        (DemoUsageDaily, _demo_usage_days),
        (WebhookEndpoint, _endpoints),
        (WebhookDelivery, _deliveries),
    ],
    ids=lambda value: value.__name__ if isinstance(value, type) else "",
)
def test_changelist_with_20_rows_runs_a_fixed_number_of_queries(
    operator_client, model, make_rows, django_assert_max_num_queries
):
    make_rows()

    with django_assert_max_num_queries(MAX_CHANGELIST_QUERIES):
        response = operator_client.get(changelist_url(model))

    assert response.status_code == 200
    assert response.context["cl"].result_count == ROWS


def test_configs_are_found_by_organisation_agent_uuid_and_widget_id(operator_client):
    config = ConfigFactory(resource__organization__name="Globex Corporation")
    ConfigFactory.create_batch(2)

    for term in ("Globex", config.agent.name, str(config.uuid), config.widget_id):
        response = operator_client.get(changelist_url(CustomerAgentConfig), {"q": term})
        assert list(response.context["cl"].result_list) == [config], term


def test_configs_filter_by_deployment_state(operator_client):
    failed = ConfigFactory(deployment_state=DeploymentState.FAILED)
    ConfigFactory(deployment_state=DeploymentState.DEPLOYED)

    response = operator_client.get(changelist_url(CustomerAgentConfig), {"deployment_state__exact": "failed"})

    assert list(response.context["cl"].result_list) == [failed]


def test_every_change_page_renders(operator_client):
    config = ConfigFactory()
    api_key = _key(config, 1)
    endpoint = _endpoint(config)
    delivery = _delivery(endpoint)
    objects = [
        config.agent,
        config.agent_version,
        config,
        api_key,
        UsageEvent.objects.create(config=config, event_id="e1", occurred_at=timezone.now()),
        UsageDaily.objects.create(config=config, day=timezone.now().date(), api_calls=1),
        DemoUsageDaily.objects.create(offering=config.agent.offering, day=timezone.now().date(), calls=1),
        endpoint,
        delivery,
    ]

    for obj in objects:
        response = operator_client.get(change_url(obj))
        assert response.status_code == 200, obj


def test_a_config_page_links_to_its_own_usage_and_deliveries(operator_client):
    config, other = ConfigFactory(), ConfigFactory()
    UsageDaily.objects.create(config=config, day=datetime.date(2026, 3, 2), api_calls=5)
    UsageDaily.objects.create(config=other, day=datetime.date(2026, 3, 2), api_calls=9)
    delivery = _delivery(_endpoint(config, 1))
    _delivery(_endpoint(other, 2))
    page = operator_client.get(change_url(config))
    links = {
        model: f"{changelist_url(model)}?{query}"
        for model, query in (
            (UsageDaily, f"config__id__exact={config.pk}"),
            (WebhookDelivery, f"endpoint__config__id__exact={config.pk}"),
        )
    }

    usage = operator_client.get(links[UsageDaily])
    deliveries = operator_client.get(links[WebhookDelivery])

    assert all(link.replace("&", "&amp;") in page.content.decode() for link in links.values())
    assert [row.api_calls for row in usage.context["cl"].result_list] == [5]
    assert list(deliveries.context["cl"].result_list) == [delivery]
    endpoint_link = f"{changelist_url(WebhookDelivery)}?endpoint__id__exact={delivery.endpoint_id}"
    assert endpoint_link in operator_client.get(change_url(delivery.endpoint)).content.decode()
    assert list(operator_client.get(endpoint_link).context["cl"].result_list) == [delivery]


def test_a_version_list_never_loads_the_flow_but_its_page_shows_it(operator_client):
    agent = AgentFactory()
    AgentVersion.objects.create(
        agent=agent,
        version="2.0.0",
        flow_json={"data": {"nodes": [{"id": "ChatInput-marker-7f3a"}], "edges": []}},
        sha256="ab" * 32,
        node_count=1,
        edge_count=0,
    )
    version = agent.versions.get(version="2.0.0")

    listing = operator_client.get(changelist_url(AgentVersion)).content.decode()
    agent_page = operator_client.get(change_url(agent)).content.decode()
    version_page = operator_client.get(change_url(version)).content.decode()

    assert "ChatInput-marker-7f3a" not in listing
    assert "ChatInput-marker-7f3a" not in agent_page
    assert "abababababab" in agent_page  # the inline shows the short hash
    assert "ChatInput-marker-7f3a" in version_page


# --- Secrets are never rendered -------------------------------------------------------------------


def test_the_key_hash_never_appears_on_any_page(operator_client):
    config = ConfigFactory()
    api_key, plaintext = api_key_create(config=config, name="Shop server", actor=None)

    pages = [
        operator_client.get(changelist_url(ApiKey)),
        operator_client.get(changelist_url(ApiKey), {"q": api_key.prefix}),
        operator_client.get(change_url(api_key)),
        operator_client.get(change_url(config)),
        operator_client.get(reverse("admin:site_agent_apikey_history", args=[api_key.pk])),
    ]

    for response in pages:
        assert response.status_code == 200
        page = response.content.decode()
        assert f"{api_key.prefix}..." in page or "Shop server" in page
        assert api_key.key_hash not in page
        assert plaintext not in page
        assert "key_hash" not in page


def test_the_webhook_secret_never_appears_on_any_page(operator_client):
    config = ConfigFactory()
    endpoint, secret = webhook_endpoint_create(
        config=config, url="https://hooks.example.com/cmp", events=["document.indexed"], actor=None
    )
    delivery = _delivery(endpoint)

    pages = [
        operator_client.get(changelist_url(WebhookEndpoint)),
        operator_client.get(change_url(endpoint)),
        operator_client.get(change_url(config)),
        operator_client.get(changelist_url(WebhookDelivery)),
        operator_client.get(change_url(delivery)),
    ]

    for response in pages:
        assert response.status_code == 200
        page = response.content.decode()
        assert "https://hooks.example.com/cmp" in page
        assert secret not in page
        assert endpoint.secret_encrypted not in page
        assert "secret_encrypted" not in page


# --- Keys -----------------------------------------------------------------------------------------


def test_there_is_no_add_button_for_keys_or_usage_events(operator_client):
    config = ConfigFactory()
    _key(config, 1)
    UsageEvent.objects.create(config=config, event_id="e1", occurred_at=timezone.now())

    for model in (ApiKey, UsageEvent):
        response = operator_client.get(changelist_url(model))
        assert response.context["has_add_permission"] is False
        assert add_url(model) not in response.content.decode()
        assert operator_client.get(add_url(model)).status_code == 403


def test_revoke_action_revokes_at_once_and_reports_keys_already_revoked(
    operator_client, django_capture_on_commit_callbacks
):
    config = ConfigFactory()
    active, plaintext = api_key_create(config=config, name="Shop", actor=None)
    revoked, _other = api_key_create(config=config, name="Old", actor=None)
    ApiKey.objects.filter(pk=revoked.pk).update(revoked_at=timezone.now() - datetime.timedelta(days=1))
    revoked.refresh_from_db()
    assert api_key_check(key=plaintext).valid is True  # and now cached

    with django_capture_on_commit_callbacks(execute=True):
        response = run_admin_action(operator_client, ApiKey, "revoke_keys", [active, revoked])

    assert response.status_code == 302
    active.refresh_from_db()
    assert active.revoked_at is not None
    assert ApiKey.objects.get(pk=revoked.pk).revoked_at == revoked.revoked_at
    assert api_key_check(key=plaintext).valid is False
    assert api_key_check(key=plaintext).reason == "revoked"
    assert action_messages(response) == [
        ("warning", f"Skipped {revoked}: already revoked."),
        ("success", f"Revoked 1: {active}."),
    ]


def test_keys_filter_by_status(operator_client):
    config = ConfigFactory()
    active, revoked, expired = _key(config, 1), _key(config, 2), _key(config, 3)
    ApiKey.objects.filter(pk=revoked.pk).update(revoked_at=timezone.now())
    ApiKey.objects.filter(pk=expired.pk).update(expires_at=timezone.now() - datetime.timedelta(minutes=1))

    for status, expected in (("active", active), ("revoked", revoked), ("expired", expired)):
        response = operator_client.get(changelist_url(ApiKey), {"status": status})
        assert list(response.context["cl"].result_list) == [expected], status


def test_a_key_page_is_read_only(operator_client):
    api_key = _key(ConfigFactory(), 1)

    response = operator_client.post(change_url(api_key), {"name": "renamed", "revoked_at": ""})

    assert response.status_code == 403
    api_key.refresh_from_db()
    assert api_key.name == "server 1"


# --- Usage ledgers --------------------------------------------------------------------------------


def test_usage_events_cannot_be_changed_or_deleted(operator_client):
    event = UsageEvent.objects.create(
        config=ConfigFactory(), event_id="e1", occurred_at=timezone.now(), api_calls=1
    )
    delete_url = reverse("admin:site_agent_usageevent_delete", args=[event.pk])

    change = operator_client.post(change_url(event), {"api_calls": "0"})
    delete = operator_client.post(delete_url, {"post": "yes"})
    listing = operator_client.get(changelist_url(UsageEvent))

    assert change.status_code == 403
    assert delete.status_code == 403
    assert listing.context["action_form"] is None  # no actions at all, so no bulk delete
    event.refresh_from_db()
    assert event.api_calls == 1


def test_usage_days_have_a_date_drill_down(operator_client):
    config = ConfigFactory()
    UsageDaily.objects.create(config=config, day=datetime.date(2026, 3, 2), api_calls=5)
    UsageDaily.objects.create(config=config, day=datetime.date(2025, 12, 30), api_calls=7)

    response = operator_client.get(changelist_url(UsageDaily), {"day__year": "2026"})

    assert [row.api_calls for row in response.context["cl"].result_list] == [5]
    assert operator_client.get(changelist_url(UsageDaily)).context["cl"].date_hierarchy == "day"
    assert operator_client.get(changelist_url(DemoUsageDaily)).context["cl"].date_hierarchy == "day"


# --- Config actions -------------------------------------------------------------------------------


def test_suspend_refuses_the_keys_and_resume_restores_them(
    operator_client, django_capture_on_commit_callbacks
):
    config = ConfigFactory()
    _api_key, plaintext = api_key_create(config=config, name="Shop", actor=None)
    assert api_key_check(key=plaintext).valid is True

    with django_capture_on_commit_callbacks(execute=True):
        suspended = run_admin_action(operator_client, CustomerAgentConfig, "suspend_configs", [config])
    config.refresh_from_db()
    assert config.state == ConfigState.SUSPENDED
    assert api_key_check(key=plaintext).reason == "suspended"

    with django_capture_on_commit_callbacks(execute=True):
        run_admin_action(operator_client, CustomerAgentConfig, "suspend_configs", [config])
        resumed = run_admin_action(operator_client, CustomerAgentConfig, "resume_configs", [config])
    config.refresh_from_db()
    assert config.state == ConfigState.ACTIVE
    assert api_key_check(key=plaintext).valid is True
    assert action_messages(suspended) == [("success", f"Suspended: “{config}”.")]
    assert action_messages(resumed) == [  # the redirects were not followed, so the messages pile up
        ("success", f"Suspended: “{config}”."),
        ("warning", f"Skipped “{config}”: only active agents can be suspended."),
        ("success", f"Resumed: “{config}”."),
    ]


def test_resume_leaves_an_agent_suspended_for_an_overdue_payment_to_billing(
    operator_client, django_capture_on_commit_callbacks
):
    # Given billing suspended the agent: its subscription is past due beyond the grace period
    config = ConfigFactory(state=ConfigState.SUSPENDED)
    resource = config.resource
    order = OrderFactory(
        plan=resource.plan, organization=resource.organization, resource=resource, state="done"
    )
    BillingSubscription.objects.create(
        organization=resource.organization, order=order, status="past_due", suspended_at=timezone.now()
    )

    with django_capture_on_commit_callbacks(execute=True):
        response = run_admin_action(operator_client, CustomerAgentConfig, "resume_configs", [config])

    config.refresh_from_db()
    assert config.state == ConfigState.SUSPENDED
    assert action_messages(response) == [
        ("warning", f"Skipped “{config}”: its payment is overdue; it resumes by itself when the buyer pays.")
    ]


def test_redeploy_skips_configs_that_did_not_fail_or_whose_subscription_erred(
    operator_client, django_capture_on_commit_callbacks
):
    deployed = ConfigFactory(deployment_state=DeploymentState.DEPLOYED, agent_name="Deployed")
    erred = ConfigFactory(
        deployment_state=DeploymentState.FAILED, resource__state="erred", agent_name="Erred"
    )

    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        response = run_admin_action(
            operator_client, CustomerAgentConfig, "redeploy_configs", [deployed, erred]
        )

    assert callbacks == []  # nothing was queued
    assert sorted(action_messages(response)) == sorted(
        [
            ("warning", f"Skipped “{deployed}”: it is deployed; only failed deployments are retried."),
            (
                "warning",
                f"Skipped “{erred}”: its subscription erred while being set up; "
                "retry its order under Orders.",
            ),
        ]
    )


@pytest.mark.services
def test_redeploy_deploys_a_failed_config_into_the_runtime_again(
    operator_client, runtime_settings, support_flow, django_capture_on_commit_callbacks
):
    from tests.runtime_bridge.chat_fixtures import buy, list_agent

    tenant = buy(list_agent(support_flow), django_capture_on_commit_callbacks)
    config = config_record_deployment_failure(config=tenant.config, message="The runtime timed out.")
    assert config.deployment_state == DeploymentState.FAILED

    with django_capture_on_commit_callbacks(execute=True):
        response = run_admin_action(operator_client, CustomerAgentConfig, "redeploy_configs", [config])

    config.refresh_from_db()
    assert (config.deployment_state, config.deployment_error) == (DeploymentState.DEPLOYED, "")
    assert config.runtime_flow_id == str(config.uuid)
    assert action_messages(response) == [("success", f"Redeploying: “{config}”.")]


# --- Agents ---------------------------------------------------------------------------------------


def test_archive_agent_is_refused_while_anyone_subscribes(operator_client):
    subscribed = ConfigFactory().agent
    unsold = AgentFactory()

    response = run_admin_action(operator_client, AgentIdentity, "archive_agents", [subscribed, unsold])

    subscribed.refresh_from_db()
    unsold.refresh_from_db()
    assert subscribed.archived_at is None
    assert unsold.archived_at is not None
    assert unsold.offering.state == "archived"
    assert sorted(action_messages(response)) == [
        (
            "error",
            f"“{subscribed}” was not changed: "
            "1 organisation(s) still subscribe to this agent; unpublish it instead.",
        ),
        ("success", f"Archived: “{unsold}”."),
    ]


# --- Webhooks -------------------------------------------------------------------------------------


def test_redeliver_sends_the_event_again_as_a_new_delivery(
    operator_client, django_capture_on_commit_callbacks
):
    endpoint = _endpoint(ConfigFactory())
    failed = _delivery(endpoint, status="failed")

    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        response = run_admin_action(operator_client, WebhookDelivery, "redeliver", [failed])

    again = WebhookDelivery.objects.exclude(pk=failed.pk).get()
    assert (again.endpoint, again.event, again.payload, again.status) == (
        endpoint,
        failed.event,
        failed.payload,
        "pending",
    )
    assert len(callbacks) == 1  # the send, queued after commit
    failed.refresh_from_db()
    assert failed.status == "failed"
    assert action_messages(response) == [("success", f"Sent again: “{failed}”.")]


def test_redeliver_to_a_disabled_endpoint_is_refused(operator_client):
    endpoint = _endpoint(ConfigFactory())
    failed = _delivery(endpoint, status="failed")
    run_admin_action(operator_client, WebhookEndpoint, "disable_endpoints", [endpoint])

    response = run_admin_action(operator_client, WebhookDelivery, "redeliver", [failed])

    endpoint.refresh_from_db()
    assert endpoint.is_active is False
    assert WebhookDelivery.objects.count() == 1
    assert action_messages(response) == [  # the disable's message first: its redirect was not followed
        ("success", f"Disabled (waiting deliveries give up): “{endpoint}”."),
        ("error", f"“{failed}” was not changed: Enable the endpoint before redelivering to it."),
    ]


def test_deliveries_filter_by_status(operator_client):
    endpoint = _endpoint(ConfigFactory())
    failed = _delivery(endpoint, status="failed")
    _delivery(endpoint, status="delivered")

    response = operator_client.get(changelist_url(WebhookDelivery), {"status": "failed"})

    assert list(response.context["cl"].result_list) == [failed]
