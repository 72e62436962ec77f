"""The seller's agent pages through the Django client: access, import (file and paste), check, versions and
their differences, publishing, pricing template, logo, analytics and customers."""

import copy
import io
import json

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.urls import reverse
from django.utils import timezone
from PIL import Image

from marketplace.models import Offering, OfferingState
from site_agent.models import AgentIdentity, AgentVersion, UsageDaily
from tests.marketplace.factories import (
    MembershipFactory,
    OrderFactory,
    OrganizationFactory,
    ResourceFactory,
    ServiceProviderFactory,
    UserFactory,
)
from tests.runtime_bridge.test_analytics import deploy, make_agent

pytestmark = pytest.mark.django_db


@pytest.fixture
def provider():
    return ServiceProviderFactory()


@pytest.fixture
def seller(provider):
    user = UserFactory()
    MembershipFactory(organization=provider.organization, user=user, role="owner")
    return user


@pytest.fixture
def seller_client(client, seller):
    client.force_login(seller)
    return client


@pytest.fixture
def agent(provider):
    return make_agent(provider)


def url(name, provider, agent=None):
    return reverse(f"runtime_bridge:{name}", args=[provider.uuid, *([agent.uuid] if agent else [])])


def flow_file(flow: dict, name: str = "flow.json") -> SimpleUploadedFile:
    return SimpleUploadedFile(name, json.dumps(flow).encode(), content_type="application/json")


def png_bytes(size=(64, 64), image_format="PNG") -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", size, (67, 56, 202)).save(buffer, format=image_format)
    return buffer.getvalue()


def prompt_node(flow: dict) -> dict:
    return next(node for node in flow["data"]["nodes"] if node["data"]["type"] == "Prompt Template")


# --- Access -------------------------------------------------------------------------------------

PAGES = ["agents", "agent-create", "agent-detail", "agent-compare", "agent-analytics", "provider-customers"]


def _page_url(page, provider, agent):
    return url(page, provider, agent if page.startswith("agent-") and page != "agent-create" else None)


@pytest.mark.parametrize("page", PAGES)
def test_anonymous_visitor_is_sent_to_sign_in(client, provider, agent, page):
    response = client.get(_page_url(page, provider, agent))

    assert response.status_code == 302
    assert response["Location"].startswith(reverse("account_login"))


@pytest.mark.parametrize("page", PAGES)
@pytest.mark.parametrize(
    ("who", "status"),
    [("buyer", 404), ("member", 404), ("other_seller", 404), ("manager", 200), ("owner", 200)],
)
def test_only_owners_and_managers_of_the_provider_see_its_pages(client, provider, agent, page, who, status):
    user = UserFactory()
    if who == "buyer":
        MembershipFactory(organization=OrganizationFactory(), user=user, role="owner")
    elif who == "other_seller":
        MembershipFactory(organization=ServiceProviderFactory().organization, user=user, role="owner")
    else:
        MembershipFactory(organization=provider.organization, user=user, role=who)
    client.force_login(user)

    assert client.get(_page_url(page, provider, agent)).status_code == status


def test_another_providers_agent_is_a_404_even_for_a_user_managing_both(client, seller, provider):
    other_provider = ServiceProviderFactory()
    MembershipFactory(organization=other_provider.organization, user=seller, role="owner")
    other_agent = make_agent(other_provider, name="Elsewhere")
    client.force_login(seller)

    assert client.get(url("agent-detail", other_provider, other_agent)).status_code == 200
    assert client.get(url("agent-detail", provider, other_agent)).status_code == 404
    assert client.post(url("agent-unpublish", provider, other_agent)).status_code == 404


def test_posts_need_the_csrf_token(seller, provider, agent):
    client = Client(enforce_csrf_checks=True)
    client.force_login(seller)

    response = client.post(url("agent-pricing-template", provider, agent))

    assert response.status_code == 403
    assert agent.offering.plans.count() == 0


# --- List and create --------------------------------------------------------------------------


