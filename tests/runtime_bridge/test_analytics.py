"""Seller analytics: exact figures for seeded configs, usage and orders; the API action; query counts."""

import datetime

import pytest
from django.utils import timezone

from cmp.charts import bar_chart, nice_maximum
from marketplace.models import Organization
from runtime_bridge.services import flow_import
from site_agent.analytics import agent_analytics, provider_customer_list
from site_agent.models import AgentIdentity, CustomerAgentConfig, DemoUsageDaily, UsageDaily
from tests.conftest import client_for
from tests.marketplace.factories import (
    MembershipFactory,
    OrderFactory,
    OrganizationFactory,
    PlanFactory,
    ResourceFactory,
    ServiceProviderFactory,
    UserFactory,
    category,
)

pytestmark = pytest.mark.django_db


def minimal_flow(name: str = "Echo Agent", greeting: str = "Hello") -> dict:
    """The smallest chat flow the importer accepts: Chat Input -> Chat Output (no lfx needed)."""

    def node(node_id: str, node_type: str, template: dict) -> dict:
        return {
            "id": node_id,
            "type": "genericNode",
            "data": {
                "id": node_id,
                "type": node_type,
                "node": {"display_name": node_type, "template": template},
            },
        }

    return {
        "id": "0b6a0c77-0000-4000-8000-000000000001",
        "name": name,
        "description": "Repeats what it hears.",
        "data": {
            "nodes": [
                node("ChatInput-a1", "ChatInput", {"input_value": {"value": greeting}}),
                node("ChatOutput-b2", "ChatOutput", {"input_value": {"value": ""}}),
            ],
            "edges": [
                {
                    "id": "edge-1",
                    "source": "ChatInput-a1",
                    "target": "ChatOutput-b2",
                    "data": {
                        "sourceHandle": {"name": "message"},
                        "targetHandle": {"fieldName": "input_value"},
                    },
                }
            ],
        },
    }


def make_agent(provider, name: str = "Echo Agent") -> AgentIdentity:
    agent, _report = flow_import(
        provider=provider,
        category=category("agents"),
        raw=minimal_flow(name),
        actor=None,
        description="Repeats what it hears.",
    )
    return agent


def deploy(
    agent: AgentIdentity, *, organization=None, config_state="active", resource_state="ok", period_start=None
) -> CustomerAgentConfig:
    """A buyer's subscription to the agent and its config, created directly."""
    plan = agent.offering.plans.first() or PlanFactory(offering=agent.offering)
    resource = ResourceFactory(
        plan=plan,
        organization=organization or OrganizationFactory(),
        state=resource_state,
        current_period_start=period_start or timezone.now(),
    )
    return CustomerAgentConfig.objects.create(
        resource=resource,
        organization=resource.organization,
        agent=agent,
        agent_version=agent.current_version,
        state=config_state,
        agent_name=agent.name,
        widget_id=f"wid_{resource.uuid.hex}",
    )


def at_noon(day: datetime.date) -> datetime.datetime:
    return timezone.make_aware(datetime.datetime.combine(day, datetime.time(12)))


@pytest.fixture
def provider():
    return ServiceProviderFactory()


@pytest.fixture
def seller(provider):
    user = UserFactory()
    MembershipFactory(organization=provider.organization, user=user, role="manager")
    return user


