"""The widget in a real browser (Debian's headless Chromium, driven by Playwright; no browser download).

A host page on another origin, with a strict Content-Security-Policy and hostile CSS, embeds the widget
served by Django's live server; the chat goes through the real gateway to the real `lfx serve`.

Playwright's sync API keeps an event loop on the test's thread, where Django refuses ORM calls; so the
database is set up before the browser starts and read after it closes.
"""

import contextlib
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from django.db.models import Sum

from runtime_bridge.ratelimit import local_buckets
from site_agent.models import UsageDaily, UsageEvent
from site_agent.services.configs import config_update
from tests.conftest import skip_or_fail
from tests.runtime_bridge.chat_fixtures import Tenant, add_faq, buy, list_agent

pytestmark = [pytest.mark.services]

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
]
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
HOSTILE_NAME = "Ada<script>x()</script><img src=x onerror=x()>"  # 45 of the 50 characters allowed
HOSTILE_GREETING = 'Welcome! <img src=x onerror="window.pwned=1"> <script>window.pwned=2</script>'
HOST_CSS = """
* { font-family: "Courier New", monospace !important; color: rgb(255, 0, 0) !important; }
cmp-chat-widget, div, button, section, textarea {
  display: none !important; border: 9px solid lime !important; }
h1 { font-size: 40px; }
"""
WIDGET = "cmp-chat-widget"


def _shadow(script: str) -> str:
    """A page function run against the widget's shadow root (`root`)."""
    return f"() => {{ const root = document.querySelector('{WIDGET}').shadowRoot; {script} }}"


# --- The host site: a second tiny server, on another origin -------------------------------------------------


@dataclass
class HostSite:
    port: int
    pages: dict = field(default_factory=dict)

    def url(self, host: str, path: str = "/") -> str:
        return f"http://{host}:{self.port}{path}"


