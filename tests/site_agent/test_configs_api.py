"""`/api/customer-agent-configs/`: the buyer's own configs, keys, usage, widget and training documents."""

import datetime
import io

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import timezone
from PIL import Image

from marketplace_ai.models import KnowledgeDocument
from marketplace_ai.services import knowledge_base_create
from site_agent.keys import hash_key, is_well_formed
from site_agent.models import ApiKey, UsageDaily
from site_agent.services.api_keys import api_key_check, api_key_create
from site_agent.services.configs import config_archive
from tests.conftest import client_for
from tests.marketplace.factories import MembershipFactory, UserFactory
from tests.site_agent.factories import ConfigFactory

pytestmark = pytest.mark.django_db

BASE = "/api/customer-agent-configs/"


@pytest.fixture(autouse=True)
def _site_url(settings):
    settings.SITE_URL = "https://cmp.example.com"


@pytest.fixture
def config():
    return ConfigFactory(agent_name="Ada", allowed_domains=["shop.example.com"])


def _member(config, role):
    user = UserFactory()
    MembershipFactory(organization=config.organization, user=user, role=role)
    return user


@pytest.fixture
def owner(config):
    return _member(config, "owner")


def url(config, suffix=""):
    return f"{BASE}{config.uuid}/{suffix}"


def png_bytes(size=(16, 16)) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", size, "#336699").save(buffer, format="PNG")
    return buffer.getvalue()


# --- Access -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("who", "read", "write"),
    [
        ("anonymous", 401, 401),
        ("stranger", 404, 404),
        ("member", 200, 403),
        ("manager", 200, 200),
        ("owner", 200, 200),
        ("operator", 200, 200),
    ],
)
def test_access_per_role(api_client, config, operator, who, read, write):
    if who == "anonymous":
        client = api_client
    elif who == "operator":
        client = client_for(operator)
    elif who == "stranger":
        client = client_for(_member(ConfigFactory(), "owner"))  # owner of another organisation
    else:
        client = client_for(_member(config, who))

    got = client.get(url(config))
    changed = client.patch(url(config), {"agent_name": "Grace"}, format="json")

    assert got.status_code == read
    assert changed.status_code == write
    config.refresh_from_db()
    assert config.agent_name == ("Grace" if write == 200 else "Ada")


@pytest.mark.parametrize(
    ("method", "suffix", "body"),
    [
        ("get", "keys/", None),
        ("post", "keys/", {"name": "x"}),
        ("get", "usage/", None),
        ("get", "widget/", None),
        ("get", "training_documents/", None),
        ("post", "training_documents/", {"url": "https://example.com/"}),
    ],
)
def test_another_organisations_config_is_404_on_every_endpoint(config, method, suffix, body):
    stranger = client_for(_member(ConfigFactory(), "owner"))  # owner of another organisation

    response = getattr(stranger, method)(url(config, suffix), body, format="json")

    assert response.status_code == 404
    assert response.json()["code"] == "not_found"
    assert ApiKey.objects.count() == 0


@pytest.mark.parametrize(
    ("suffix", "body"),
    [("keys/", {"name": "Site"}), ("training_documents/", {"qa_pairs": [{"question": "q", "answer": "a"}]})],
)
def test_members_cannot_create_keys_or_documents(config, suffix, body):
    config.knowledge_base = knowledge_base_create(organization=config.organization, name="KB")
    config.save(update_fields=["knowledge_base"])
    member = client_for(_member(config, "member"))

    response = member.post(url(config, suffix), body, format="json")

    assert response.status_code == 403
    assert ApiKey.objects.count() == 0
    assert KnowledgeDocument.objects.count() == 0


# --- List and retrieve ----------------------------------------------------------------------------


def test_list_shows_only_the_users_configs_with_a_pinned_query_count(
    config, owner, django_assert_num_queries
):
    second = ConfigFactory(resource__organization=config.organization)
    ConfigFactory()  # another organisation's
    client = client_for(owner)

    with django_assert_num_queries(2):  # count and page, whatever the number of configs
        response = client.get(BASE)

    assert response.status_code == 200
    assert [item["uuid"] for item in response.json()["results"]] == [str(second.uuid), str(config.uuid)]


