"""`POST /api/runtime/auth/`: the runtime credential first, then the buyer's key; no key oracle."""

import datetime

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from marketplace.models import ResourceState
from site_agent.keys import generate_key
from site_agent.models import ApiKey
from site_agent.services import api_keys
from site_agent.services.api_keys import api_key_create, api_key_flush_last_used, api_key_revoke
from site_agent.services.configs import config_archive, config_suspend, config_update
from tests.site_agent.factories import ConfigFactory

pytestmark = pytest.mark.django_db

RUNTIME_TOKEN = "runtime-token-for-tests-0123456789"
AUTH_URL = "/api/runtime/auth/"
PING_URL = "/api/runtime/ping/"


@pytest.fixture(autouse=True)
def _runtime_token(settings):
    settings.RUNTIME_SERVICE_TOKEN = RUNTIME_TOKEN


@pytest.fixture
def runtime() -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {RUNTIME_TOKEN}")
    return client


@pytest.fixture
def config():
    return ConfigFactory(
        agent_name="Ada",
        greeting="Hello from Ada",
        system_prompt="Answer briefly.",
        tone="friendly",
        primary_colour="#112233",
        runtime_flow_id="flow-123",
        resource__plan__name="Pro",
        resource__plan__monthly_quota_calls=5000,
        resource__plan__rate_limit_per_minute=60,
    )


@pytest.fixture
def key(config):
    _api_key, plaintext = api_key_create(config=config, name="Site", actor=None)
    return plaintext


def _auth(client, api_key):
    return client.post(AUTH_URL, {"api_key": api_key}, format="json")


def test_a_valid_key_returns_the_config(runtime, config, key):
    response = _auth(runtime, key)

    assert response.status_code == 200
    assert response.json() == {
        "valid": True,
        "config_uuid": str(config.uuid),
        "key_expires_at": None,
        "config": {
            "organization_uuid": str(config.organization.uuid),
            "agent_name": "Ada",
            "greeting": "Hello from Ada",
            "tone": "friendly",
            "language": "en",
            "system_prompt": "Answer briefly.",
            "branding": {
                "primary_colour": "#112233",
                "logo_url": None,
                "widget_position": "bottom-right",
                "theme": "auto",
            },
            "runtime_flow_id": "flow-123",
            "knowledge_base_uuid": None,
            "limits": {
                "plan": "Pro",
                "monthly_quota_calls": 5000,
                "rate_limit_per_minute": 60,
                "overage_allowed": False,
            },
        },
    }


def test_a_key_with_an_expiry_reports_it(runtime, config):
    expires_at = datetime.datetime(2999, 1, 2, 3, 4, 5, tzinfo=datetime.UTC)
    _api_key, plaintext = api_key_create(config=config, name="Temp", actor=None, expires_at=expires_at)

    response = _auth(runtime, plaintext)

    assert response.status_code == 200
    assert response.json()["key_expires_at"] == "2999-01-02T03:04:05Z"


@pytest.mark.parametrize(
    "authorization",
    [None, "", "Bearer", "Bearer wrong-token", f"Token {RUNTIME_TOKEN}", f"Bearer {RUNTIME_TOKEN}x"],
)
def test_without_the_runtime_credential_every_request_is_401_in_the_envelope(config, key, authorization):
    client = APIClient()
    if authorization is not None:
        client.credentials(HTTP_AUTHORIZATION=authorization)

    valid = _auth(client, key)
    invalid = _auth(client, generate_key())

    for response in (valid, invalid):
        assert response.status_code == 401
        assert response.json()["code"] == "authentication_failed"
        assert "valid" not in response.json()
        assert response["WWW-Authenticate"] == 'Bearer realm="runtime"'
    api_key_flush_last_used()
    assert ApiKey.objects.get().last_used_at is None  # the key was never looked at


def test_with_no_token_configured_the_endpoint_refuses_everything(settings, config, key):
    settings.RUNTIME_SERVICE_TOKEN = ""
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION="Bearer ")

    response = _auth(client, key)

    assert response.status_code == 401
    assert response.json()["code"] == "authentication_failed"


def test_a_signed_in_user_is_not_a_runtime(config, key, user):
    client = APIClient()
    client.force_login(user)

    assert _auth(client, key).status_code == 401


@pytest.mark.parametrize(
    ("body", "content_type"),
    [
        ("{}", "application/json"),
        ('{"api_key": ""}', "application/json"),
        ('{"api_key": 42}', "application/json"),
        ('{"api_key": null}', "application/json"),
        ('["ar_sk_live_x"]', "application/json"),
        ("not json", "application/json"),
        ("", "application/json"),
    ],
)
def test_a_missing_or_non_text_key_is_400(runtime, body, content_type):
    response = runtime.generic("POST", AUTH_URL, body, content_type=content_type)

    assert response.status_code == 400
    assert response.json()["status"] == 400