def test_empty_agent_list_offers_to_create_one(seller_client, provider):
    body = seller_client.get(url("agents", provider)).content.decode()

    assert "No agents yet" in body
    assert url("agent-create", provider) in body


def test_agent_list_shows_state_version_and_subscribers(
    seller_client, provider, agent, django_assert_max_num_queries
):
    deploy(agent)
    deploy(agent, resource_state="terminated")
    make_agent(ServiceProviderFactory(), name="Not mine")

    with django_assert_max_num_queries(8):
        response = seller_client.get(url("agents", provider))

    agents = response.context["agents"]
    assert [
        (item.name, item.offering.state, item.current_version.version, item.subscriber_count)
        for item in agents
    ] == [("Echo Agent", "draft", "1.0.0", 1)]
    assert url("agent-detail", provider, agent) in response.content.decode()


def test_import_from_an_uploaded_file_creates_the_agent(seller_client, provider, support_flow):
    response = seller_client.post(
        url("agent-create", provider),
        {
            "flow_file": flow_file(support_flow),
            "category": "agents",
            "name": "",
            "description": "",
            "action": "import",
        },
    )

    agent = AgentIdentity.objects.get()
    assert response.status_code == 302
    assert response["Location"] == url("agent-detail", provider, agent)
    assert (agent.name, agent.provider_id, agent.offering.state) == (
        support_flow["name"],
        provider.pk,
        "draft",
    )
    assert agent.description == support_flow["description"]
    assert (agent.current_version.version, agent.current_version.node_count) == ("1.0.0", 3)


def test_import_from_pasted_json_uses_the_typed_name(seller_client, provider, support_flow):
    response = seller_client.post(
        url("agent-create", provider),
        {
            "flow_text": json.dumps(support_flow),
            "category": "assistants",
            "name": "Helpdesk",
            "description": "Answers tickets.",
            "action": "import",
        },
    )

    assert response.status_code == 302
    agent = AgentIdentity.objects.get()
    assert (agent.name, agent.description, agent.category.slug) == (
        "Helpdesk",
        "Answers tickets.",
        "assistants",
    )


def test_check_reports_the_flow_and_saves_nothing(seller_client, provider, support_flow):
    response = seller_client.post(
        url("agent-create", provider),
        {"flow_file": flow_file(support_flow), "category": "agents", "name": "", "action": "check"},
    )

    assert response.status_code == 200
    body = response.content.decode()
    assert "The flow is valid." in body
    assert "Nodes: 3 | Edges: 2" in body
    assert "<code>CMP_CONTEXT</code>" in body
    assert "must be provided in the runtime's environment" in body
    for component in ("ChatInput", "ChatOutput", "Prompt Template"):
        assert f'<li class="chip">{component}</li>' in body
    form = response.context["form"]
    assert form["name"].value() == support_flow["name"]
    assert json.loads(form["flow_text"].value()) == support_flow  # the checked file, ready to import
    assert (AgentIdentity.objects.count(), Offering.objects.count()) == (0, 0)


def test_check_lists_removed_secrets_as_warnings(seller_client, provider, support_flow):
    prompt = prompt_node(support_flow)
    prompt["data"]["node"]["template"]["api_key"] = {"password": True, "value": "not-a-real-key"}

    body = seller_client.post(
        url("agent-create", provider),
        {"flow_text": json.dumps(support_flow), "category": "agents", "action": "check"},
    ).content.decode()

    assert "The value of &#x27;api_key&#x27; was removed; set variable PROMPT_TEMPLATE_API_KEY." in body
    assert f"node <code>{prompt['id']}</code>" in body
    assert "not-a-real-key" not in body.split("<textarea")[0]  # only the seller's own input echoes it