@pytest.fixture
def seeded(provider):
    """One agent with three deployments, usage inside and outside a 30-day window, and orders."""
    today = timezone.localdate()
    agent = make_agent(provider)
    live = deploy(agent)
    deploy(agent, resource_state="terminating")
    archived = deploy(agent, config_state="archived")
    other_agent = make_agent(provider, name="Other Agent")
    other_config = deploy(other_agent)

    UsageDaily.objects.create(config=live, day=today, api_calls=5, tokens_input=50, tokens_output=70)
    DemoUsageDaily.objects.create(offering=agent.offering, day=today, calls=2, tokens_input=9)
    DemoUsageDaily.objects.create(offering=agent.offering, day=today - datetime.timedelta(days=30), calls=40)
    DemoUsageDaily.objects.create(offering=other_agent.offering, day=today, calls=500)
    UsageDaily.objects.create(config=archived, day=today, api_calls=3, tokens_input=30, tokens_output=10)
    UsageDaily.objects.create(
        config=live, day=today - datetime.timedelta(days=29), api_calls=7, tokens_input=1
    )
    UsageDaily.objects.create(config=live, day=today - datetime.timedelta(days=30), api_calls=100)  # outside
    UsageDaily.objects.create(config=other_config, day=today, api_calls=1000)  # another agent

    plan = agent.offering.plans.first() or PlanFactory(offering=agent.offering)
    OrderFactory(plan=plan, state="done", cost_minor=2900, paid_at=at_noon(today))
    OrderFactory(
        plan=plan, state="done", cost_minor=9900, paid_at=at_noon(today - datetime.timedelta(days=29))
    )
    OrderFactory(plan=plan, state="done", cost_minor=1500, currency="EUR", paid_at=at_noon(today))
    OrderFactory(
        plan=plan, state="done", cost_minor=700, paid_at=at_noon(today - datetime.timedelta(days=30))
    )
    OrderFactory(plan=plan, state="executing", cost_minor=4000, paid_at=at_noon(today))  # not done
    OrderFactory(plan=plan, state="done", cost_minor=0, paid_at=None)  # free: never paid
    OrderFactory(
        plan=PlanFactory(offering=other_agent.offering), state="done", cost_minor=5000, paid_at=at_noon(today)
    )
    return agent, today


def test_agent_analytics_counts_exactly_what_falls_in_the_window(seeded, django_assert_max_num_queries):
    agent, today = seeded

    with django_assert_max_num_queries(4):
        figures = agent_analytics(agent=agent, days=30, today=today)

    assert (figures.start, figures.end) == (today - datetime.timedelta(days=29), today)
    assert (figures.deployments, figures.active_deployments) == (3, 1)
    assert (figures.api_calls, figures.demo_calls, figures.tokens_input, figures.tokens_output) == (
        15,
        2,
        81,
        80,
    )
    assert [(item.currency, item.amount_minor) for item in figures.revenue] == [("EUR", 1500), ("USD", 12800)]
    assert len(figures.calls_per_day) == 30
    assert figures.calls_per_day[0].day == today - datetime.timedelta(days=29)
    assert figures.calls_per_day[0].api_calls == 7
    assert figures.calls_per_day[-1].day == today
    assert figures.calls_per_day[-1].api_calls == 8
    assert sum(point.api_calls for point in figures.calls_per_day[1:-1]) == 0


def test_a_shorter_window_leaves_older_days_out(seeded):
    agent, today = seeded

    figures = agent_analytics(agent=agent, days=7, today=today)

    assert [point.api_calls for point in figures.calls_per_day] == [0, 0, 0, 0, 0, 0, 8]
    assert figures.api_calls == 8
    assert [(item.currency, item.amount_minor) for item in figures.revenue] == [("EUR", 1500), ("USD", 2900)]


def test_an_agent_without_buyers_has_zeros_for_every_day(provider):
    agent = make_agent(provider)

    figures = agent_analytics(agent=agent, days=3, today=datetime.date(2025, 3, 1))

    assert [(point.day, point.api_calls) for point in figures.calls_per_day] == [
        (datetime.date(2025, 2, 27), 0),
        (datetime.date(2025, 2, 28), 0),
        (datetime.date(2025, 3, 1), 0),
    ]
    assert (figures.deployments, figures.api_calls, figures.tokens, figures.revenue) == (0, 0, 0, [])


