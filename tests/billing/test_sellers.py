"""Sellers: Connect onboarding and its status, and the revenue report."""

from datetime import UTC, datetime

import pytest
from django.urls import reverse

from billing.models import Invoice, SellerPayoutAccount
from tests.billing.conftest import deliver
from tests.marketplace.factories import MembershipFactory, OfferingFactory, OrganizationFactory, UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def seller(db):
    user = UserFactory()
    offering = OfferingFactory(name="Support Bot")
    MembershipFactory(organization=offering.provider.organization, user=user, role="owner")
    return {"user": user, "provider": offering.provider, "offering": offering}


def test_onboarding_sends_the_seller_to_stripe_and_account_updated_records_the_status(
    stripe_fake, seller, client, django_capture_on_commit_callbacks
):
    # Given
    client.force_login(seller["user"])
    url = reverse("billing:provider-payouts", args=[seller["provider"].uuid])

    # When
    response = client.post(url)

    # Then
    account = SellerPayoutAccount.objects.get(provider=seller["provider"])
    assert response.status_code == 303
    assert response["Location"].startswith(f"https://connect.stripe.com/setup/e/{account.stripe_account_id}/")
    assert stripe_fake.objects[account.stripe_account_id]["type"] == "express"
    assert account.is_ready is False

    # When Stripe reports the finished onboarding
    events = stripe_fake.finish_onboarding(account.stripe_account_id)
    deliver(client, stripe_fake, events["account.updated"], django_capture_on_commit_callbacks)

    # Then
    account.refresh_from_db()
    assert (account.details_submitted, account.charges_enabled, account.payouts_enabled) == (True, True, True)
    assert "Your Stripe account is ready" in client.get(url).content.decode()


def test_another_sellers_payouts_page_is_404(stripe_fake, seller, client):
    client.force_login(UserFactory())

    assert client.get(reverse("billing:provider-payouts", args=[seller["provider"].uuid])).status_code == 404
    assert client.post(reverse("billing:provider-payouts", args=[seller["provider"].uuid])).status_code == 404
    assert stripe_fake.requests == []


def _paid_invoice(offering, amount: int, fee: int, month: int) -> Invoice:
    return Invoice.objects.create(
        organization=OrganizationFactory(),
        offering=offering,
        status="paid",
        amount_due_minor=amount,
        amount_paid_minor=amount,
        platform_fee_minor=fee,
        currency="USD",
        paid_at=datetime(2026, month, 10, tzinfo=UTC),
    )


def test_revenue_per_month_and_offering_and_as_csv(seller, client):
    # Given
    other = OfferingFactory(provider=seller["provider"], name="Sales Bot")
    _paid_invoice(seller["offering"], 2900, 580, 9)
    _paid_invoice(seller["offering"], 2900, 580, 10)
    _paid_invoice(other, 9900, 1980, 10)
    _paid_invoice(OfferingFactory(), 5000, 1000, 10)  # someone else's sale
    client.force_login(seller["user"])
    url = reverse("billing:provider-revenue", args=[seller["provider"].uuid])

    # When
    page = client.get(url)
    csv_response = client.get(url, {"format": "csv"})

    # Then
    assert page.status_code == 200
    assert "Net to you" in page.content.decode()
    assert csv_response["Content-Type"] == "text/csv; charset=utf-8"
    assert csv_response.content.decode().splitlines() == [
        "section,label,currency,invoices,gross,platform_fee,net",
        "month,2026-09,USD,1,29.00,5.80,23.20",
        "month,2026-10,USD,2,128.00,25.60,102.40",
        "offering,Sales Bot,USD,1,99.00,19.80,79.20",
        "offering,Support Bot,USD,2,58.00,11.60,46.40",
        "total,Total,USD,3,157.00,31.40,125.60",
    ]
