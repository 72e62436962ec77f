"""The buyer's agent workspace pages: access per role, capabilities, read-only states, forms, keys once."""

import io
from datetime import timedelta

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from django.utils import timezone
from PIL import Image

from site_agent.keys import hash_key
from site_agent.models import ApiKey, UsageDaily, WebhookEndpoint
from tests.marketplace.factories import MembershipFactory, OrganizationFactory, UserFactory
from tests.marketplace_ai.factories import KnowledgeBaseFactory, KnowledgeDocumentFactory
from tests.site_agent.factories import ConfigFactory

pytestmark = pytest.mark.django_db

AGENT_CAPABILITIES = ["chat", "api", "knowledge_base", "persona", "branding", "integrations"]
PAGES = ["overview", "persona", "training", "branding", "keys", "widget", "usage", "integrations"]
URL_NAMES = {
    "overview": "agent-overview",
    "persona": "agent-persona",
    "training": "agent-training",
    "branding": "agent-branding",
    "keys": "agent-keys",
    "widget": "agent-widget",
    "usage": "agent-usage",
    "integrations": "agent-integrations",
    "automations": "runtime_bridge:workflows",
}


@pytest.fixture
def setup(operator):
    organization = OrganizationFactory(name="Acme")
    config = ConfigFactory(
        resource__organization=organization,
        agent__offering__capabilities=AGENT_CAPABILITIES,
        agent__offering__name="Support Agent",
        knowledge_base=KnowledgeBaseFactory(organization=organization, name="Acme support"),
        agent_name="Ava",
        greeting="Hello from Ava.",
        deployment_state="deployed",
    )
    users = {"operator": operator}
    for role in ("member", "manager", "owner"):
        users[role] = UserFactory(email=f"{role}@example.com")
        MembershipFactory(organization=organization, user=users[role], role=role)
    users["outsider"] = UserFactory(email="outsider@example.com")
    MembershipFactory(organization=OrganizationFactory(), user=users["outsider"], role="owner")
    return organization, config, users


def _url(page, config, **extra):
    name = URL_NAMES.get(page, page)
    return reverse(
        name if ":" in name else f"site_agent:{name}",
        kwargs={"organization_uuid": config.organization.uuid, "config_uuid": config.uuid, **extra},
    )


def _login(client, users, role):
    if role != "anonymous":
        client.force_login(users[role])
    return client


def _png(size=(32, 32), colour=(67, 56, 202)) -> bytes:
    output = io.BytesIO()
    Image.new("RGB", size, colour).save(output, format="PNG")
    return output.getvalue()


# --- Access --------------------------------------------------------------------------------------


@pytest.mark.parametrize("page", PAGES)
@pytest.mark.parametrize(
    ("role", "status"),
    [("anonymous", 302), ("outsider", 404), ("member", 200), ("owner", 200), ("operator", 200)],
)
def test_page_access_per_role(client, setup, page, role, status):
    _organization, config, users = setup

    response = _login(client, users, role).get(_url(page, config))

    assert response.status_code == status
    if role == "anonymous":
        assert response["Location"].startswith(reverse("account_login"))
    if status == 200:
        assert "Ava" in response.content.decode()


def test_agent_list_shows_the_organisations_agents_only(client, setup):
    organization, config, users = setup
    other = ConfigFactory(agent_name="Someone else's bot")

    response = _login(client, users, "member").get(reverse("site_agent:agent-list", args=[organization.uuid]))

    html = response.content.decode()
    assert response.status_code == 200
    assert "Ava" in html
    assert "Support Agent" in html
    assert "Live" in html
    assert other.agent_name not in html
    assert _url("overview", config) in html


def test_another_organisations_config_under_my_organisation_is_404(client, setup):
    organization, _config, users = setup
    other = ConfigFactory()
    url = reverse("site_agent:agent-overview", args=[organization.uuid, other.uuid])

    assert _login(client, users, "owner").get(url).status_code == 404


def test_member_sees_no_forms_and_cannot_change(client, setup):
    _organization, config, users = setup
    client = _login(client, users, "member")

    page = client.get(_url("persona", config)).content.decode()
    response = client.post(
        _url("persona", config), {"agent_name": "Hacked", "tone": "casual", "language": "en"}
    )

    assert "Save persona" not in page
    assert response.status_code == 403
    config.refresh_from_db()
    assert config.agent_name == "Ava"