def test_analytics_api_returns_the_figures(seeded, seller, django_assert_max_num_queries):
    agent, today = seeded
    client = client_for(seller)

    with django_assert_max_num_queries(10):
        response = client.get(f"/api/provider-agents/{agent.uuid}/analytics/?days=30")

    assert response.status_code == 200, response.json()
    body = response.json()
    assert {
        key: body[key]
        for key in (
            "days",
            "deployments",
            "active_deployments",
            "api_calls",
            "demo_calls",
            "tokens_input",
            "tokens_output",
            "tokens",
        )
    } == {
        "days": 30,
        "deployments": 3,
        "active_deployments": 1,
        "api_calls": 15,
        "demo_calls": 2,
        "tokens_input": 81,
        "tokens_output": 80,
        "tokens": 161,
    }
    assert (body["start"], body["end"]) == (str(today - datetime.timedelta(days=29)), str(today))
    assert body["revenue"] == [
        {"currency": "EUR", "amount_minor": 1500},
        {"currency": "USD", "amount_minor": 12800},
    ]
    assert len(body["calls_per_day"]) == 30
    assert body["calls_per_day"][0] == {"day": str(today - datetime.timedelta(days=29)), "api_calls": 7}
    assert body["calls_per_day"][-1] == {"day": str(today), "api_calls": 8}


def test_analytics_api_defaults_to_30_days_and_refuses_a_bad_window(seeded, seller):
    agent, _today = seeded
    client = client_for(seller)

    assert client.get(f"/api/provider-agents/{agent.uuid}/analytics/").json()["days"] == 30
    response = client.get(f"/api/provider-agents/{agent.uuid}/analytics/?days=0")
    assert response.status_code == 400
    assert list(response.json()["errors"]) == ["days"]
    assert client.get(f"/api/provider-agents/{agent.uuid}/analytics/?days=366").status_code == 400


def test_analytics_api_of_another_sellers_agent_is_a_404(seeded):
    agent, _today = seeded
    rival = UserFactory()
    MembershipFactory(organization=ServiceProviderFactory().organization, user=rival, role="owner")

    response = client_for(rival).get(f"/api/provider-agents/{agent.uuid}/analytics/")

    assert response.status_code == 404


def test_customer_list_sums_calls_since_the_period_started(provider):
    agent = make_agent(provider)
    today = timezone.localdate()
    period_start = at_noon(today - datetime.timedelta(days=3))
    config = deploy(agent, organization=OrganizationFactory(name="Acme"), period_start=period_start)
    UsageDaily.objects.create(config=config, day=today - datetime.timedelta(days=3), api_calls=4)
    UsageDaily.objects.create(config=config, day=today, api_calls=6)
    UsageDaily.objects.create(config=config, day=today - datetime.timedelta(days=4), api_calls=50)  # before
    ResourceFactory(organization=OrganizationFactory(name="Rival customer"))  # another provider's offering

    rows = list(provider_customer_list(provider=provider))

    assert [(row.organization.name, row.period_calls) for row in rows] == [("Acme", 10)]
    assert Organization.objects.filter(name="Rival customer").exists()


@pytest.mark.parametrize(
    ("peak", "maximum"),
    [(0, 1), (1, 1), (7, 8), (10, 10), (11, 15), (1234, 1500), (2600, 3000), (81_000, 100_000)],
)
def test_chart_axis_rounds_the_peak_up_to_a_round_number(peak, maximum):
    assert nice_maximum(peak) == maximum


def test_chart_bars_scale_to_the_axis_and_label_the_latest_day():
    chart = bar_chart([("Mar 1", "Sat Mar 1", 0), ("Mar 2", "Sun Mar 2", 5), ("Mar 3", "Mon Mar 3", 10)])

    assert chart.maximum == 10
    assert [bar.height for bar in chart.bars] == [0, 100.0, 200.0]  # plot height 200
    assert chart.bars[2].y == chart.plot_top
    assert [tick.label for tick in chart.y_ticks] == ["0", "5", "10"]
    assert chart.x_ticks[-1].label == "Mar 3"
