"""The widget script as served (/widget/v1/cmp-widget.js), its size and safety, and the buyer's live preview
page; plus the gateway letting CMP's own pages (the preview) open a widget session."""

import gzip
import re
from pathlib import Path

import pytest
from django.urls import reverse

from tests.marketplace.factories import MembershipFactory, OrganizationFactory, UserFactory
from tests.site_agent.factories import ConfigFactory

BUILT = Path(__file__).resolve().parents[2] / "widget" / "static" / "widget" / "v1" / "cmp-widget.js"
SCRIPT_URL = "/widget/v1/cmp-widget.js"
MAX_GZIPPED_BYTES = 15 * 1024


def test_the_built_widget_is_at_most_15_kb_gzipped():
    size = len(gzip.compress(BUILT.read_bytes(), compresslevel=9))

    assert 2000 < size <= MAX_GZIPPED_BYTES


@pytest.mark.parametrize(
    "forbidden",
    [
        "innerHTML",
        "outerHTML",
        "insertAdjacentHTML",
        "document.write",
        "eval(",
        "new Function",
        'setTimeout("',
    ],
)
def test_the_built_widget_never_parses_markup_or_code_from_strings(forbidden):
    assert forbidden not in BUILT.read_text()


def test_the_built_widget_sets_no_style_attribute_and_styles_through_a_constructed_sheet():
    source = BUILT.read_text()

    assert not re.search(r"""setAttribute\(["']style""", source)
    assert "new CSSStyleSheet" in source
    assert "adoptedStyleSheets" in source


def test_the_script_is_served_as_javascript_with_a_day_of_caching(client):
    response = client.get(SCRIPT_URL)

    assert response.status_code == 200
    assert response["Content-Type"] == "text/javascript; charset=utf-8"
    assert response.content == BUILT.read_bytes()
    assert response["Content-Length"] == str(len(BUILT.read_bytes()))
    assert response["Cache-Control"] == "public, max-age=86400, stale-while-revalidate=604800"
    assert response["Access-Control-Allow-Origin"] == "*"
    assert response["Cross-Origin-Resource-Policy"] == "cross-origin"
    assert response["X-Content-Type-Options"] == "nosniff"
    assert re.fullmatch(r'W/"[0-9a-f]{32}"', response["ETag"])
    assert "Accept-Encoding" in response["Vary"]
    assert "Cookie" not in response.get("Vary", "")
    assert "Set-Cookie" not in response


def test_the_script_is_gzipped_for_browsers_that_accept_it(client):
    response = client.get(SCRIPT_URL, HTTP_ACCEPT_ENCODING="gzip, deflate, br")

    assert response.status_code == 200
    assert response["Content-Encoding"] == "gzip"
    assert gzip.decompress(response.content) == BUILT.read_bytes()
    assert len(response.content) <= MAX_GZIPPED_BYTES


def test_a_cached_copy_is_revalidated_by_etag(client):
    etag = client.get(SCRIPT_URL)["ETag"]

    response = client.get(SCRIPT_URL, HTTP_IF_NONE_MATCH=etag)

    assert response.status_code == 304
    assert response.content == b""


def test_the_script_answers_only_reads(client):
    assert client.head(SCRIPT_URL).status_code == 200
    assert client.post(SCRIPT_URL).status_code == 405


# --- The live preview --------------------------------------------------------------------------------


@pytest.fixture
def config(db):
    return ConfigFactory(
        agent_name='Ada <script>alert("x")</script>',
        primary_colour="#0E7C66",
        widget_position="bottom-left",
        theme="dark",
        allowed_domains=["shop.example.com"],
    )


def _preview(config) -> str:
    return reverse("widget:preview", args=[config.widget_id])


@pytest.fixture
def people(config, operator):
    people = {"operator": operator}
    for role in ("member", "owner"):
        people[role] = UserFactory()
        MembershipFactory(organization=config.organization, user=people[role], role=role)
    people["outsider"] = UserFactory()
    MembershipFactory(organization=OrganizationFactory(), user=people["outsider"], role="owner")
    return people


@pytest.mark.parametrize(
    ("role", "status"),
    [("anonymous", 302), ("outsider", 404), ("member", 200), ("owner", 200), ("operator", 200)],
)
def test_the_preview_is_for_the_organisation_and_operators_only(client, config, people, role, status):
    if role != "anonymous":
        client.force_login(people[role])

    response = client.get(_preview(config))

    assert response.status_code == status
    if role == "anonymous":
        assert response["Location"].startswith(reverse("account_login"))


def test_an_unknown_widget_has_no_preview(client, people):
    client.force_login(people["operator"])

    assert client.get(reverse("widget:preview", args=["wid_nope"])).status_code == 404


def test_the_preview_loads_the_real_script_with_the_current_branding_under_a_strict_policy(
    client, config, people
):
    client.force_login(people["owner"])

    response = client.get(_preview(config))

    html = response.content.decode()
    assert (
        f'<script async src="{SCRIPT_URL}" data-widget-id="{config.widget_id}" data-colour="#0E7C66" '
        'data-position="bottom-left" data-theme="dark" data-open="true"></script>'
    ) in html
    assert "<script>alert" not in html
    assert "Ada &lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;" in html
    assert response["Content-Security-Policy"] == (
        "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; "
        "img-src 'self' data: blob:; frame-ancestors 'self'; base-uri 'none'; form-action 'none'"
    )
    assert "Content-Security-Policy-Report-Only" not in response
    assert response["X-Frame-Options"] == "SAMEORIGIN"
    assert "no-store" in response["Cache-Control"]


# --- CMP's own pages may open a widget session (the preview); other sites still may not ------------------


@pytest.mark.parametrize(
    ("origin", "status"),
    [
        ("https://cmp.example.com", 201),
        ("https://CMP.example.com/", 201),
        ("https://shop.example.com", 201),
        ("http://cmp.example.com", 403),
        ("https://cmp.example.com:8443", 403),
        ("https://evil.cmp.example.com", 403),
        ("null", 403),
    ],
)
def test_a_widget_session_is_granted_to_cmp_itself_and_allowed_domains_only(
    api_client, config, settings, origin, status
):
    settings.SITE_URL = "https://cmp.example.com"

    response = api_client.post(
        "/api/widget/session", {"widget_id": config.widget_id}, format="json", HTTP_ORIGIN=origin
    )

    assert response.status_code == status
    if status == 403:
        assert response.json()["code"] == "origin_not_allowed"
        assert "Access-Control-Allow-Origin" not in response
    else:
        assert response.json()["widget"]["agent_name"] == config.agent_name


@pytest.mark.parametrize(("state", "live"), [("active", True), ("suspended", False), ("archived", False)])
def test_the_widget_page_frames_the_live_preview_of_an_active_agent_only(client, db, state, live):
    config = ConfigFactory(agent__offering__capabilities=["chat"], state=state)
    member = UserFactory()
    MembershipFactory(organization=config.organization, user=member, role="member")
    client.force_login(member)

    html = client.get(
        reverse("site_agent:agent-widget", args=[config.organization.uuid, config.uuid])
    ).content.decode()

    frame = f'<iframe class="widget-preview-frame" src="/widget/v1/preview/{config.widget_id}/"'
    assert (frame in html) is live
    assert ("This is a picture, not a working chat" in html) is not live