def test_list_filters_by_organisation_and_offering(config, owner):
    other_org_of_owner = ConfigFactory()
    MembershipFactory(organization=other_org_of_owner.organization, user=owner, role="member")
    client = client_for(owner)

    by_org = client.get(BASE, {"organization_uuid": str(config.organization.uuid)}).json()
    by_offering = client.get(BASE, {"offering_uuid": str(other_org_of_owner.resource.offering.uuid)}).json()
    bad = client.get(BASE, {"organization_uuid": "nope"})

    assert [item["uuid"] for item in by_org["results"]] == [str(config.uuid)]
    assert [item["uuid"] for item in by_offering["results"]] == [str(other_org_of_owner.uuid)]
    assert bad.status_code == 400


def test_retrieve_shows_the_settings(config, owner):
    body = client_for(owner).get(url(config)).json()

    assert body["uuid"] == str(config.uuid)
    assert body["organization_uuid"] == str(config.organization.uuid)
    assert body["offering"]["uuid"] == str(config.resource.offering.uuid)
    assert body["plan"] == {
        "uuid": str(config.resource.plan.uuid),
        "name": "Starter",
        "monthly_quota_calls": 1000,
        "rate_limit_per_minute": 20,
    }
    assert body["agent_version"] == "1.0.0"
    assert (body["agent_name"], body["tone"], body["allowed_domains"], body["logo_url"]) == (
        "Ada",
        "professional",
        ["shop.example.com"],
        None,
    )
    assert body["widget_id"] == config.widget_id


# --- Partial update -------------------------------------------------------------------------------


def test_partial_update_changes_and_normalises(config, owner):
    response = client_for(owner).patch(
        url(config),
        {
            "greeting": "  Hi there  ",
            "primary_colour": "#abcdef",
            "allowed_domains": ["https://Docs.Example.com/"],
        },
        format="json",
    )

    assert response.status_code == 200
    assert (response.json()["greeting"], response.json()["primary_colour"]) == ("Hi there", "#ABCDEF")
    config.refresh_from_db()
    assert config.allowed_domains == ["docs.example.com"]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"agent_name": "x" * 51}, "agent_name"),
        ({"tone": "sarcastic"}, "tone"),
        ({"primary_colour": "blue"}, "primary_colour"),
        ({"allowed_domains": ["not a host"]}, "allowed_domains"),
        ({"runtime_flow_id": "hijack"}, "runtime_flow_id"),
        ({"state": "active"}, "state"),
    ],
)
def test_bad_input_is_400_naming_the_field_and_nothing_changes(config, owner, body, field):
    response = client_for(owner).patch(url(config), {**body, "greeting": "changed"}, format="json")

    assert response.status_code == 400
    assert list(response.json()["errors"]) == [field]
    config.refresh_from_db()
    assert (config.agent_name, config.greeting, config.runtime_flow_id) == ("Ada", "", "")


def test_a_json_list_is_400(config, owner):
    response = client_for(owner).patch(url(config), ["agent_name"], format="json")

    assert response.status_code == 400


def test_an_archived_config_is_read_only(config, owner):
    config_archive(config=config)

    response = client_for(owner).patch(url(config), {"agent_name": "Grace"}, format="json")

    assert response.status_code == 409
    assert response.json()["code"] == "read_only"
    config.refresh_from_db()
    assert config.agent_name == "Ada"


def test_put_is_not_offered(config, owner):
    assert client_for(owner).put(url(config), {"agent_name": "Grace"}, format="json").status_code == 405


# --- Logo -----------------------------------------------------------------------------------------


def test_a_real_image_becomes_the_logo(config, owner):
    upload = SimpleUploadedFile("me.gif", png_bytes(), content_type="image/gif")

    response = client_for(owner).post(url(config, "logo/"), {"logo": upload}, format="multipart")

    assert response.status_code == 200
    config.refresh_from_db()
    assert config.logo.name.endswith(".png")
    assert response.json()["logo_url"] == config.logo.url


@pytest.mark.parametrize(
    "upload",
    [
        SimpleUploadedFile(
            "logo.png", b"<svg xmlns='http://www.w3.org/2000/svg'/>", content_type="image/png"
        ),
        SimpleUploadedFile("logo.png", b"\x89PNG" + b"0" * (1024 * 1024), content_type="image/png"),
    ],
    ids=["not-an-image", "too-large"],
)
def test_a_fake_or_large_logo_is_400_and_nothing_stored(config, owner, upload):
    response = client_for(owner).post(url(config, "logo/"), {"logo": upload}, format="multipart")

    assert response.status_code == 400
    assert list(response.json()["errors"]) == ["logo"]
    config.refresh_from_db()
    assert not config.logo


# --- Keys -----------------------------------------------------------------------------------------