@pytest.mark.parametrize(
    ("candidate", "reason"),
    [
        ("ar_sk_live_short", "malformed"),
        ("sk-openai-style-key", "malformed"),
        (None, "unknown"),  # well formed, never issued
    ],
)
def test_malformed_and_unknown_keys_are_401_with_a_reason(runtime, config, candidate, reason):
    response = _auth(runtime, candidate or generate_key())

    assert response.status_code == 401
    assert response.json() == {"valid": False, "reason": reason}


def test_revocation_applies_to_the_next_call_with_the_cache_warm(
    runtime, config, key, django_capture_on_commit_callbacks
):
    assert _auth(runtime, key).status_code == 200  # cached now
    assert _auth(runtime, key).status_code == 200

    with django_capture_on_commit_callbacks(execute=True):
        api_key_revoke(api_key=ApiKey.objects.get(), actor=None)
    response = _auth(runtime, key)

    assert response.status_code == 401
    assert response.json() == {"valid": False, "reason": "revoked"}


def test_a_check_that_raced_a_revocation_cannot_leave_the_key_cached_as_valid(
    runtime, config, key, monkeypatch, django_capture_on_commit_callbacks
):
    load = api_keys._load

    def load_then_revocation_commits(key_hash):
        loaded = load(key_hash)  # read while the key was still active ...
        with django_capture_on_commit_callbacks(execute=True):  # ... then revoked before it is cached
            api_key_revoke(api_key=ApiKey.objects.get(), actor=None)
        return loaded

    monkeypatch.setattr(api_keys, "_load", load_then_revocation_commits)
    assert _auth(runtime, key).status_code == 200  # the call that raced the revocation
    monkeypatch.undo()

    response = _auth(runtime, key)

    assert response.status_code == 401
    assert response.json() == {"valid": False, "reason": "revoked"}


def test_an_expired_key_is_401(runtime, config, key):
    ApiKey.objects.update(expires_at=timezone.now() - datetime.timedelta(seconds=1))

    response = _auth(runtime, key)

    assert response.status_code == 401
    assert response.json() == {"valid": False, "reason": "expired"}


def test_a_suspended_agent_is_refused_and_a_settings_change_is_seen_at_once(
    runtime, config, key, django_capture_on_commit_callbacks
):
    assert _auth(runtime, key).status_code == 200
    with django_capture_on_commit_callbacks(execute=True):
        config_update(config=config, actor=None, data={"agent_name": "Grace"})
    assert _auth(runtime, key).json()["config"]["agent_name"] == "Grace"

    with django_capture_on_commit_callbacks(execute=True):
        config_suspend(config=config)
    response = _auth(runtime, key)

    assert response.status_code == 401
    assert response.json() == {"valid": False, "reason": "suspended"}


@pytest.mark.parametrize("state", [ResourceState.TERMINATED, ResourceState.TERMINATING, ResourceState.ERRED])
def test_a_key_of_an_ended_subscription_is_refused(runtime, config, key, state):
    config.resource.state = state
    config.resource.save(update_fields=["state"])

    response = _auth(runtime, key)

    assert response.status_code == 401
    assert response.json() == {"valid": False, "reason": "subscription_inactive"}


def test_an_archived_agent_is_refused(runtime, config, key, django_capture_on_commit_callbacks):
    assert _auth(runtime, key).status_code == 200
    with django_capture_on_commit_callbacks(execute=True):
        config_archive(config=config)

    response = _auth(runtime, key)

    assert response.status_code == 401
    assert response.json() == {"valid": False, "reason": "subscription_inactive"}


def test_valid_checks_hit_the_database_once_then_not_at_all(runtime, config, key, django_assert_num_queries):
    with django_assert_num_queries(1):
        assert _auth(runtime, key).status_code == 200
    with django_assert_num_queries(0):
        assert _auth(runtime, key).status_code == 200


def test_malformed_keys_never_reach_the_database(runtime, django_assert_num_queries):
    with django_assert_num_queries(0):
        assert _auth(runtime, "ar_sk_live_" + "a" * 46).status_code == 401


def test_ping_needs_the_credential(runtime):
    assert runtime.get(PING_URL).json() == {"ok": True}
    assert APIClient().get(PING_URL).status_code == 401


def test_checks_are_counted_by_result(runtime, config, key):
    from cmp.metrics import RUNTIME_AUTH_CALLS

    allowed = RUNTIME_AUTH_CALLS.labels(result="allowed")._value.get()
    malformed = RUNTIME_AUTH_CALLS.labels(result="malformed")._value.get()

    _auth(runtime, key)
    _auth(runtime, "ar_sk_live_nope")

    assert RUNTIME_AUTH_CALLS.labels(result="allowed")._value.get() == allowed + 1
    assert RUNTIME_AUTH_CALLS.labels(result="malformed")._value.get() == malformed + 1
