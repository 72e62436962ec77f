"""Billing: what CMP keeps about Stripe (customers, prices, subscriptions, invoices, webhook events, seller
accounts) and the invoices of manual mode. Marketplace objects are linked one-to-one, never changed."""

from django.db import models

from cmp.models import PublicModel, TimeStampedModel


class BillingCustomer(TimeStampedModel):
    """An organisation's Stripe customer."""

    organization = models.OneToOneField(
        "marketplace.Organization", on_delete=models.PROTECT, related_name="billing_customer"
    )
    stripe_customer_id = models.CharField(max_length=64, unique=True)

    def __str__(self) -> str:
        return self.stripe_customer_id


class StripeProduct(TimeStampedModel):
    """The Stripe product of an offering."""

    offering = models.OneToOneField(
        "marketplace.Offering", on_delete=models.PROTECT, related_name="stripe_product"
    )
    stripe_product_id = models.CharField(max_length=64, unique=True)

    def __str__(self) -> str:
        return self.stripe_product_id


class PriceKind(models.TextChoices):
    FIXED = "fixed", "Fixed fee per period"
    METERED = "metered", "Per 1,000 calls beyond the quota"


class StripePrice(TimeStampedModel):
    """A Stripe price of a plan. Stripe prices cannot change: a new plan price gets a new row."""

    plan = models.ForeignKey("marketplace.Plan", on_delete=models.PROTECT, related_name="stripe_prices")
    kind = models.CharField(max_length=8, choices=PriceKind.choices)
    stripe_price_id = models.CharField(max_length=64, unique=True)
    unit_amount = models.PositiveIntegerField()
    currency = models.CharField(max_length=3)
    interval = models.CharField(max_length=8)

    class Meta:
        ordering = ["plan_id", "kind", "-created_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["plan", "kind", "unit_amount", "currency", "interval"],
                name="stripe_price_unique_terms",
            ),
            models.CheckConstraint(
                condition=models.Q(kind__in=PriceKind.values), name="stripe_price_kind_valid"
            ),
        ]

    def __str__(self) -> str:
        return self.stripe_price_id


class StripeMeter(TimeStampedModel):
    """The Stripe Billing Meter that overage calls are reported to."""

    event_name = models.CharField(max_length=100, unique=True)
    stripe_meter_id = models.CharField(max_length=64, unique=True)

    def __str__(self) -> str:
        return self.event_name


class SubscriptionStatus(models.TextChoices):
    """Stripe's subscription statuses, plus `manual` for subscriptions paid outside Stripe."""

    MANUAL = "manual", "Paid manually"
    INCOMPLETE = "incomplete", "Waiting for the first payment"
    INCOMPLETE_EXPIRED = "incomplete_expired", "First payment never completed"
    TRIALING = "trialing", "Trial"
    ACTIVE = "active", "Active"
    PAST_DUE = "past_due", "Past due"
    UNPAID = "unpaid", "Unpaid"
    CANCELED = "canceled", "Cancelled"
    PAUSED = "paused", "Paused"


class BillingSubscription(PublicModel):
    """How a subscription is paid for: its Stripe subscription, payment status and grace period.

    Linked to the order that created the subscription (its resource is `order.resource`)."""

    organization = models.ForeignKey(
        "marketplace.Organization", on_delete=models.PROTECT, related_name="billing_subscriptions"
    )
    order = models.OneToOneField(
        "marketplace.Order", on_delete=models.PROTECT, related_name="billing_subscription"
    )
    stripe_subscription_id = models.CharField(max_length=64, unique=True, null=True, blank=True)
    stripe_customer_id = models.CharField(max_length=64, blank=True)
    status = models.CharField(
        max_length=20, choices=SubscriptionStatus.choices, default=SubscriptionStatus.INCOMPLETE
    )
    fixed_item_id = models.CharField(max_length=64, blank=True)
    metered_item_id = models.CharField(max_length=64, blank=True)
    current_period_start = models.DateTimeField(null=True, blank=True)
    current_period_end = models.DateTimeField(null=True, blank=True)
    cancel_at_period_end = models.BooleanField(default=False)
    scheduled_plan = models.ForeignKey(
        "marketplace.Plan",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        help_text="A cheaper plan that takes over at the end of the current period.",
    )
    scheduled_change_at = models.DateTimeField(null=True, blank=True)
    past_due_since = models.DateTimeField(null=True, blank=True)
    suspended_at = models.DateTimeField(null=True, blank=True)
    last_payment_error = models.CharField(max_length=500, blank=True)
    canceled_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(status__in=SubscriptionStatus.values),
                name="billing_subscription_status_valid",
            ),
        ]

    def __str__(self) -> str:
        return self.stripe_subscription_id or f"order {self.order_id}"

    @property
    def is_past_due(self) -> bool:
        return self.status in {SubscriptionStatus.PAST_DUE, SubscriptionStatus.UNPAID}


class InvoiceStatus(models.TextChoices):
    DRAFT = "draft", "Draft"
    OPEN = "open", "Open"
    PAID = "paid", "Paid"
    UNCOLLECTIBLE = "uncollectible", "Uncollectible"
    VOID = "void", "Void"