def _host_page(script_url: str, widget_id: str) -> bytes:
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Acme shop</title>
<link rel="stylesheet" href="/host.css"></head>
<body><h1 id="headline">Acme shop</h1><p>Shoes, socks and more.</p>
<script async src="{script_url}" data-widget-id="{widget_id}"></script>
</body></html>""".encode()


@pytest.fixture
def host_site(live_server) -> Iterator[HostSite]:
    site = HostSite(port=0)
    policy = (
        f"default-src 'none'; script-src {live_server.url}; connect-src {live_server.url}; "
        "style-src 'self'; img-src 'self'; base-uri 'none'; form-action 'none'"
    )

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):
            path = self.path.split("?")[0]
            if path == "/host.css":
                body, content_type = HOST_CSS.encode(), "text/css"
            elif path in site.pages:
                body, content_type = site.pages[path], "text/html; charset=utf-8"
            else:
                self.send_error(404)
                return
            self.send_response(200)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.send_header("Content-Security-Policy", policy)
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    site.port = server.server_address[1]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield site
    server.shutdown()
    server.server_close()


# --- The agent, bought and provisioned into the real runtime ------------------------------------------------


@pytest.fixture(autouse=True)
def _fresh_buckets():
    local_buckets.clear()
    yield
    local_buckets.clear()


@pytest.fixture
def tenant(runtime_settings, support_flow, live_server, django_capture_on_commit_callbacks) -> Tenant:
    runtime_settings.SITE_URL = live_server.url
    tenant = buy(list_agent(support_flow), django_capture_on_commit_callbacks)
    tenant.config = config_update(
        config=tenant.config,
        actor=tenant.user,
        data={
            "agent_name": HOSTILE_NAME,
            "greeting": HOSTILE_GREETING,
            "primary_colour": "#0E7C66",
            "allowed_domains": ["127.0.0.1"],
        },
    )
    add_faq(
        tenant,
        django_capture_on_commit_callbacks,
        [("Do you ship abroad?", "We ship to every country in the European Union, in three days.")],
    )
    return tenant


def _api_calls(config) -> int:
    return UsageDaily.objects.filter(config=config).aggregate(total=Sum("api_calls"))["total"] or 0


# --- The browser -----------------------------------------------------------------------------------------


@dataclass
class Browser:
    page: object
    requests: list
    responses: list
    problems: list


@contextlib.contextmanager
def chromium(viewport=None) -> Iterator[Browser]:
    if not CHROMIUM.exists():
        skip_or_fail("Chromium is not installed (apt-get install -y chromium)")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        skip_or_fail("the playwright package is not installed (pip install -e '.[dev]')")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport=viewport or {"width": 1280, "height": 800})
            page.set_default_timeout(20_000)
            state = Browser(page=page, requests=[], responses=[], problems=[])
            page.on("request", lambda request: state.requests.append(request.url))
            page.on("response", lambda response: state.responses.append(response))
            page.on("pageerror", lambda error: state.problems.append(f"page error: {error}"))
            page.on(
                "console",
                lambda message: (
                    state.problems.append(message.text)
                    if message.type == "error" and "Content Security Policy" in message.text
                    else None
                ),
            )
            yield state
        finally:
            browser.close()


def _cmp_requests(browser: Browser, live_server) -> list[str]:
    return [url.removeprefix(live_server.url) for url in browser.requests if url.startswith(live_server.url)]


def test_a_visitor_on_an_allowed_site_chats_with_the_agent_under_a_strict_policy(
    tenant, host_site, live_server
):
    host_site.pages["/"] = _host_page(f"{live_server.url}/widget/v1/cmp-widget.js", tenant.config.widget_id)
    question = "Do you ship abroad? <script>window.pwned=3</script> <img src=x onerror=window.pwned=4>"
    ARTIFACTS.mkdir(exist_ok=True)

    with chromium() as browser:
        page = browser.page
        page.goto(host_site.url("127.0.0.1"))
        launcher = page.locator(f"{WIDGET} .launcher")
        launcher.wait_for(state="visible")

        # Only the script loaded; the page's hostile CSS reached neither in nor out.
        assert _cmp_requests(browser, live_server) == ["/widget/v1/cmp-widget.js"]
        box = launcher.bounding_box()
        assert (box["width"], box["height"]) == (58, 58)
        assert (1280 - box["x"] - box["width"], 800 - box["y"] - box["height"]) == (20, 20)
        assert (
            page.evaluate(_shadow("return getComputedStyle(root.querySelector('.launcher')).borderTopWidth"))
            == "0px"
        )
        assert page.evaluate("getComputedStyle(document.getElementById('headline')).fontSize") == "40px"
        assert page.evaluate("document.styleSheets.length") == 1
        assert page.evaluate("document.adoptedStyleSheets.length") == 0

        # Keyboard: Enter on the launcher opens the panel and puts the focus in the message box.
        launcher.focus()
        page.keyboard.press("Enter")
        title = page.locator(f"{WIDGET} .title")
        page.wait_for_function(
            _shadow(f"return root.querySelector('.title').textContent === {HOSTILE_NAME!r}")
        )
        assert title.text_content() == HOSTILE_NAME
        assert page.evaluate(_shadow("return root.activeElement && root.activeElement.id")) == "input"
        assert launcher.get_attribute("aria-expanded") == "true"
        assert launcher.get_attribute("aria-label") == f"Close chat with {HOSTILE_NAME}"
        assert page.locator(f"{WIDGET} .msg.agent .bubble").first.text_content() == HOSTILE_GREETING
        assert _cmp_requests(browser, live_server) == [
            "/widget/v1/cmp-widget.js",
            f"/api/widget/session?widget_id={tenant.config.widget_id}",
        ]

        # A message, streamed back as server-sent events.
        page.keyboard.type(question)
        page.keyboard.press("Enter")
        reply = page.locator(f"{WIDGET} .msg.agent .bubble").nth(1)
        reply.wait_for()
        page.wait_for_function(
            _shadow("return !root.querySelector('[aria-busy]') && !root.querySelector('.typing')")
        )
        text = reply.text_content()
        assert "We ship to every country in the European Union, in three days." in text
        assert question in text  # the echo, tags and all, as text
        assert page.locator(f"{WIDGET} .msg.user .bubble").text_content() == question
        assert page.evaluate(_shadow("return root.querySelectorAll('script, img').length")) == 0
        assert page.evaluate("window.pwned === undefined")
        assert HOSTILE_NAME in page.evaluate(
            _shadow("return root.querySelector('[aria-live=polite]').textContent")
        )
        [chat] = [response for response in browser.responses if "/messages" in response.url]
        assert chat.url == f"{live_server.url}/api/chat/{tenant.config.uuid}/messages?stream=true"
        assert chat.headers["content-type"] == "text/event-stream"
        assert chat.headers["access-control-allow-origin"] == host_site.url("127.0.0.1").rstrip("/")
        page.screenshot(path=str(ARTIFACTS / "widget-open.png"))

        # The conversation survives a page load; Escape closes and gives the focus back to the launcher.
        page.reload()
        page.locator(f"{WIDGET} .msg.user").wait_for()
        assert page.locator(f"{WIDGET} .msg.user .bubble").text_content() == question
        assert page.locator(f"{WIDGET} .msg.agent").count() == 2  # the greeting and the reply
        page.locator(f"{WIDGET} .input").focus()
        page.keyboard.press("Escape")
        assert page.evaluate(_shadow("return root.querySelector('.panel').hidden")) is True
        assert (
            page.evaluate(_shadow("return root.activeElement && root.activeElement.className")) == "launcher"
        )

        # The JavaScript API.
        answer = page.evaluate(
            """() => new Promise((resolve) => {
                const seen = [];
                CMPWidget.on("open", () => seen.push("open"));
                CMPWidget.on("message", (message) => {
                    seen.push(message.role);
                    if (message.role === "agent") resolve({seen, text: message.text});
                });
                CMPWidget.sendMessage("When do you ship?");
            })"""
        )
        assert answer["seen"] == ["open", "user", "agent"]
        assert "When do you ship?" in answer["text"]
        page.evaluate("CMPWidget.toggle()")
        assert page.evaluate(_shadow("return root.querySelector('.panel').hidden")) is True

        assert browser.problems == []

    assert _api_calls(tenant.config) == 2
    assert UsageEvent.objects.filter(config=tenant.config).count() == 2


def test_a_page_on_a_site_the_agent_does_not_allow_gets_no_chat(tenant, host_site, live_server):
    host_site.pages["/"] = _host_page(f"{live_server.url}/widget/v1/cmp-widget.js", tenant.config.widget_id)

    with chromium() as browser:
        page = browser.page
        page.goto(host_site.url("localhost"))
        page.locator(f"{WIDGET} .launcher").click()
        notice = page.locator(f"{WIDGET} .notice")
        notice.wait_for()
        assert "could not be reached" in notice.text_content()
        page.locator(f"{WIDGET} .input").fill("Hello?")
        page.keyboard.press("Enter")
        page.locator(f"{WIDGET} .failed").wait_for()
        assert page.locator(f"{WIDGET} .failed button").text_content() == "Retry"
        assert page.locator(f"{WIDGET} .title").text_content() == "Chat"  # nothing of the agent was given
        assert page.locator(f"{WIDGET} .msg.agent").count() == 0
        assert not [url for url in browser.requests if "/messages" in url]

    assert _api_calls(tenant.config) == 0
    assert UsageEvent.objects.filter(config=tenant.config).count() == 0


MARKDOWN_TOKENS = [
    "**Shipping** is free over *50 €*. See [our policy](https://shop.example.com/ship) or ",
    "[this](javascript:alert(1)).\n\n- Europe: `3 days`\n- Elsewhere: 7 days\n\n",
    "<img src=x onerror=window.pwned=5> and <script>window.pwned=6</script>",
]


def _sse(events: list[tuple[str, str]]) -> str:
    return "".join(f"event: {name}\ndata: {data}\n\n" for name, data in events)


def test_markdown_is_rendered_as_elements_and_a_failed_message_is_retried(tenant, host_site, live_server):
    """The runtime's echo has no Markdown, so the chat endpoint answers from the test here (the session is
    the real one): first a 503 in the error envelope, then, on Retry, a reply in three tokens."""
    import json

    host_site.pages["/"] = _host_page(f"{live_server.url}/widget/v1/cmp-widget.js", tenant.config.widget_id)
    output = "".join(MARKDOWN_TOKENS)
    answers = [
        {
            "status": 503,
            "content_type": "application/json",
            "headers": {"Access-Control-Allow-Origin": host_site.url("127.0.0.1").rstrip("/")},
            "body": json.dumps(
                {"detail": "The agent is temporarily unavailable.", "code": "runtime_unavailable"}
            ),
        },
        {
            "status": 200,
            "content_type": "text/event-stream",
            "headers": {"Access-Control-Allow-Origin": host_site.url("127.0.0.1").rstrip("/")},
            "body": _sse(
                [("token", json.dumps({"text": token})) for token in MARKDOWN_TOKENS]
                + [("end", json.dumps({"output": output, "session_id": "s", "request_id": "r", "usage": {}}))]
            ),
        },
    ]

    with chromium(viewport={"width": 390, "height": 760}) as browser:
        page = browser.page

        def answer(route):
            if route.request.method == "OPTIONS":
                route.continue_()
            else:
                route.fulfill(**answers.pop(0))

        page.route(f"{live_server.url}/api/chat/**", answer)
        page.emulate_media(color_scheme="dark")  # the "auto" theme follows the visitor's system
        page.goto(host_site.url("127.0.0.1"))
        page.locator(f"{WIDGET} .launcher").click()
        page.evaluate(
            _shadow(
                "window.typingSeen = 0; new MutationObserver((changes) => changes.forEach((change) =>"
                " change.addedNodes.forEach((node) => {"
                " if (node.classList?.contains('typing')) window.typingSeen++; })"
                ")).observe(root.querySelector('.log'), {childList: true});"
            )
        )
        page.locator(f"{WIDGET} .input").fill("Shipping?")
        page.keyboard.press("Enter")
        failed = page.locator(f"{WIDGET} .failed")
        failed.wait_for()
        assert failed.text_content() == "The agent is temporarily unavailable.Retry"

        failed.locator("button").click()
        reply = page.locator(f"{WIDGET} .msg.agent .bubble").nth(1)
        reply.wait_for()
        page.wait_for_function(_shadow("return !root.querySelector('[aria-busy]')"))

        assert page.locator(f"{WIDGET} .failed").count() == 0
        assert page.evaluate("window.typingSeen") == 2  # one typing indicator per attempt
        assert page.locator(f"{WIDGET} .typing").count() == 0
        assert page.locator(f"{WIDGET} .msg.user").count() == 1
        assert reply.locator("strong").text_content() == "Shipping"
        assert reply.locator("em").text_content() == "50 €"
        assert reply.locator("a").count() == 1
        assert reply.locator("a").get_attribute("href") == "https://shop.example.com/ship"
        assert reply.locator("a").get_attribute("rel") == "noopener noreferrer nofollow ugc"
        assert "[this](javascript:alert(1))" in reply.text_content()
        assert reply.locator("li").all_text_contents() == ["Europe: 3 days", "Elsewhere: 7 days"]
        assert reply.locator("code").text_content() == "3 days"
        assert reply.locator("p").last.text_content() == (
            "<img src=x onerror=window.pwned=5> and <script>window.pwned=6</script>"
        )
        assert page.evaluate(_shadow("return root.querySelectorAll('script, img').length")) == 0
        assert page.evaluate("window.pwned === undefined")

        # A phone: the open panel fills the screen; the system's dark mode darkens it.
        panel = page.locator(f"{WIDGET} .panel")
        box = panel.bounding_box()
        assert (box["x"], box["y"], box["width"], box["height"]) == (0, 0, 390, 760)
        assert panel.evaluate("element => getComputedStyle(element).backgroundColor") == "rgb(22, 26, 34)"
        ARTIFACTS.mkdir(exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / "widget-phone-dark.png"))
        assert browser.problems == []


def test_the_buyer_tries_the_live_preview_on_the_widget_page(tenant, live_server):
    """The Widget page frames the preview page (CMP's own origin, strict policy), where the real widget opens
    with the current branding and chats, though the buyer's domains do not include CMP."""
    from django.test import Client
    from django.urls import reverse

    client = Client()
    client.force_login(tenant.user)
    session_cookie = client.cookies["sessionid"].value
    widget_page = reverse(
        "site_agent:agent-widget",
        kwargs={"organization_uuid": tenant.organization.uuid, "config_uuid": tenant.config.uuid},
    )

    with chromium() as browser:
        page = browser.page
        page.context.add_cookies([{"name": "sessionid", "value": session_cookie, "url": live_server.url}])
        page.goto(f"{live_server.url}{widget_page}")
        frame = page.frame_locator("iframe.widget-preview-frame")
        title = frame.locator(f"{WIDGET} .title")
        title.wait_for()
        frame.locator(f"{WIDGET} .msg.agent").first.wait_for()
        assert title.text_content() == HOSTILE_NAME
        assert frame.locator(f"{WIDGET} .msg.agent .bubble").first.text_content() == HOSTILE_GREETING
        assert frame.locator(f"{WIDGET} .launcher").get_attribute("aria-expanded") == "true"

        frame.locator(f"{WIDGET} .input").fill("Do you ship abroad?")
        frame.locator(f"{WIDGET} .input").press("Enter")
        reply = frame.locator(f"{WIDGET} .msg.agent .bubble").nth(1)
        reply.wait_for()
        assert "We ship to every country in the European Union" in reply.text_content()
        page.screenshot(path=str(ARTIFACTS / "widget-live-preview.png"), full_page=True)
        assert [problem for problem in browser.problems if "Report-Only" not in problem] == []

    assert _api_calls(tenant.config) == 1
