"""Billing reads. Visibility follows the marketplace's: what a user may not see is a 404."""

from dataclasses import dataclass
from datetime import date

from django.db.models import Count, Exists, OuterRef, Prefetch, Q, QuerySet, Sum
from django.db.models.functions import TruncMonth
from django.http import Http404

from billing.models import (
    BillingSubscription,
    Bundle,
    BundleItem,
    Invoice,
    InvoiceStatus,
    SellerPayoutAccount,
    SubscriptionStatus,
)
from billing.stripe_client import stripe_enabled
from marketplace import selectors as marketplace_selectors
from marketplace.models import (
    Offering,
    OfferingState,
    Order,
    OrderType,
    Organization,
    Plan,
    Resource,
    ServiceProvider,
)

# A Stripe subscription in these statuses bills nothing: its first payment never went through, or it ended.
NOT_BILLING_STATUSES = (
    SubscriptionStatus.INCOMPLETE,
    SubscriptionStatus.INCOMPLETE_EXPIRED,
    SubscriptionStatus.CANCELED,
)


@dataclass(frozen=True)
class BillingMode:
    is_stripe: bool

    @property
    def label(self) -> str:
        return "Stripe" if self.is_stripe else "Manual payments"


def billing_mode() -> BillingMode:
    return BillingMode(is_stripe=stripe_enabled())


def order_get_payable_for_user(*, user, uuid) -> Order:
    """An order the user may pay: one of their organisation's, which they manage there."""
    order = marketplace_selectors.order_get_for_user(user=user, uuid=uuid)
    if not marketplace_selectors.user_can_manage(user=user, organization=order.organization):
        raise Http404
    return order


def billing_subscription_for_order(*, order: Order) -> BillingSubscription | None:
    return BillingSubscription.objects.filter(order=order).first()


def billing_subscription_stripe_for_resource(*, resource_id: int) -> BillingSubscription | None:
    """The Stripe subscription billing a subscription now, if any: the one made when it was bought, or the
    one made at Checkout when it left a free (or manually paid) plan for a paid one."""
    return (
        BillingSubscription.objects.filter(order__resource_id=resource_id)
        .exclude(stripe_subscription_id=None)
        .exclude(status__in=NOT_BILLING_STATUSES)
        .select_related("scheduled_plan")
        .order_by("-created_at")
        .first()
    )


def billing_subscription_for_resource(*, resource: Resource) -> BillingSubscription | None:
    """How a subscription is paid: its Stripe subscription, else the record of the order that bought it."""
    return billing_subscription_stripe_for_resource(resource_id=resource.pk) or (
        BillingSubscription.objects.filter(order__resource=resource, order__type=OrderType.CREATE)
        .select_related("scheduled_plan")
        .first()
    )


def billing_subscription_list_for_organization(
    *, organization: Organization
) -> QuerySet[BillingSubscription]:
    """One record per paid subscription. A plan change's record (a free or manually paid subscription
    upgraded at Checkout) counts once its Stripe subscription bills, and then stands for the subscription."""
    unpaid_plan_change = Q(order__type=OrderType.UPDATE) & (
        Q(stripe_subscription_id=None) | Q(status__in=NOT_BILLING_STATUSES)
    )
    superseded = Q(order__type=OrderType.CREATE) & Exists(
        BillingSubscription.objects.filter(
            order__resource_id=OuterRef("order__resource_id"), order__type=OrderType.UPDATE
        )
        .exclude(stripe_subscription_id=None)
        .exclude(status__in=NOT_BILLING_STATUSES)
    )
    return (
        BillingSubscription.objects.filter(organization=organization)
        .exclude(unpaid_plan_change | superseded)
        .select_related("order__resource__plan", "order__offering", "scheduled_plan")
    )


def invoice_list_for_organization(*, organization: Organization) -> QuerySet[Invoice]:
    return (
        Invoice.objects.filter(organization=organization)
        .select_related("offering")
        .order_by("-created_at", "-id")
    )


def payout_account_for_provider(*, provider: ServiceProvider) -> SellerPayoutAccount | None:
    return SellerPayoutAccount.objects.filter(provider=provider).first()


@dataclass(frozen=True)
class RevenueRow:
    label: str
    gross_minor: int
    fee_minor: int
    currency: str
    invoices: int

    @property
    def net_minor(self) -> int:
        return self.gross_minor - self.fee_minor


@dataclass(frozen=True)
class RevenueReport:
    by_month: list[RevenueRow]
    by_offering: list[RevenueRow]
    total: list[RevenueRow]


def _paid_invoices_of(provider: ServiceProvider) -> QuerySet[Invoice]:
    return Invoice.objects.filter(
        offering__provider=provider, status=InvoiceStatus.PAID, paid_at__isnull=False
    )


def _rows(queryset, label_of) -> list[RevenueRow]:
    return [
        RevenueRow(
            label=label_of(row),
            gross_minor=row["gross"] or 0,
            fee_minor=row["fee"] or 0,
            currency=row["currency"],
            invoices=row["count"],
        )
        for row in queryset
    ]


def revenue_report(*, provider: ServiceProvider, since: date | None = None) -> RevenueReport:
    """Gross, platform fee and net of a seller's paid invoices, per month and per offering, per currency."""
    invoices = _paid_invoices_of(provider)
    if since is not None:
        invoices = invoices.filter(paid_at__date__gte=since)
    sums = {"gross": Sum("amount_paid_minor"), "fee": Sum("platform_fee_minor"), "count": Count("id")}
    months = (
        invoices.annotate(month=TruncMonth("paid_at"))
        .values("month", "currency")
        .annotate(**sums)
        .order_by("month")
    )
    offerings = (
        invoices.values("offering__name", "currency").annotate(**sums).order_by("-gross", "offering__name")
    )
    total = invoices.values("currency").annotate(**sums).order_by("currency")
    return RevenueReport(
        by_month=_rows(months, lambda row: row["month"].strftime("%Y-%m")),
        by_offering=_rows(offerings, lambda row: row["offering__name"]),
        total=_rows(total, lambda row: "Total"),
    )


# --- Bundles -------------------------------------------------------------------------------------------


def bundle_list_for_provider(*, provider: ServiceProvider) -> QuerySet[Bundle]:
    items = BundleItem.objects.select_related("offering", "plan")
    return (
        Bundle.objects.filter(offering__provider=provider)
        .select_related("offering")
        .prefetch_related(Prefetch("items", queryset=items))
        .order_by("-created_at")
    )


def offering_list_bundleable(*, provider: ServiceProvider) -> QuerySet[Offering]:
    """The seller's live offerings that can go into a bundle (bundles themselves cannot), with their plans."""
    plans = Plan.objects.filter(is_archived=False).order_by("sort_order", "price_minor", "id")
    return (
        Offering.objects.filter(provider=provider, state=OfferingState.ACTIVE, bundle__isnull=True)
        .prefetch_related(Prefetch("plans", queryset=plans, to_attr="public_plans"))
        .order_by("name")
    )


def bundle_items_for_offering(*, offering: Offering) -> list[BundleItem]:
    """What a bundle offering includes (empty for any other offering), for its public page."""
    return list(
        BundleItem.objects.filter(bundle__offering=offering).select_related("offering__category", "plan")
    )