class Invoice(PublicModel):
    """An invoice: a Stripe invoice mirrored here, or one recorded locally for a manual payment."""

    organization = models.ForeignKey(
        "marketplace.Organization", on_delete=models.PROTECT, related_name="invoices"
    )
    subscription = models.ForeignKey(
        BillingSubscription, on_delete=models.PROTECT, null=True, blank=True, related_name="invoices"
    )
    order = models.ForeignKey(
        "marketplace.Order", on_delete=models.PROTECT, null=True, blank=True, related_name="invoices"
    )
    offering = models.ForeignKey(
        "marketplace.Offering", on_delete=models.PROTECT, null=True, blank=True, related_name="invoices"
    )
    stripe_invoice_id = models.CharField(max_length=64, unique=True, null=True, blank=True)
    number = models.CharField(max_length=64, blank=True)
    status = models.CharField(max_length=16, choices=InvoiceStatus.choices)
    amount_due_minor = models.PositiveIntegerField(default=0)
    amount_paid_minor = models.PositiveIntegerField(default=0)
    platform_fee_minor = models.PositiveIntegerField(default=0)
    currency = models.CharField(max_length=3)
    billing_reason = models.CharField(max_length=40, blank=True)
    hosted_invoice_url = models.URLField(max_length=1000, blank=True)
    invoice_pdf = models.URLField(max_length=1000, blank=True)
    period_start = models.DateTimeField(null=True, blank=True)
    period_end = models.DateTimeField(null=True, blank=True)
    paid_at = models.DateTimeField(null=True, blank=True)
    is_manual = models.BooleanField(default=False)

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["organization", "-created_at"], name="invoice_org_newest")]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(status__in=InvoiceStatus.values), name="invoice_status_valid"
            ),
            models.UniqueConstraint(
                fields=["order"], condition=models.Q(is_manual=True), name="invoice_one_manual_per_order"
            ),
        ]

    def __str__(self) -> str:
        return self.number or self.stripe_invoice_id or f"manual {self.pk}"


class WebhookEventStatus(models.TextChoices):
    RECEIVED = "received", "Received"
    PROCESSED = "processed", "Processed"
    IGNORED = "ignored", "Ignored (type not handled)"
    FAILED = "failed", "Failed"


class WebhookEvent(TimeStampedModel):
    """A Stripe event, stored once by its id when its signature checked out, then processed in Celery."""

    stripe_event_id = models.CharField(max_length=64, unique=True)
    type = models.CharField(max_length=100, db_index=True)
    payload = models.JSONField()
    status = models.CharField(
        max_length=12, choices=WebhookEventStatus.choices, default=WebhookEventStatus.RECEIVED
    )
    attempts = models.PositiveIntegerField(default=0)
    last_error = models.TextField(blank=True)
    processed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["status", "created_at"], name="webhook_event_status")]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(status__in=WebhookEventStatus.values), name="webhook_event_status_valid"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.type} {self.stripe_event_id}"


class SellerPayoutAccount(TimeStampedModel):
    """A seller's Stripe Connect Express account, with its status from `account.updated`."""

    provider = models.OneToOneField(
        "marketplace.ServiceProvider", on_delete=models.PROTECT, related_name="payout_account"
    )
    stripe_account_id = models.CharField(max_length=64, unique=True)
    details_submitted = models.BooleanField(default=False)
    charges_enabled = models.BooleanField(default=False)
    payouts_enabled = models.BooleanField(default=False)

    def __str__(self) -> str:
        return self.stripe_account_id

    @property
    def is_ready(self) -> bool:
        return self.charges_enabled and self.payouts_enabled


class OverageReport(TimeStampedModel):
    """Calls beyond the quota already sent to the Stripe meter for one subscription period."""

    subscription = models.ForeignKey(
        BillingSubscription, on_delete=models.CASCADE, related_name="overage_reports"
    )
    period_start = models.DateTimeField()
    reported_calls = models.PositiveBigIntegerField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["subscription", "period_start"], name="overage_report_one_per_period"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.subscription_id} {self.period_start:%Y-%m-%d}: {self.reported_calls}"


class Bundle(TimeStampedModel):
    """A seller's bundle: an offering of its own whose subscription includes several of their offerings."""

    offering = models.OneToOneField("marketplace.Offering", on_delete=models.PROTECT, related_name="bundle")

    def __str__(self) -> str:
        return f"Bundle {self.offering}"


class BundleItem(TimeStampedModel):
    """An offering included in a bundle, and the plan its subscription gets (quota, rate limit)."""

    bundle = models.ForeignKey(Bundle, on_delete=models.CASCADE, related_name="items")
    offering = models.ForeignKey(
        "marketplace.Offering", on_delete=models.PROTECT, related_name="bundle_items"
    )
    plan = models.ForeignKey("marketplace.Plan", on_delete=models.PROTECT, related_name="bundle_items")
    sort_order = models.PositiveSmallIntegerField(default=0)

    class Meta:
        ordering = ["sort_order", "id"]
        constraints = [
            models.UniqueConstraint(fields=["bundle", "offering"], name="bundle_item_offering_once"),
        ]

    def __str__(self) -> str:
        return f"{self.offering} ({self.plan.name})"


class DuplicateSubscription(TimeStampedModel):
    """A second Stripe subscription paid for an order that already had one (an abandoned checkout paid
    late): cancelled at once in Stripe and its first payment refunded."""

    order = models.ForeignKey("marketplace.Order", on_delete=models.PROTECT, related_name="+")
    stripe_subscription_id = models.CharField(max_length=64, unique=True)
    kept_subscription_id = models.CharField(max_length=64)
    stripe_invoice_id = models.CharField(max_length=64, blank=True)
    stripe_refund_id = models.CharField(max_length=64, blank=True)
    amount_refunded_minor = models.PositiveIntegerField(default=0)
    currency = models.CharField(max_length=3, blank=True)
    canceled_at = models.DateTimeField(null=True, blank=True)
    refunded_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.stripe_subscription_id} (duplicate for order {self.order_id})"