def test_create_shows_the_key_once_and_the_list_never(config, owner):
    client = client_for(owner)

    created = client.post(url(config, "keys/"), {"name": "Website"}, format="json")
    listed = client.get(url(config, "keys/"))

    assert created.status_code == 201
    assert created["Cache-Control"] == "no-store"
    plaintext = created.json()["key"]
    assert is_well_formed(plaintext)
    api_key = ApiKey.objects.get()
    assert api_key.key_hash == hash_key(plaintext)
    assert created.json()["prefix"] == plaintext[:17] == api_key.prefix
    assert listed.json() == [
        {
            "uuid": str(api_key.uuid),
            "name": "Website",
            "prefix": api_key.prefix,
            "created_at": api_key.created_at.isoformat().replace("+00:00", "Z"),
            "last_used_at": None,
            "expires_at": None,
            "revoked_at": None,
            "is_active": True,
        }
    ]
    assert plaintext not in listed.content.decode()
    assert api_key.key_hash not in listed.content.decode()


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"name": ""},
        {"name": "x" * 101},
        {"name": "ok", "expires_at": "2001-01-01T00:00:00Z"},
        {"name": "ok", "x": 1},
    ],
)
def test_bad_key_input_is_400_and_no_key_made(config, owner, body):
    response = client_for(owner).post(url(config, "keys/"), body, format="json")

    assert response.status_code == 400
    assert ApiKey.objects.count() == 0


def test_key_list_query_count_is_pinned(config, owner, django_assert_num_queries):
    for number in range(5):
        api_key_create(config=config, name=f"k{number}", actor=None)
    client = client_for(owner)

    with django_assert_num_queries(2):  # the config, the keys
        response = client.get(url(config, "keys/"))

    assert len(response.json()) == 5


def test_revoke_stops_the_key_at_once(config, owner, django_capture_on_commit_callbacks):
    api_key, plaintext = api_key_create(config=config, name="Site", actor=None)
    assert api_key_check(key=plaintext).valid  # cached

    with django_capture_on_commit_callbacks(execute=True):
        response = client_for(owner).post(url(config, f"keys/{api_key.uuid}/revoke/"))
    again = client_for(owner).post(url(config, f"keys/{api_key.uuid}/revoke/"))

    assert response.status_code == 200
    assert response.json()["is_active"] is False
    assert api_key_check(key=plaintext).reason == "revoked"
    assert again.status_code == 409


def test_rotate_returns_a_new_key_and_stops_the_old(config, owner, django_capture_on_commit_callbacks):
    api_key, plaintext = api_key_create(config=config, name="Site", actor=None)

    with django_capture_on_commit_callbacks(execute=True):
        response = client_for(owner).post(url(config, f"keys/{api_key.uuid}/rotate/"))

    assert response.status_code == 201
    assert response["Cache-Control"] == "no-store"
    new_plaintext = response.json()["key"]
    assert response.json()["name"] == "Site"
    assert api_key_check(key=plaintext).reason == "revoked"
    assert api_key_check(key=new_plaintext).valid is True


@pytest.mark.parametrize("key_uuid", ["not-a-uuid", "00000000-0000-0000-0000-000000000000"])
def test_an_unknown_key_is_404(config, owner, key_uuid):
    assert client_for(owner).post(url(config, f"keys/{key_uuid}/revoke/")).status_code == 404


def test_another_configs_key_is_404_through_this_config(config, owner):
    other = ConfigFactory(resource__organization=config.organization)
    api_key, _plaintext = api_key_create(config=other, name="Other", actor=None)

    response = client_for(owner).post(url(config, f"keys/{api_key.uuid}/revoke/"))

    assert response.status_code == 404
    api_key.refresh_from_db()
    assert api_key.revoked_at is None


def test_a_member_cannot_revoke(config):
    api_key, _plaintext = api_key_create(config=config, name="Site", actor=None)

    response = client_for(_member(config, "member")).post(url(config, f"keys/{api_key.uuid}/revoke/"))

    assert response.status_code == 403
    api_key.refresh_from_db()
    assert api_key.revoked_at is None


# --- Usage and widget -----------------------------------------------------------------------------