def test_invalid_flow_shows_each_problem_with_its_node_and_saves_nothing(
    seller_client, provider, support_flow
):
    prompt = prompt_node(support_flow)
    prompt["data"]["type"] = "NotAComponent"

    response = seller_client.post(
        url("agent-create", provider),
        {"flow_file": flow_file(support_flow), "category": "agents", "action": "import"},
    )

    assert response.status_code == 400
    body = response.content.decode()
    assert "The flow has 1 problem." in body
    assert "Unknown component type &#x27;NotAComponent&#x27;: the runtime cannot load it." in body
    assert f"node <code>{prompt['id']}</code>" in body
    assert (AgentIdentity.objects.count(), Offering.objects.count()) == (0, 0)


@pytest.mark.parametrize(
    ("data", "error"),
    [
        ({}, "Upload the flow&#x27;s .json file or paste its JSON."),
        ({"flow_text": "{}", "flow_file": "both"}, "Upload a file or paste the JSON, not both."),
        ({"flow_file": "wrong-name"}, "Choose the .json file exported from Langflow."),
        ({"flow_file": "too-big"}, "the limit is 5 MB."),
        ({"flow_text": "{not json"}, "The file is not valid JSON"),
    ],
)
def test_bad_uploads_are_refused_with_a_message(seller_client, provider, data, error):
    files = {
        "both": flow_file({"a": 1}),
        "wrong-name": SimpleUploadedFile("flow.txt", b"{}"),
        "too-big": SimpleUploadedFile("flow.json", b" " * (5 * 1024 * 1024 + 1)),
    }
    if "flow_file" in data:
        data = {**data, "flow_file": files[data["flow_file"]]}

    response = seller_client.post(
        url("agent-create", provider), {**data, "category": "agents", "action": "import"}
    )

    assert response.status_code == 400
    assert error in response.content.decode()
    assert AgentIdentity.objects.count() == 0


# --- Versions and what changed ----------------------------------------------------------------


def test_new_version_then_same_content_then_the_difference(seller_client, provider, support_flow):
    seller_client.post(
        url("agent-create", provider),
        {"flow_text": json.dumps(support_flow), "category": "agents", "action": "import"},
    )
    agent = AgentIdentity.objects.get()
    changed = copy.deepcopy(support_flow)
    prompt = prompt_node(changed)
    prompt["data"]["node"]["template"]["template"]["value"] = "Short answer: {context}"

    response = seller_client.post(
        url("agent-version-create", provider, agent),
        {"flow_file": flow_file(changed), "changelog": "Shorter answers."},
    )
    assert response.status_code == 302
    assert response["Location"] == url("agent-detail", provider, agent) + "#versions"
    agent.refresh_from_db()
    assert (agent.current_version.version, agent.current_version.changelog) == ("1.1.0", "Shorter answers.")

    response = seller_client.post(
        url("agent-version-create", provider, agent), {"flow_text": json.dumps(changed)}, follow=True
    )
    assert "No changes: the flow is the same as version 1.1.0." in response.content.decode()
    assert AgentVersion.objects.filter(agent=agent).count() == 2

    response = seller_client.get(url("agent-compare", provider, agent))
    diff = response.context["diff"]
    assert (response.context["older"].version, response.context["newer"].version) == ("1.0.0", "1.1.0")
    assert [(change.node.id, [field.field for field in change.fields]) for change in diff.nodes_changed] == [
        (prompt["id"], ["template"])
    ]
    assert diff.nodes_changed[0].fields[0].new == "Short answer: {context}"
    assert (diff.nodes_added, diff.nodes_removed, diff.edges_added, diff.edges_removed) == ([], [], [], [])
    assert "Short answer: {context}" in response.content.decode()


def test_invalid_new_version_shows_problems_and_adds_nothing(seller_client, provider, agent):
    response = seller_client.post(
        url("agent-version-create", provider, agent), {"flow_text": json.dumps({"data": {"nodes": []}})}
    )

    assert response.status_code == 400
    assert "The export has no data.nodes: is it a Langflow flow?" in response.content.decode()
    assert agent.versions.count() == 1