@pytest.mark.parametrize(
    ("capabilities", "visible", "hidden"),
    [
        (  # an Automations product: scheduling and integrations, no widget
            ["api", "knowledge_base", "integrations", "scheduling"],
            ["overview", "training", "keys", "usage", "integrations", "automations"],
            ["widget", "persona", "branding"],
        ),
        (  # an Assistant: no integrations
            ["chat", "api", "knowledge_base", "persona", "branding"],
            ["overview", "persona", "training", "branding", "keys", "widget", "usage"],
            ["integrations", "automations"],
        ),
    ],
)
def test_capabilities_decide_the_tabs_and_hidden_pages_are_404(client, setup, capabilities, visible, hidden):
    _organization, config, users = setup
    config.resource.offering.capabilities = capabilities
    config.resource.offering.save(update_fields=["capabilities"])
    client = _login(client, users, "owner")

    overview = client.get(_url("overview", config)).content.decode()

    for page in visible:
        assert f'href="{_url(page, config)}"' in overview, page
        assert client.get(_url(page, config)).status_code == 200, page
    for page in hidden:
        assert f'href="{_url(page, config)}"' not in overview, page
        assert client.get(_url(page, config)).status_code == 404, page


def test_automations_sit_among_the_agents_tabs_and_the_old_scheduling_address_leads_there(client, setup):
    _organization, config, users = setup
    config.resource.offering.capabilities = ["api", "scheduling"]
    config.resource.offering.save(update_fields=["capabilities"])
    client = _login(client, users, "member")

    old_address = reverse("site_agent:agent-scheduling", args=[config.organization.uuid, config.uuid])
    response = client.get(old_address)
    html = client.get(_url("automations", config)).content.decode()

    assert response.status_code == 302
    assert response["Location"] == _url("automations", config)
    assert '<nav class="tabs"' in html
    assert (
        f'<a class="tab is-active" href="{_url("automations", config)}" aria-current="page">Automations</a>'
        in html
    )
    assert f'href="{_url("keys", config)}"' in html
    assert "/api/marketplace-ai-workflows/" in html


# --- Archived and setting up ---------------------------------------------------------------------


def test_archived_agent_is_read_only_with_a_banner(client, setup):
    _organization, config, users = setup
    config.state = "archived"
    config.save(update_fields=["state"])
    client = _login(client, users, "owner")

    pages = {page: client.get(_url(page, config)).content.decode() for page in PAGES}
    persona = client.post(_url("persona", config), {"agent_name": "New", "tone": "casual", "language": "en"})
    key = client.post(_url("keys", config), {"name": "Late key"})

    for page, html in pages.items():
        assert "This subscription was cancelled." in html, page
    assert "Save persona" not in pages["persona"]
    assert "Save branding" not in pages["branding"]
    assert "Create key" not in pages["keys"]
    assert "Add endpoint" not in pages["integrations"]
    assert "Upload a file" not in pages["training"]
    assert persona.status_code == 403
    assert key.status_code == 403
    config.refresh_from_db()
    assert config.agent_name == "Ava"
    assert config.api_keys.count() == 0


def test_overview_shows_setting_up_progress_and_polls_until_live(client, setup):
    _organization, config, users = setup
    config.deployment_state = "pending"
    config.save(update_fields=["deployment_state"])
    client = _login(client, users, "member")

    html = client.get(_url("overview", config)).content.decode()
    status_url = reverse("site_agent:agent-status", args=[config.organization.uuid, config.uuid])

    assert "Setting up" in html
    assert f'hx-get="{status_url}"' in html
    config.deployment_state = "deployed"
    config.deployed_at = timezone.now()
    config.save(update_fields=["deployment_state", "deployed_at"])
    fragment = client.get(status_url).content.decode()
    assert "Your agent is live" in fragment
    assert "hx-get" not in fragment


def test_overview_shows_the_deployment_error_and_what_the_agent_needs(client, setup):
    _organization, config, users = setup
    config.deployment_state = "failed"
    config.deployment_error = "The runtime did not answer within 30 seconds."
    config.save(update_fields=["deployment_state", "deployment_error"])
    config.agent_version.required_variables = ["OPENAI_API_KEY"]
    config.agent_version.save(update_fields=["required_variables"])

    html = _login(client, users, "member").get(_url("overview", config)).content.decode()

    assert "Failed, retrying" in html
    assert "The runtime did not answer within 30 seconds." in html
    assert "OPENAI_API_KEY" in html


