"""The chat gateway against a real `lfx serve`: a bought agent answers with its knowledge, usage is recorded
once, and every refusal (credential, subscription, quota, rate, runtime down) answers in the envelope."""

import json

import pytest
from django.db.models import Sum

from marketplace.models import OrderState, ResourceState
from marketplace.services.orders import order_approve, order_change_plan
from runtime_bridge.ratelimit import local_buckets
from runtime_bridge.runtime_client import LfxServeClient
from site_agent.models import ConfigState, UsageDaily, UsageEvent, UsageSource
from site_agent.services.api_keys import api_key_revoke
from tests.runtime_bridge.chat_fixtures import add_faq, buy, list_agent

pytestmark = [pytest.mark.django_db, pytest.mark.services]


@pytest.fixture(autouse=True)
def _fresh_buckets():
    local_buckets.clear()
    yield
    local_buckets.clear()


@pytest.fixture
def offering(support_flow):
    return list_agent(support_flow)


@pytest.fixture
def tenant(runtime_settings, offering, django_capture_on_commit_callbacks):
    return buy(offering, django_capture_on_commit_callbacks)


@pytest.fixture
def runtime_calls(monkeypatch):
    """Records what the gateway sends to the runtime (the call still goes to the real lfx serve)."""
    calls = []
    original_run, original_stream = LfxServeClient.run, LfxServeClient.stream

    def run(self, flow_id, **kwargs):
        calls.append({"flow_id": flow_id, **kwargs})
        return original_run(self, flow_id, **kwargs)

    def stream(self, flow_id, **kwargs):
        calls.append({"flow_id": flow_id, **kwargs})
        return original_stream(self, flow_id, **kwargs)

    monkeypatch.setattr(LfxServeClient, "run", run)
    monkeypatch.setattr(LfxServeClient, "stream", stream)
    return calls


def _send(client, tenant, text="Hello?", **extra):
    body = {"input": text, **extra.pop("body", {})}
    return client.post(tenant.url, body, format="json", **{**tenant.auth, **extra})


def _calls(config) -> int:
    return UsageDaily.objects.filter(config=config).aggregate(total=Sum("api_calls"))["total"] or 0


def _events(response) -> list[tuple[str, dict]]:
    text = b"".join(response.streaming_content).decode()
    events = []
    for block in text.strip().split("\n\n"):
        lines = dict(line.split(": ", 1) for line in block.splitlines())
        events.append((lines["event"], json.loads(lines["data"])))
    return events


