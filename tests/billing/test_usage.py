"""Overage beyond the quota goes to the Stripe meter hourly, each call counted once."""

from datetime import timedelta

import pytest
from django.utils import timezone

from billing.models import BillingSubscription, OverageReport
from billing.services.usage import overage_report_all
from marketplace.models import Resource
from marketplace.services.orders import order_create
from site_agent.models import CustomerAgentConfig, UsageDaily
from tests.billing.conftest import deliver, start_checkout
from tests.conftest import client_for
from tests.marketplace.factories import PlanFactory
from tests.site_agent.factories import AgentFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def metered(stripe_fake, organization, user, client, django_capture_on_commit_callbacks):
    plan = PlanFactory(price_minor=4900, monthly_quota_calls=1000, overage_price_per_1000_minor=250)
    order = order_create(organization=organization, plan=plan, actor=user)
    events = stripe_fake.complete_checkout(start_checkout(client_for(user), order)["session_id"])
    deliver(client, stripe_fake, events["checkout.session.completed"], django_capture_on_commit_callbacks)
    resource = Resource.objects.get(organization=organization)
    agent = AgentFactory()
    config = CustomerAgentConfig.objects.create(
        resource=resource,
        organization=organization,
        agent=agent,
        agent_version=agent.current_version,
        agent_name="Helper",
        widget_id="wid_usage_test",
    )
    return {"billing": BillingSubscription.objects.get(order=order), "config": config}


def _use(config, calls: int, day=None) -> None:
    UsageDaily.objects.update_or_create(
        config=config, day=day or timezone.now().date(), defaults={"api_calls": calls}
    )


def test_calls_beyond_the_quota_are_sent_once_with_an_idempotent_identifier(stripe_fake, metered):
    # Given 1,250 calls on a 1,000-call plan
    _use(metered["config"], 1250)

    # When the hourly task runs twice
    first = overage_report_all()
    second = overage_report_all()

    # Then 250 calls were sent, once
    billing = metered["billing"]
    assert [sent.calls for sent in first] == [250]
    assert second == []
    sent = stripe_fake.calls("POST", "/v1/billing/meter_events")
    assert len(sent) == 1
    assert sent[0].params["payload"] == {"stripe_customer_id": billing.stripe_customer_id, "value": "250"}
    assert sent[0].params["identifier"] == first[0].identifier
    assert OverageReport.objects.get(subscription=billing).reported_calls == 250


def test_more_usage_later_sends_only_the_difference(stripe_fake, metered):
    _use(metered["config"], 1250)
    overage_report_all()
    _use(metered["config"], 1400)

    sent = overage_report_all()

    assert [item.calls for item in sent] == [150]
    assert sum(int(event["payload"]["value"]) for event in stripe_fake.meter_events.values()) == 400


def test_a_resent_report_after_a_crash_is_counted_once_by_stripe(stripe_fake, metered):
    # Given the meter event went out but our record of it was lost
    _use(metered["config"], 1250)
    overage_report_all()
    OverageReport.objects.update(reported_calls=0)

    # When
    overage_report_all()

    # Then Stripe got the same identifier twice and counts it once
    assert len(stripe_fake.calls("POST", "/v1/billing/meter_events")) == 2
    assert len(stripe_fake.meter_events) == 1


def test_usage_within_the_quota_or_before_the_period_sends_nothing(stripe_fake, metered):
    _use(metered["config"], 900)
    _use(metered["config"], 5000, day=timezone.now().date() - timedelta(days=40))

    assert overage_report_all() == []
    assert stripe_fake.calls("POST", "/v1/billing/meter_events") == []