def test_usage_fills_missing_days_and_totals_the_quota_period(config, owner):
    now = timezone.now()
    today = now.date()
    config.resource.current_period_start = now - datetime.timedelta(days=2)
    config.resource.save(update_fields=["current_period_start"])
    UsageDaily.objects.create(config=config, day=today, api_calls=5, tokens_input=50, tokens_output=10)
    UsageDaily.objects.create(
        config=config, day=today - datetime.timedelta(days=1), api_calls=3, tokens_input=0, tokens_output=0
    )
    UsageDaily.objects.create(  # before this period: in the series, not in the period
        config=config, day=today - datetime.timedelta(days=4), api_calls=100, tokens_input=0, tokens_output=0
    )

    body = client_for(_member(config, "member")).get(url(config, "usage/"), {"days": 7}).json()

    assert [(day["day"], day["api_calls"]) for day in body["days"]] == [
        ((today - datetime.timedelta(days=offset)).isoformat(), calls)
        for offset, calls in [(6, 0), (5, 0), (4, 100), (3, 0), (2, 0), (1, 3), (0, 5)]
    ]
    period = body["period"]
    assert (period["api_calls"], period["tokens_input"], period["tokens_output"]) == (8, 50, 10)
    assert (period["quota_calls"], period["remaining_calls"], period["percent_used"]) == (1000, 992, 0.8)


@pytest.mark.parametrize("days", ["0", "367", "x"])
def test_usage_refuses_a_bad_number_of_days(config, owner, days):
    assert client_for(owner).get(url(config, "usage/"), {"days": days}).status_code == 400


def test_widget_gives_one_script_tag_with_the_publishable_id(config, owner):
    body = client_for(owner).get(url(config, "widget/")).json()

    assert body["embed_code"] == (
        '<script async src="https://cmp.example.com/widget/v1/cmp-widget.js" '
        f'data-widget-id="{config.widget_id}" data-colour="{config.primary_colour}" '
        f'data-position="{config.widget_position}" data-theme="{config.theme}"></script>'
    )
    assert body["widget_id"] == config.widget_id
    assert body["allowed_domains"] == ["shop.example.com"]
    assert body["branding"]["agent_name"] == "Ada"
    assert "ar_sk_live_" not in str(body)


# --- Training documents ---------------------------------------------------------------------------


@pytest.fixture
def knowledge_config(config):
    config.knowledge_base = knowledge_base_create(organization=config.organization, name="Ada knowledge")
    config.save(update_fields=["knowledge_base"])
    return config


def test_training_documents_are_added_and_listed(knowledge_config, owner, django_assert_num_queries):
    client = client_for(owner)

    created = client.post(
        url(knowledge_config, "training_documents/"),
        {"qa_pairs": [{"question": "Opening hours?", "answer": "9 to 5."}]},
        format="json",
    )
    repeated = client.post(
        url(knowledge_config, "training_documents/"),
        {"qa_pairs": [{"question": "Opening hours?", "answer": "9 to 5."}]},
        format="json",
    )
    with django_assert_num_queries(3):  # the config, count, page
        listed = client.get(url(knowledge_config, "training_documents/"))

    assert created.status_code == 201
    assert repeated.status_code == 200
    document = KnowledgeDocument.objects.get()
    assert document.knowledge_base == knowledge_config.knowledge_base
    assert created.json()["knowledge_base_uuid"] == str(knowledge_config.knowledge_base.uuid)
    assert [item["uuid"] for item in listed.json()["results"]] == [str(document.uuid)]


def test_a_file_document_is_checked_by_content(knowledge_config, owner):
    upload = SimpleUploadedFile("notes.txt", b"Our shop opens at nine.", content_type="text/plain")

    response = client_for(owner).post(
        url(knowledge_config, "training_documents/"), {"file": upload}, format="multipart"
    )

    assert response.status_code == 201
    assert response.json()["source"] == "file"


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"url": "https://example.com/", "qa_pairs": [{"question": "q", "answer": "a"}]},
        {"knowledge_base_uuid": "00000000-0000-0000-0000-000000000000", "url": "https://example.com/"},
        {"url": "http://127.0.0.1/admin"},
    ],
)
def test_bad_training_input_is_400_and_nothing_added(knowledge_config, owner, body):
    response = client_for(owner).post(url(knowledge_config, "training_documents/"), body, format="json")

    assert response.status_code == 400
    assert KnowledgeDocument.objects.count() == 0


def test_a_config_without_knowledge_base_lists_nothing_and_refuses_documents(config, owner):
    client = client_for(owner)

    listed = client.get(url(config, "training_documents/"))
    added = client.post(url(config, "training_documents/"), {"url": "https://example.com/"}, format="json")

    assert listed.json()["results"] == []
    assert added.status_code == 409
    assert KnowledgeDocument.objects.count() == 0