def test_older_version_label_is_a_form_error(seller_client, provider, agent):
    from tests.runtime_bridge.test_analytics import minimal_flow

    response = seller_client.post(
        url("agent-version-create", provider, agent),
        {"flow_text": json.dumps(minimal_flow(greeting="Hi")), "version": "0.9.0"},
    )

    assert response.status_code == 400
    assert "Version 0.9.0 must be newer than 1.0.0." in response.content.decode()
    assert agent.versions.count() == 1


# --- Publishing and pricing -------------------------------------------------------------------


def test_publishing_without_plans_lists_what_is_missing(seller_client, provider, agent):
    response = seller_client.post(url("agent-publish", provider, agent), {"terms_accepted": "on"})

    assert response.status_code == 400
    assert "Add at least one plan before publishing." in response.content.decode()
    agent.offering.refresh_from_db()
    assert (agent.offering.state, agent.offering.terms_accepted_at) == ("draft", None)


def test_pricing_template_then_publish_unpublish_and_publish_again(seller_client, provider, agent):
    provider.is_trusted = True
    provider.save(update_fields=["is_trusted"])

    response = seller_client.post(url("agent-pricing-template", provider, agent))
    assert response.status_code == 302
    assert list(agent.offering.plans.values_list("name", "price_minor")) == [
        ("Starter", 2900),
        ("Professional", 9900),
        ("Enterprise", 29900),
    ]

    response = seller_client.post(url("agent-publish", provider, agent), {"terms_accepted": "on"})
    assert response.status_code == 302
    agent.offering.refresh_from_db()
    assert agent.offering.state == OfferingState.ACTIVE

    seller_client.post(url("agent-unpublish", provider, agent))
    agent.offering.refresh_from_db()
    assert agent.offering.state == OfferingState.PAUSED

    seller_client.post(url("agent-publish", provider, agent))
    agent.offering.refresh_from_db()
    assert agent.offering.state == OfferingState.ACTIVE


def test_untrusted_seller_submits_for_review_and_cannot_unpublish_yet(seller_client, provider, agent):
    seller_client.post(url("agent-pricing-template", provider, agent))

    seller_client.post(url("agent-publish", provider, agent), {"terms_accepted": "on"})
    agent.offering.refresh_from_db()
    assert agent.offering.state == OfferingState.PENDING_REVIEW

    response = seller_client.post(url("agent-unpublish", provider, agent), follow=True)
    assert response.status_code == 200
    assert "This offering is pending review, so it cannot be paused." in response.content.decode()
    agent.offering.refresh_from_db()
    assert agent.offering.state == OfferingState.PENDING_REVIEW


def test_pricing_template_is_refused_when_plans_exist(seller_client, provider, agent):
    seller_client.post(url("agent-pricing-template", provider, agent))

    response = seller_client.post(url("agent-pricing-template", provider, agent), follow=True)

    assert "This offering already has plans; edit them instead." in response.content.decode()
    assert agent.offering.plans.count() == 3


# --- Logo ---------------------------------------------------------------------------------------


def test_a_real_png_logo_is_stored(seller_client, provider, agent):
    response = seller_client.post(
        url("agent-logo", provider, agent), {"logo": SimpleUploadedFile("me.PNG", png_bytes(), "image/png")}
    )

    assert response.status_code == 302
    agent.offering.refresh_from_db()
    assert agent.offering.logo.name.startswith(f"offerings/logos/{agent.offering.slug}")
    assert agent.offering.logo.name.endswith(".png")
    with Image.open(agent.offering.logo.path) as stored:
        assert (stored.format, stored.size) == ("PNG", (64, 64))


@pytest.mark.parametrize(
    ("upload", "error"),
    [
        (
            SimpleUploadedFile("logo.png", b"<svg>not an image</svg>", "image/png"),
            "This file is not a PNG, JPEG or WebP image.",
        ),
        (
            SimpleUploadedFile("logo.gif", png_bytes(image_format="GIF"), "image/gif"),
            "GIF images are not accepted: use PNG, JPEG or WebP.",
        ),
        (
            SimpleUploadedFile("logo.png", png_bytes() + b"\0" * (1024 * 1024), "image/png"),
            "the limit is 1 MB.",
        ),
    ],
)
def test_fake_or_unsupported_logos_are_refused(seller_client, provider, agent, upload, error):
    response = seller_client.post(url("agent-logo", provider, agent), {"logo": upload})

    assert response.status_code == 400
    assert error in response.content.decode()
    agent.offering.refresh_from_db()
    assert agent.offering.logo.name == ""