# --- Persona and branding ------------------------------------------------------------------------


def test_owner_saves_the_persona(client, setup):
    _organization, config, users = setup

    response = _login(client, users, "owner").post(
        _url("persona", config),
        {
            "agent_name": "Max",
            "greeting": "Hoi!",
            "system_prompt": "Be brief.",
            "tone": "friendly",
            "language": "nl",
        },
    )

    assert response.status_code == 302
    config.refresh_from_db()
    assert (config.agent_name, config.greeting, config.system_prompt, config.tone, config.language) == (
        "Max",
        "Hoi!",
        "Be brief.",
        "friendly",
        "nl",
    )


def test_persona_errors_show_inline_and_change_nothing(client, setup):
    _organization, config, users = setup

    response = _login(client, users, "owner").post(
        _url("persona", config),
        {"agent_name": "x" * 51, "greeting": "g" * 501, "tone": "grumpy", "language": "en"},
    )

    assert response.status_code == 400
    errors = response.context["form"].errors
    assert set(errors) == {"agent_name", "greeting", "tone"}
    config.refresh_from_db()
    assert (config.agent_name, config.greeting, config.tone) == ("Ava", "Hello from Ava.", "professional")


def test_owner_saves_branding_with_a_logo(client, setup):
    _organization, config, users = setup

    response = _login(client, users, "manager").post(
        _url("branding", config),
        {
            "primary_colour": "#12ab34",
            "widget_position": "bottom-left",
            "theme": "dark",
            "allowed_domains": "shop.example.com\nhttps://www.example.org/\n*.example.net\n",
            "logo": SimpleUploadedFile("my logo.png", _png(), content_type="image/png"),
        },
    )

    assert response.status_code == 302
    config.refresh_from_db()
    assert config.primary_colour == "#12AB34"
    assert (config.widget_position, config.theme) == ("bottom-left", "dark")
    assert config.allowed_domains == ["shop.example.com", "www.example.org", "*.example.net"]
    assert config.logo.name.startswith("agents/logos/logo")
    assert config.logo.name.endswith(".png")


def test_branding_errors_per_line_and_nothing_changes(client, setup):
    _organization, config, users = setup
    config.allowed_domains = ["old.example.com"]
    config.save(update_fields=["allowed_domains"])

    response = _login(client, users, "owner").post(
        _url("branding", config),
        {
            "primary_colour": "#12ab34",
            "widget_position": "bottom-left",
            "theme": "dark",
            "allowed_domains": "good.example.com\nnot a host\nhttps://x.example.com/page",
        },
    )

    assert response.status_code == 400
    assert response.context["form"].errors["allowed_domains"] == [
        "Line 2: 'not a host' is not a host name such as shop.example.com or *.example.com.",
        "Line 3: 'https://x.example.com/page' is a page address; give only the host, e.g. shop.example.com.",
    ]
    config.refresh_from_db()
    assert config.primary_colour == "#4F46E5"
    assert config.allowed_domains == ["old.example.com"]
    assert config.theme == "auto"


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"<svg xmlns='http://www.w3.org/2000/svg'></svg>", "This file is not a PNG, JPEG or WebP image."),
        (b"GIF89a" + b"\x00" * 40, "This file is not a PNG, JPEG or WebP image."),
        (b"\x89PNG\r\n\x1a\n" + b"\x00" * (1024 * 1024), "The image is 1.0 MB; the limit is 1 MB."),
    ],
)
def test_logo_must_be_a_real_small_image(client, setup, content, message):
    _organization, config, users = setup

    response = _login(client, users, "owner").post(
        _url("branding", config),
        {
            "primary_colour": "#000000",
            "widget_position": "bottom-right",
            "theme": "light",
            "allowed_domains": "",
            "logo": SimpleUploadedFile("logo.png", content, content_type="image/png"),
        },
    )

    assert response.status_code == 400
    assert response.context["form"].errors["logo"] == [message]
    config.refresh_from_db()
    assert not config.logo
    assert config.primary_colour == "#4F46E5"


