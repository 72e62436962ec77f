"""Try before buying against a real `lfx serve`: the seller's current version runs as a demo flow deployed
once per version; each visitor gets CHAT_DEMO_MESSAGES_PER_DAY messages per offering per day (per session
and per IP); answers are counted as the offering's demo usage for its seller, never against any buyer; the
offering page has a "Try it" box."""

import pytest
from django.utils import timezone

from runtime_bridge import gateway
from runtime_bridge.runtime_client import LfxServeClient, get_runtime_client
from runtime_bridge.services import flow_import_version
from site_agent.analytics import agent_analytics
from site_agent.models import DemoUsageDaily, UsageDaily, UsageEvent
from tests.marketplace.factories import OfferingFactory, PlanFactory
from tests.runtime_bridge.chat_fixtures import list_agent

pytestmark = [pytest.mark.django_db, pytest.mark.services]


@pytest.fixture
def offering(runtime_settings, support_flow):
    return list_agent(support_flow)


@pytest.fixture
def deploys(monkeypatch):
    flow_ids = []
    original = LfxServeClient.deploy_flow

    def deploy_flow(self, flow, *, flow_id, name):
        flow_ids.append(flow_id)
        return original(self, flow, flow_id=flow_id, name=name)

    monkeypatch.setattr(LfxServeClient, "deploy_flow", deploy_flow)
    return flow_ids


def _url(offering) -> str:
    return f"/api/offerings/{offering.uuid}/demo-chat"


def _try(client, offering, text="What can you do?", session_id="visitor-1", address="198.51.100.7"):
    return client.post(
        _url(offering), {"input": text, "session_id": session_id}, format="json", REMOTE_ADDR=address
    )


def _runtime_flow_ids() -> list[str]:
    with get_runtime_client() as runtime:
        return runtime.list_flow_ids()


def test_five_free_messages_then_a_429_and_nothing_is_recorded_for_any_buyer(api_client, offering, deploys):
    answers = [_try(api_client, offering, f"Question {number}?") for number in range(1, 6)]

    refused = _try(api_client, offering, "Question 6?")

    assert [answer.status_code for answer in answers] == [200] * 5
    assert [answer.json()["demo"] for answer in answers] == [
        {"remaining": remaining, "limit": 5} for remaining in (4, 3, 2, 1, 0)
    ]
    first = answers[0].json()
    assert "Question 1?" in first["output"]
    assert f"This is a demo of {offering.name}" in first["output"]
    assert first["session_id"] == "visitor-1"
    assert refused.status_code == 429
    assert refused.json()["code"] == "demo_limit_reached"
    assert refused.json()["detail"].startswith("You have used the 5 free demo messages for today.")
    assert 0 < int(refused["Retry-After"]) <= 24 * 3600
    assert gateway.demo_call_count(offering=offering) == 5
    assert UsageEvent.objects.count() == 0
    assert UsageDaily.objects.count() == 0
    demo_day = DemoUsageDaily.objects.get(offering=offering)
    assert (demo_day.day, demo_day.calls) == (timezone.now().date(), 5)
    assert demo_day.tokens_input > 0
    assert demo_day.tokens_output > 0
    assert agent_analytics(agent=offering.agent, days=1).demo_calls == 5  # the seller sees them
    demo_flow = gateway.demo_flow_id(offering=offering, version=offering.agent.current_version)
    assert deploys == [demo_flow]
    assert _runtime_flow_ids().count(demo_flow) == 1