# --- Analytics and customers --------------------------------------------------------------------


def test_analytics_page_shows_the_figures_and_an_accessible_chart(
    seller_client, provider, agent, django_assert_max_num_queries
):
    today = timezone.localdate()
    config = deploy(agent)
    UsageDaily.objects.create(config=config, day=today, api_calls=1234, tokens_input=10, tokens_output=5)
    OrderFactory(plan=config.resource.plan, state="done", cost_minor=2950, paid_at=timezone.now())

    with django_assert_max_num_queries(12):
        response = seller_client.get(url("agent-analytics", provider, agent) + "?days=7")

    assert response.status_code == 200
    analytics = response.context["analytics"]
    assert (analytics.days, analytics.api_calls, analytics.tokens, analytics.deployments) == (7, 1234, 15, 1)
    body = response.content.decode()
    assert '<svg class="chart"' in body
    assert '<title id="calls-chart-title">API calls per day</title>' in body
    assert "1,234 API calls from" in body
    assert body.count('<rect class="bar"') == 1
    assert "$29.50" in body
    assert body.count('<tr><th scope="row"') == 7  # the table fallback: one row per day


def test_customers_page_lists_only_own_subscriptions_with_calls(
    seller_client, provider, agent, django_assert_num_queries
):
    config = deploy(agent, organization=OrganizationFactory(name="Acme Ltd"))
    UsageDaily.objects.create(config=config, day=timezone.localdate(), api_calls=42)
    ResourceFactory(organization=OrganizationFactory(name="Rival's customer"))
    cancelled = deploy(agent, organization=OrganizationFactory(name="Gone Inc"), resource_state="terminated")

    with django_assert_num_queries(7):
        response = seller_client.get(url("provider-customers", provider))
    rows = [(row.organization.name, row.period_calls) for row in response.context["customers"]]
    assert rows == [("Acme Ltd", 42)]

    for _ in range(3):
        deploy(agent)
    with django_assert_num_queries(7):
        response = seller_client.get(url("provider-customers", provider) + "?show=all")
    names = [row.organization.name for row in response.context["customers"]]
    assert len(names) == 5
    assert cancelled.resource.organization.name in names
    assert "Rival's customer" not in response.content.decode()


def test_screenshots_are_added_shown_on_the_listing_and_removed(seller_client, provider, agent):
    from marketplace.models import OfferingScreenshot

    response = seller_client.post(
        url("agent-screenshot-add", provider, agent),
        {
            "image": SimpleUploadedFile("shot.png", png_bytes((64, 40)), content_type="image/png"),
            "caption": "Answering",
        },
    )
    fake = seller_client.post(
        url("agent-screenshot-add", provider, agent),
        {"image": SimpleUploadedFile("shot.png", b"MZ not an image", content_type="image/png")},
    )

    screenshot = OfferingScreenshot.objects.get(offering=agent.offering)
    assert response.status_code == 302
    assert fake.status_code == 400
    assert "not a PNG, JPEG or WebP image" in fake.content.decode()
    assert screenshot.caption == "Answering"
    assert screenshot.image.name.endswith(".png")
    agent.offering.state = "active"
    agent.offering.save(update_fields=["state"])
    listing = seller_client.get(f"/marketplace/offerings/{agent.offering.slug}/").content.decode()
    assert screenshot.image.url in listing

    seller_client.post(f"{url('agent-detail', provider, agent)}screenshots/{screenshot.uuid}/remove/")
    assert OfferingScreenshot.objects.filter(offering=agent.offering).count() == 0