def test_a_gif_is_refused_even_when_real(client, setup):
    _organization, config, users = setup
    output = io.BytesIO()
    Image.new("RGB", (8, 8)).save(output, format="GIF")

    response = _login(client, users, "owner").post(
        _url("branding", config),
        {
            "primary_colour": "#000000",
            "widget_position": "bottom-right",
            "theme": "light",
            "logo": SimpleUploadedFile("logo.png", output.getvalue(), content_type="image/png"),
        },
    )

    assert response.status_code == 400
    assert response.context["form"].errors["logo"] == ["GIF images are not accepted: use PNG, JPEG or WebP."]


# --- Training ------------------------------------------------------------------------------------


def test_training_reuses_the_knowledge_pieces_and_returns_here(client, setup):
    _organization, config, users = setup
    KnowledgeDocumentFactory(knowledge_base=config.knowledge_base, name="returns.pdf", status="processing")
    training_url = _url("training", config)

    html = _login(client, users, "owner").get(training_url).content.decode()

    assert "returns.pdf" in html
    assert "Upload a file" in html
    assert 'hx-trigger="every 2s"' in html
    assert f'<input type="hidden" name="next" value="{training_url}">' in html
    assert "Test retrieval" in html


def test_training_for_a_member_has_no_upload_forms(client, setup):
    _organization, config, users = setup

    html = _login(client, users, "member").get(_url("training", config)).content.decode()

    assert "Upload a file" not in html
    assert "Test retrieval" in html


# --- API keys ------------------------------------------------------------------------------------


def test_created_key_is_shown_once_and_never_cached(client, setup):
    _organization, config, users = setup
    client = _login(client, users, "owner")

    response = client.post(_url("keys", config), {"name": "Website", "expires_in_days": "90"})

    assert response.status_code == 200
    assert "no-store" in response["Cache-Control"].split(", ")
    plaintext = response.context["new_key"]
    assert plaintext.startswith("ar_sk_live_")
    assert plaintext in response.content.decode()
    api_key = ApiKey.objects.get(config=config)
    assert api_key.key_hash == hash_key(plaintext)
    assert api_key.name == "Website"
    assert timedelta(days=89) < api_key.expires_at - timezone.now() <= timedelta(days=90)
    again = client.get(_url("keys", config)).content.decode()
    assert plaintext not in again
    assert f"{api_key.prefix}…" in again


def test_key_form_errors_create_nothing(client, setup):
    _organization, config, users = setup

    response = _login(client, users, "owner").post(_url("keys", config), {"name": ""})

    assert response.status_code == 400
    assert ApiKey.objects.count() == 0


def test_rotate_shows_the_new_key_once_and_revokes_the_old(client, setup):
    _organization, config, users = setup
    client = _login(client, users, "owner")
    client.post(_url("keys", config), {"name": "Website"})
    old = ApiKey.objects.get()

    response = client.post(_url("agent-key-rotate", config, key_uuid=old.uuid))

    assert response.status_code == 200
    assert "no-store" in response["Cache-Control"].split(", ")
    new_plaintext = response.context["new_key"]
    old.refresh_from_db()
    assert old.revoked_at is not None
    new = ApiKey.objects.get(revoked_at__isnull=True)
    assert new.key_hash == hash_key(new_plaintext)
    assert new.name == "Website"


def test_revoke_a_key(client, setup):
    _organization, config, users = setup
    client = _login(client, users, "owner")
    client.post(_url("keys", config), {"name": "Website"})
    api_key = ApiKey.objects.get()

    response = client.post(_url("agent-key-revoke", config, key_uuid=api_key.uuid))

    assert response.status_code == 302
    api_key.refresh_from_db()
    assert api_key.revoked_at is not None


def test_member_cannot_create_or_revoke_keys(client, setup):
    _organization, config, users = setup
    _login(client, users, "owner").post(_url("keys", config), {"name": "Website"})
    api_key = ApiKey.objects.get()
    client.force_login(users["member"])

    create = client.post(_url("keys", config), {"name": "Mine"})
    revoke = client.post(_url("agent-key-revoke", config, key_uuid=api_key.uuid))

    assert (create.status_code, revoke.status_code) == (403, 403)
    api_key.refresh_from_db()
    assert api_key.revoked_at is None
    assert ApiKey.objects.count() == 1


