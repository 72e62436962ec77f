"""Seller payouts: Stripe Connect Express accounts, onboarding links and their status."""

from django.db import IntegrityError, transaction

from billing.models import SellerPayoutAccount
from billing.stripe_client import get_stripe_client, stripe_call
from marketplace.models import ServiceProvider


def payout_account_ensure(*, provider: ServiceProvider) -> SellerPayoutAccount:
    existing = SellerPayoutAccount.objects.filter(provider=provider).first()
    if existing is not None:
        return existing
    organization = provider.organization
    client = get_stripe_client()
    params: dict = {
        "type": "express",
        "email": organization.billing_email or organization.contact_email or None,
        "capabilities": {"card_payments": {"requested": True}, "transfers": {"requested": True}},
        "metadata": {"provider_uuid": str(provider.uuid)},
    }
    if organization.country:
        params["country"] = str(organization.country)
    account = stripe_call(
        client.v1.accounts.create, params=params, options={"idempotency_key": f"cmp-account-{provider.uuid}"}
    )
    try:
        with transaction.atomic():
            return SellerPayoutAccount.objects.create(provider=provider, stripe_account_id=account.id)
    except IntegrityError:
        return SellerPayoutAccount.objects.get(provider=provider)


def payout_onboarding_link(*, provider: ServiceProvider, refresh_url: str, return_url: str) -> str:
    """A one-time Stripe link where the seller enters their details; `account.updated` reports back."""
    account = payout_account_ensure(provider=provider)
    client = get_stripe_client()
    link = stripe_call(
        client.v1.account_links.create,
        params={
            "account": account.stripe_account_id,
            "refresh_url": refresh_url,
            "return_url": return_url,
            "type": "account_onboarding",
        },
    )
    return link.url


def payout_account_sync(*, account: dict) -> SellerPayoutAccount | None:
    updated = SellerPayoutAccount.objects.filter(stripe_account_id=account["id"]).update(
        details_submitted=bool(account.get("details_submitted")),
        charges_enabled=bool(account.get("charges_enabled")),
        payouts_enabled=bool(account.get("payouts_enabled")),
    )
    if not updated:
        return None
    return SellerPayoutAccount.objects.get(stripe_account_id=account["id"])


def payout_account_sync_by_id(*, stripe_account_id: str) -> SellerPayoutAccount | None:
    client = get_stripe_client()
    return payout_account_sync(account=stripe_call(client.v1.accounts.retrieve, stripe_account_id).to_dict())