def test_a_key_gets_the_answer_with_retrieved_context_and_usage_is_recorded_once(
    api_client, tenant, django_capture_on_commit_callbacks, runtime_calls
):
    add_faq(
        tenant,
        django_capture_on_commit_callbacks,
        [
            ("When are you open?", "We open at nine and close at five, Monday to Friday."),
            ("Do you ship abroad?", "We ship to every country in the European Union."),
        ],
    )

    response = _send(api_client, tenant, "When do you open?")

    assert response.status_code == 200
    body = response.json()
    assert "We open at nine and close at five" in body["output"]
    assert "When do you open?" in body["output"]
    assert body["usage"]["api_calls"] == 1
    assert body["usage"]["tokens_estimated"] is True
    assert body["usage"]["tokens_output"] == -(-len(body["output"]) // 4)
    event = UsageEvent.objects.get(config=tenant.config)
    assert event.event_id == body["request_id"]
    assert (event.source, event.api_calls, event.tokens_estimated) == (UsageSource.GATEWAY, 1, True)
    assert (event.tokens_input, event.tokens_output) == (
        body["usage"]["tokens_input"],
        body["usage"]["tokens_output"],
    )
    assert _calls(tenant.config) == 1
    [call] = runtime_calls
    assert call["flow_id"] == str(tenant.config.uuid)
    assert call["session_id"] == f"{tenant.config.uuid}:{body['session_id']}"
    assert len(body["session_id"]) == 32
    assert set(call["variables"]) == {"CMP_CONTEXT", "CMP_AGENT_NAME", "CMP_TONE", "CMP_SYSTEM_PROMPT"}
    assert call["variables"]["CMP_AGENT_NAME"] == tenant.config.agent_name


def test_the_client_session_is_kept_and_x_api_key_works(api_client, tenant, runtime_calls, settings):
    settings.LLM_API_KEY = "sk-test-llm-key"

    response = api_client.post(
        tenant.url,
        {"input": "Anything?", "session_id": "visitor-42"},
        format="json",
        HTTP_X_API_KEY=tenant.key,
    )

    assert response.status_code == 200
    assert response.json()["session_id"] == "visitor-42"
    assert runtime_calls[0]["session_id"] == f"{tenant.config.uuid}:visitor-42"
    assert runtime_calls[0]["variables"]["OPENAI_API_KEY"] == "sk-test-llm-key"
    assert "No documents have been added" in runtime_calls[0]["variables"]["CMP_CONTEXT"]
    assert "No documents have been added" in response.json()["output"]


def test_streaming_sends_tokens_then_the_end_and_records_usage_once(api_client, tenant):
    response = api_client.post(
        f"{tenant.url}?stream=true", {"input": "Is anyone there?"}, format="json", **tenant.auth
    )

    assert response.status_code == 200
    assert response["Content-Type"] == "text/event-stream"
    events = _events(response)
    kinds = [kind for kind, _data in events]
    assert kinds[-1] == "end"
    assert len(kinds) >= 2
    assert set(kinds[:-1]) == {"token"}
    end = events[-1][1]
    assert "".join(data["text"] for kind, data in events if kind == "token") == end["output"]
    assert "Is anyone there?" in end["output"]
    assert UsageEvent.objects.get(config=tenant.config).event_id == end["request_id"]
    assert _calls(tenant.config) == 1


def test_accept_event_stream_also_streams(api_client, tenant):
    response = _send(api_client, tenant, "Hi", HTTP_ACCEPT="text/event-stream")

    assert response.status_code == 200
    assert [kind for kind, _data in _events(response)][-1] == "end"


@pytest.mark.parametrize("stream", [False, True])
def test_runtime_down_is_a_503_and_nothing_is_recorded(api_client, tenant, settings, stream):
    settings.RUNTIME_URL = "http://127.0.0.1:9"

    response = api_client.post(
        f"{tenant.url}?stream={str(stream).lower()}", {"input": "Hello?"}, format="json", **tenant.auth
    )

    assert response.status_code == 503
    assert response["Content-Type"] == "application/json"
    body = response.json()
    assert body["code"] == "runtime_unavailable"
    assert (
        body["detail"]
        == "The agent is temporarily unavailable. Nothing was charged; please try again shortly."
    )
    assert UsageEvent.objects.filter(config=tenant.config).count() == 0
    assert _calls(tenant.config) == 0


def test_over_quota_is_a_429_naming_the_plan_and_an_upgrade_unblocks_at_once(
    api_client, runtime_settings, offering, django_capture_on_commit_callbacks
):
    tenant = buy(offering, django_capture_on_commit_callbacks, monthly_quota_calls=2)
    assert [_send(api_client, tenant).status_code for _ in range(2)] == [200, 200]

    refused = _send(api_client, tenant)

    assert refused.status_code == 429
    assert refused.json()["code"] == "quota_exceeded"
    assert "all 2 API calls included in the Starter plan" in refused.json()["detail"]
    assert 0 < int(refused["Retry-After"]) <= 31 * 24 * 3600
    assert _calls(tenant.config) == 2

    professional = offering.plans.get(name="Professional")
    professional.price_minor = 0
    professional.save(update_fields=["price_minor"])
    with django_capture_on_commit_callbacks(execute=True):
        change = order_change_plan(resource=tenant.config.resource, plan=professional, actor=tenant.user)
        # Leaving a free plan for a usage-based one waits for a card on file; waived here, as in `buy`.
        assert change.state == OrderState.PENDING_PAYMENT
        order_approve(order=change, actor=None)
    tenant.config.resource.refresh_from_db()
    assert tenant.config.resource.plan == professional
    assert tenant.config.resource.state == ResourceState.OK

    assert _send(api_client, tenant).status_code == 200
    assert _calls(tenant.config) == 3


def test_overage_plans_keep_answering_past_the_quota(
    api_client, runtime_settings, offering, django_capture_on_commit_callbacks
):
    tenant = buy(
        offering, django_capture_on_commit_callbacks, monthly_quota_calls=1, overage_price_per_1000_minor=50
    )

    assert [_send(api_client, tenant).status_code for _ in range(3)] == [200, 200, 200]
    assert _calls(tenant.config) == 3


def test_rate_limit_is_a_429_with_retry_after_and_another_tenant_is_unaffected(
    api_client, runtime_settings, offering, django_capture_on_commit_callbacks
):
    busy = buy(offering, django_capture_on_commit_callbacks, rate_limit_per_minute=3)
    other = buy(offering, django_capture_on_commit_callbacks, plan_name="Professional")
    assert [_send(api_client, busy).status_code for _ in range(3)] == [200, 200, 200]

    refused = _send(api_client, busy)

    assert refused.status_code == 429
    assert refused.json()["code"] == "rate_limited"
    assert refused.json()["detail"].startswith("Too many messages: you can send 3 per minute")
    assert int(refused["Retry-After"]) == 20
    assert _calls(busy.config) == 3
    assert _send(api_client, other).status_code == 200


def test_a_revoked_key_is_refused_on_the_next_request(api_client, tenant, django_capture_on_commit_callbacks):
    assert _send(api_client, tenant).status_code == 200
    with django_capture_on_commit_callbacks(execute=True):
        api_key_revoke(api_key=tenant.config.api_keys.get(), actor=tenant.user)

    response = _send(api_client, tenant)

    assert response.status_code == 401
    assert response.json()["detail"] == "This API key was revoked."
    assert _calls(tenant.config) == 1


@pytest.mark.parametrize(
    ("headers", "detail"),
    [
        ({}, "Send an API key (Authorization: Bearer ar_sk_live_...) or a widget session."),
        ({"HTTP_AUTHORIZATION": "Bearer ar_sk_live_nonsense"}, "This API key is not valid."),
        ({"HTTP_X_API_KEY": "ar_sk_live_" + "a" * 46}, "This API key is not valid."),
        ({"HTTP_AUTHORIZATION": "Widget not-a-token"}, "This chat session is not valid."),
    ],
)
def test_missing_or_bad_credentials_are_401(api_client, tenant, headers, detail):
    response = api_client.post(tenant.url, {"input": "Hi"}, format="json", **headers)

    assert response.status_code == 401
    assert response.json()["detail"] == detail
    assert _calls(tenant.config) == 0


def test_a_key_for_another_config_is_a_404(api_client, tenant, offering, django_capture_on_commit_callbacks):
    other = buy(offering, django_capture_on_commit_callbacks)

    response = api_client.post(other.url, {"input": "Hi"}, format="json", **tenant.auth)

    assert response.status_code == 404
    assert _calls(other.config) == 0
    assert _calls(tenant.config) == 0


def test_a_suspended_subscription_is_refused(api_client, tenant, django_capture_on_commit_callbacks):
    from site_agent.services.configs import config_suspend

    with django_capture_on_commit_callbacks(execute=True):
        config_suspend(config=tenant.config)

    response = _send(api_client, tenant)

    assert response.status_code == 403
    assert response.json()["code"] == "subscription_inactive"
    assert _calls(tenant.config) == 0


def test_an_empty_message_is_a_400_in_the_envelope(api_client, tenant):
    response = _send(api_client, tenant, "   ")

    assert response.status_code == 400
    assert set(response.json()) == {"type", "title", "status", "detail", "code", "errors"}
    assert list(response.json()["errors"]) == ["input"]
    assert _calls(tenant.config) == 0


# --- The widget ------------------------------------------------------------------------------------------


@pytest.fixture
def widget_tenant(tenant):
    tenant.config.allowed_domains = ["shop.example.com", "*.example.org"]
    tenant.config.save(update_fields=["allowed_domains"])
    return tenant


def _session(client, tenant, origin=None, **extra):
    headers = {"HTTP_ORIGIN": origin} if origin else {}
    return client.post(
        "/api/widget/session", {"widget_id": tenant.config.widget_id}, format="json", **headers, **extra
    )


@pytest.mark.parametrize("origin", ["https://shop.example.com", "https://help.example.org"])
def test_a_widget_session_from_an_allowed_origin_has_cors_and_the_public_config(
    api_client, widget_tenant, origin
):
    response = _session(api_client, widget_tenant, origin)

    assert response.status_code == 201
    assert response["Access-Control-Allow-Origin"] == origin
    assert "Origin" in response["Vary"]
    assert "Access-Control-Allow-Credentials" not in response
    body = response.json()
    assert body["config_uuid"] == str(widget_tenant.config.uuid)
    assert body["expires_in"] == 1800
    assert len(body["session_id"]) == 32
    assert body["widget"] == {
        "agent_name": widget_tenant.config.agent_name,
        "greeting": widget_tenant.config.greeting,
        "primary_colour": "#4F46E5",
        "position": "bottom-right",
        "theme": "auto",
        "logo_url": None,
    }
    assert widget_tenant.key not in json.dumps(body)


@pytest.mark.parametrize("origin", [None, "https://evil.example.net", "https://example.org", "null"])
def test_a_widget_session_from_a_missing_or_other_origin_is_403_without_cors(
    api_client, widget_tenant, origin
):
    response = _session(api_client, widget_tenant, origin)

    assert response.status_code == 403
    assert response.json()["code"] == "origin_not_allowed"
    assert "Access-Control-Allow-Origin" not in response


def test_an_unknown_widget_is_a_404_without_cors(api_client, widget_tenant):
    response = api_client.post(
        "/api/widget/session",
        {"widget_id": "wid_nope"},
        format="json",
        HTTP_ORIGIN="https://shop.example.com",
    )

    assert response.status_code == 404
    assert "Access-Control-Allow-Origin" not in response


def test_preflights_are_answered_only_for_allowed_origins(api_client, widget_tenant):
    widget_id = widget_tenant.config.widget_id
    allowed = api_client.options(
        f"/api/widget/session?widget_id={widget_id}",
        HTTP_ORIGIN="https://shop.example.com",
        HTTP_ACCESS_CONTROL_REQUEST_METHOD="POST",
    )
    chat_allowed = api_client.options(widget_tenant.url, HTTP_ORIGIN="https://shop.example.com")
    refused = api_client.options(widget_tenant.url, HTTP_ORIGIN="https://evil.example.net")

    assert allowed.status_code == 204
    assert allowed["Access-Control-Allow-Origin"] == "https://shop.example.com"
    assert allowed["Access-Control-Allow-Methods"] == "POST, OPTIONS"
    assert allowed["Access-Control-Allow-Headers"] == "Authorization, Content-Type, Accept"
    assert chat_allowed.status_code == 204
    assert chat_allowed["Access-Control-Allow-Origin"] == "https://shop.example.com"
    assert refused.status_code == 403
    assert "Access-Control-Allow-Origin" not in refused


def test_a_widget_session_chats_from_its_page_only(api_client, widget_tenant, runtime_calls):
    origin = "https://shop.example.com"
    session = _session(api_client, widget_tenant, origin).json()
    widget_auth = {"HTTP_AUTHORIZATION": f"Widget {session['token']}"}

    answered = api_client.post(
        widget_tenant.url, {"input": "Hello from the shop"}, format="json", HTTP_ORIGIN=origin, **widget_auth
    )
    elsewhere = api_client.post(
        widget_tenant.url,
        {"input": "Hello from elsewhere"},
        format="json",
        HTTP_ORIGIN="https://evil.example.net",
        **widget_auth,
    )
    no_origin = api_client.post(widget_tenant.url, {"input": "Hi"}, format="json", **widget_auth)

    assert answered.status_code == 200
    assert answered["Access-Control-Allow-Origin"] == origin
    assert answered.json()["session_id"] == session["session_id"]
    assert "Hello from the shop" in answered.json()["output"]
    assert runtime_calls[0]["session_id"] == f"{widget_tenant.config.uuid}:{session['session_id']}"
    assert elsewhere.status_code == 403
    assert "Access-Control-Allow-Origin" not in elsewhere
    assert no_origin.status_code == 403
    assert _calls(widget_tenant.config) == 1


def test_a_widget_token_is_bound_to_its_config_and_expires(
    api_client, widget_tenant, settings, offering, django_capture_on_commit_callbacks
):
    origin = "https://shop.example.com"
    token = _session(api_client, widget_tenant, origin).json()["token"]
    other = buy(offering, django_capture_on_commit_callbacks)

    wrong_config = api_client.post(
        other.url, {"input": "Hi"}, format="json", HTTP_ORIGIN=origin, HTTP_AUTHORIZATION=f"Widget {token}"
    )
    settings.WIDGET_SESSION_SECONDS = -1
    expired = api_client.post(
        widget_tenant.url,
        {"input": "Hi"},
        format="json",
        HTTP_ORIGIN=origin,
        HTTP_AUTHORIZATION=f"Widget {token}",
    )

    assert wrong_config.status_code == 404
    assert expired.status_code == 401
    assert expired.json()["code"] == "session_expired"
    assert expired["Access-Control-Allow-Origin"] == origin  # the widget can read it and start again
    assert _calls(widget_tenant.config) == 0


def test_widget_visitors_are_limited_per_session_and_the_429_is_readable(api_client, widget_tenant, settings):
    settings.CHAT_WIDGET_SESSION_MESSAGES_PER_MINUTE = 2
    origin = "https://shop.example.com"
    first = _session(api_client, widget_tenant, origin).json()["token"]
    second = _session(api_client, widget_tenant, origin).json()["token"]

    def send(token):
        return api_client.post(
            widget_tenant.url,
            {"input": "Hi"},
            format="json",
            HTTP_ORIGIN=origin,
            HTTP_AUTHORIZATION=f"Widget {token}",
        )

    statuses = [send(first).status_code for _ in range(2)]
    refused = send(first)

    assert statuses == [200, 200]
    assert refused.status_code == 429
    assert refused["Access-Control-Allow-Origin"] == origin
    assert int(refused["Retry-After"]) == 30
    assert send(second).status_code == 200


def test_widget_visitors_are_limited_per_ip(api_client, widget_tenant, settings):
    settings.CHAT_WIDGET_IP_MESSAGES_PER_MINUTE = 1
    origin = "https://shop.example.com"
    token = _session(api_client, widget_tenant, origin).json()["token"]

    def send(address):
        return api_client.post(
            widget_tenant.url,
            {"input": "Hi"},
            format="json",
            HTTP_ORIGIN=origin,
            HTTP_AUTHORIZATION=f"Widget {token}",
            REMOTE_ADDR=address,
        )

    assert [send("203.0.113.5").status_code, send("203.0.113.5").status_code] == [200, 429]
    assert send("203.0.113.6").status_code == 200


def test_archived_configs_get_no_widget_session(api_client, widget_tenant):
    widget_tenant.config.state = ConfigState.ARCHIVED
    widget_tenant.config.save(update_fields=["state"])

    response = _session(api_client, widget_tenant, "https://shop.example.com")

    assert response.status_code == 404


def test_a_message_costs_a_fixed_number_of_queries(
    api_client, tenant, django_capture_on_commit_callbacks, django_assert_num_queries
):
    add_faq(tenant, django_capture_on_commit_callbacks, [("When are you open?", "From nine to five.")])
    assert _send(api_client, tenant, "When are you open?").status_code == 200  # the key is cached now

    # config, subscription and plan (1), quota (1), built-in retrieval (1: few passages match, so one
    # query ranks them all with their documents), usage (2 inserts in a savepoint: 4), and after the
    # answer is sent, the webhooks to announce it to (1: there are none, so no savepoint either)
    with django_assert_num_queries(8):
        response = _send(api_client, tenant, "When are you open?")

    assert response.status_code == 200
    assert "From nine to five." in response.json()["output"]


def _subscribe_webhook(config, *events):
    from site_agent.services.webhooks import webhook_endpoint_create

    return webhook_endpoint_create(
        config=config, url="https://hooks.example.com/cmp", events=list(events), actor=None
    )


def test_an_answered_message_is_announced_to_the_buyers_webhooks(api_client, tenant):
    from site_agent.models import WebhookDelivery

    _subscribe_webhook(tenant.config, "message.answered")

    response = _send(api_client, tenant, "Where is my order?")

    delivery = WebhookDelivery.objects.get()
    assert delivery.event == "message.answered"
    assert delivery.payload["request_id"] == response.json()["request_id"]
    assert delivery.payload["input"] == "Where is my order?"
    assert delivery.payload["output"] == response.json()["output"]


def test_reaching_the_quota_is_announced_once_per_month(
    api_client, runtime_settings, offering, django_capture_on_commit_callbacks
):
    from site_agent.models import WebhookDelivery

    tenant = buy(offering, django_capture_on_commit_callbacks, monthly_quota_calls=1)
    _subscribe_webhook(tenant.config, "usage.quota_reached")

    statuses = [_send(api_client, tenant).status_code for _ in range(3)]

    assert statuses == [200, 429, 429]
    delivery = WebhookDelivery.objects.get()
    assert delivery.event == "usage.quota_reached"
    assert (delivery.payload["quota"], delivery.payload["used"], delivery.payload["plan"]) == (
        1,
        1,
        "Starter",
    )