def test_another_configs_key_is_404(client, setup):
    _organization, config, users = setup
    foreign = ApiKey.objects.create(
        config=ConfigFactory(), name="Theirs", prefix="ar_sk_live_abc", key_hash="0" * 64
    )

    response = _login(client, users, "owner").post(_url("agent-key-revoke", config, key_uuid=foreign.uuid))

    assert response.status_code == 404
    foreign.refresh_from_db()
    assert foreign.revoked_at is None


# --- Widget and usage ---------------------------------------------------------------------------


def test_widget_page_has_the_embed_code_and_a_preview(client, setup, settings):
    settings.SITE_URL = "https://cmp.example.com"
    _organization, config, users = setup
    config.allowed_domains = ["shop.example.com"]
    config.widget_position = "bottom-left"
    config.save(update_fields=["allowed_domains", "widget_position"])

    html = _login(client, users, "member").get(_url("widget", config)).content.decode()

    assert (
        "&lt;script async src=&quot;https://cmp.example.com/widget/v1/cmp-widget.js&quot; "
        f"data-widget-id=&quot;{config.widget_id}&quot; data-colour=&quot;{config.primary_colour}&quot; "
        "data-position=&quot;bottom-left&quot; data-theme=&quot;auto&quot;&gt;&lt;/script&gt;"
    ) in html
    assert 'data-copy="embed-code"' in html
    assert "shop.example.com" in html
    assert f'<iframe class="widget-preview-frame" src="/widget/v1/preview/{config.widget_id}/"' in html
    assert "Preview" in html
    assert "<script>" not in html.split("<body>", 1)[1]


def test_usage_page_charts_the_last_30_days_with_a_table(client, setup):
    _organization, config, users = setup
    today = timezone.now().date()
    UsageDaily.objects.create(config=config, day=today, api_calls=42, tokens_input=1000, tokens_output=500)
    UsageDaily.objects.create(
        config=config, day=today - timedelta(days=3), api_calls=8, tokens_input=10, tokens_output=5
    )
    UsageDaily.objects.create(config=config, day=today - timedelta(days=45), api_calls=999)

    response = _login(client, users, "member").get(_url("usage", config))

    html = response.content.decode()
    assert response.status_code == 200
    assert response.context["calls_total"] == 50
    assert response.context["tokens_total"] == 1515
    assert len(response.context["calls_chart"].bars) == 30
    assert html.count('<rect class="bar"') == 4  # two days with calls, two with tokens
    assert "42 calls" in html
    assert "1500 tokens" in html
    assert f'<time datetime="{today:%Y-%m-%d}">' in html
    assert "1,000 API calls" in html  # the plan's monthly quota


# --- Integrations --------------------------------------------------------------------------------


def test_registering_a_webhook_shows_its_secret_once(client, setup):
    _organization, config, users = setup
    client = _login(client, users, "owner")

    response = client.post(
        _url("integrations", config),
        {"url": "https://hooks.example.com/cmp", "events": ["document.indexed", "message.answered"]},
    )

    assert response.status_code == 200
    assert "no-store" in response["Cache-Control"].split(", ")
    secret = response.context["new_secret"]
    assert secret.startswith("whsec_")
    assert secret in response.content.decode()
    endpoint = WebhookEndpoint.objects.get(config=config)
    assert endpoint.events == ["message.answered", "document.indexed"]
    assert secret not in endpoint.secret_encrypted
    assert secret not in client.get(_url("integrations", config)).content.decode()


def test_webhook_form_errors_create_nothing(client, setup):
    _organization, config, users = setup

    response = _login(client, users, "owner").post(
        _url("integrations", config), {"url": "http://hooks.example.com/cmp", "events": ["document.indexed"]}
    )

    assert response.status_code == 400
    assert response.context["form"].errors["url"] == [
        "Use https:// (plain http is allowed only for localhost while developing)."
    ]
    assert WebhookEndpoint.objects.count() == 0


def test_member_cannot_register_webhooks(client, setup):
    _organization, config, users = setup

    response = _login(client, users, "member").post(
        _url("integrations", config), {"url": "https://hooks.example.com/cmp", "events": ["document.indexed"]}
    )

    assert response.status_code == 403
    assert WebhookEndpoint.objects.count() == 0


def test_dashboard_links_to_the_agent(client, setup):
    organization, config, users = setup

    html = (
        _login(client, users, "member")
        .get(reverse("marketplace:organization-dashboard", args=[organization.uuid]))
        .content.decode()
    )

    assert "Open agent" in html
    assert _url("overview", config) in html