def test_a_listing_going_live_deploys_its_demo_flow_so_the_first_visitor_does_not_wait(
    api_client, runtime_settings, support_flow, deploys, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        offering = list_agent(support_flow)  # a trusted seller: live at once

    demo_flow = gateway.demo_flow_id(offering=offering, version=offering.agent.current_version)
    assert deploys[-1] == demo_flow  # (after the import's dry run)
    assert demo_flow in _runtime_flow_ids()
    deployed = len(deploys)
    assert _try(api_client, offering).status_code == 200
    assert len(deploys) == deployed  # the visitor's message used the flow deployed when it went live


def test_a_listing_going_live_while_the_runtime_is_down_still_goes_live(
    runtime_settings, support_flow, settings, django_capture_on_commit_callbacks
):
    settings.RUNTIME_URL = "http://127.0.0.1:9"

    with django_capture_on_commit_callbacks(execute=True):
        offering = list_agent(support_flow)

    offering.refresh_from_db()
    assert offering.state == "active"


def test_the_allowance_is_per_session_and_per_ip(api_client, offering, settings):
    settings.CHAT_DEMO_MESSAGES_PER_DAY = 2
    assert [_try(api_client, offering).status_code for _ in range(2)] == [200, 200]

    new_session_same_ip = _try(api_client, offering, session_id="visitor-2")
    same_session_other_ip = _try(api_client, offering, address="198.51.100.8")
    new_session_other_ip = _try(api_client, offering, session_id="visitor-3", address="198.51.100.9")

    assert new_session_same_ip.status_code == 429
    assert same_session_other_ip.status_code == 429
    assert new_session_other_ip.status_code == 200
    assert gateway.demo_call_count(offering=offering) == 3


def test_a_new_version_gets_its_own_demo_flow_and_the_old_one_is_removed(
    api_client, offering, support_flow, deploys
):
    assert _try(api_client, offering).status_code == 200
    [old_flow] = deploys
    changed = {**support_flow, "description": "Now with a changed description."}
    changed["data"]["nodes"][0]["data"]["node"]["display_name"] = "Visitor question"
    version, created, _report = flow_import_version(
        agent=offering.agent, raw=changed, actor=None, version="1.1.0", changelog="Tweaks"
    )
    assert created is True
    offering.refresh_from_db()

    assert _try(api_client, offering, session_id="visitor-2", address="198.51.100.8").status_code == 200

    new_flow = gateway.demo_flow_id(offering=offering, version=version)
    assert [flow_id for flow_id in deploys if flow_id in (old_flow, new_flow)] == [old_flow, new_flow]
    flow_ids = _runtime_flow_ids()
    assert new_flow in flow_ids
    assert old_flow not in flow_ids


def test_a_demo_flow_the_runtime_forgot_is_deployed_again(api_client, offering, deploys):
    assert _try(api_client, offering).status_code == 200
    with get_runtime_client() as runtime:
        runtime.delete_flow(deploys[0])

    again = _try(api_client, offering)

    assert again.status_code == 200
    assert deploys == [deploys[0], deploys[0]]
    assert again.json()["demo"]["remaining"] == 3


def test_runtime_down_is_a_503_and_uses_none_of_the_allowance(api_client, offering, settings):
    settings.RUNTIME_URL = "http://127.0.0.1:9"

    response = _try(api_client, offering)

    assert response.status_code == 503
    assert response.json()["code"] == "runtime_unavailable"
    assert gateway.demo_call_count(offering=offering) == 0


def test_after_an_outage_the_visitor_still_has_all_messages(api_client, offering, settings, lfx_runtime):
    settings.RUNTIME_URL = "http://127.0.0.1:9"
    assert _try(api_client, offering).status_code == 503
    settings.RUNTIME_URL = lfx_runtime.url

    response = _try(api_client, offering)

    assert response.status_code == 200
    assert response.json()["demo"] == {"remaining": 4, "limit": 5}
    assert gateway.demo_call_count(offering=offering) == 1


def test_streaming_demo_sends_tokens_and_the_end(api_client, offering):
    response = api_client.post(
        f"{_url(offering)}?stream=true", {"input": "Hello demo"}, format="json", REMOTE_ADDR="198.51.100.7"
    )

    assert response.status_code == 200
    text = b"".join(response.streaming_content).decode()
    assert text.startswith("event: token\n")
    assert "event: end\n" in text
    assert '"demo": {"remaining": 4, "limit": 5}' in text


@pytest.mark.parametrize("state", ["draft", "paused"])
def test_only_active_listings_with_an_agent_can_be_tried(api_client, offering, state):
    offering.state = state
    offering.save(update_fields=["state"])
    without_agent = PlanFactory(offering=OfferingFactory()).offering

    assert _try(api_client, offering).status_code == 404
    assert _try(api_client, without_agent).status_code == 404
    assert gateway.demo_call_count(offering=offering) == 0


def test_the_offering_page_has_a_try_it_box_only_for_agents(client, offering):
    without_agent = PlanFactory(offering=OfferingFactory()).offering

    page = client.get(f"/marketplace/offerings/{offering.slug}/")
    other = client.get(f"/marketplace/offerings/{without_agent.slug}/")

    assert page.status_code == 200
    html = page.content.decode()
    assert f'data-endpoint="{_url(offering)}"' in html
    assert "runtime_bridge/demo_chat.js" in html
    assert "<script>" not in html.split('id="demo-chat"', 1)[1].split("</section>", 1)[0]
    assert "data-endpoint" not in other.content.decode()
