"""Operator views of billing: webhook events (with replay), subscriptions, invoices, seller accounts."""

from django.contrib import admin, messages

from billing.models import (
    BillingCustomer,
    BillingSubscription,
    Bundle,
    BundleItem,
    DuplicateSubscription,
    Invoice,
    SellerPayoutAccount,
    StripePrice,
    StripeProduct,
    WebhookEvent,
    WebhookEventStatus,
)
from billing.services.webhooks import webhook_event_replay
from cmp.admin import LedgerMixin


class ReadOnlyAdmin(LedgerMixin, admin.ModelAdmin):
    """Billing rows mirror Stripe or record payments: operators look, services write."""


@admin.register(WebhookEvent)
class WebhookEventAdmin(ReadOnlyAdmin):
    list_display = ["stripe_event_id", "type", "status", "attempts", "created_at", "processed_at"]
    list_filter = ["status", "type"]
    search_fields = ["stripe_event_id", "type"]
    readonly_fields = [
        "stripe_event_id",
        "type",
        "status",
        "attempts",
        "last_error",
        "payload",
        "processed_at",
    ]
    actions = ["replay_events"]

    def has_change_permission(self, request, obj=None) -> bool:
        return request.user.is_superuser or request.user.has_perm("billing.change_webhookevent")

    @admin.action(description="Process the selected events again")
    def replay_events(self, request, queryset) -> None:
        count = 0
        for event in queryset:
            webhook_event_replay(event=event)
            count += 1
        failed = queryset.filter(status=WebhookEventStatus.FAILED).count()
        level = messages.WARNING if failed else messages.SUCCESS
        self.message_user(request, f"{count} event(s) queued again; {failed} still failing.", level)


@admin.register(BillingSubscription)
class BillingSubscriptionAdmin(ReadOnlyAdmin):
    list_display = [
        "stripe_subscription_id",
        "organization",
        "status",
        "current_period_end",
        "cancel_at_period_end",
        "past_due_since",
        "suspended_at",
    ]
    list_filter = ["status", "cancel_at_period_end"]
    search_fields = ["stripe_subscription_id", "stripe_customer_id", "organization__name", "order__uuid"]
    list_select_related = ["organization"]
    raw_id_fields = ["order", "organization", "scheduled_plan"]


@admin.register(Invoice)
class InvoiceAdmin(ReadOnlyAdmin):
    list_display = [
        "__str__",
        "organization",
        "offering",
        "status",
        "amount_due_minor",
        "amount_paid_minor",
        "currency",
        "is_manual",
        "paid_at",
    ]
    list_filter = ["status", "is_manual", "currency"]
    search_fields = ["number", "stripe_invoice_id", "organization__name"]
    list_select_related = ["organization", "offering"]
    raw_id_fields = ["organization", "subscription", "order", "offering"]


@admin.register(SellerPayoutAccount)
class SellerPayoutAccountAdmin(ReadOnlyAdmin):
    list_display = [
        "provider",
        "stripe_account_id",
        "details_submitted",
        "charges_enabled",
        "payouts_enabled",
    ]
    list_select_related = ["provider__organization"]


@admin.register(BillingCustomer)
class BillingCustomerAdmin(ReadOnlyAdmin):
    list_display = ["organization", "stripe_customer_id", "created_at"]
    search_fields = ["stripe_customer_id", "organization__name"]


@admin.register(StripeProduct)
class StripeProductAdmin(ReadOnlyAdmin):
    list_display = ["offering", "stripe_product_id"]


@admin.register(StripePrice)
class StripePriceAdmin(ReadOnlyAdmin):
    list_display = ["plan", "kind", "stripe_price_id", "unit_amount", "currency", "interval"]
    list_filter = ["kind"]


class BundleItemInline(admin.TabularInline):
    model = BundleItem
    fields = ["offering", "plan", "sort_order"]
    readonly_fields = fields
    extra = 0
    can_delete = False


@admin.register(Bundle)
class BundleAdmin(ReadOnlyAdmin):
    list_display = ["offering", "created_at"]
    search_fields = ["offering__name"]
    inlines = [BundleItemInline]


@admin.register(DuplicateSubscription)
class DuplicateSubscriptionAdmin(ReadOnlyAdmin):
    list_display = [
        "stripe_subscription_id",
        "kept_subscription_id",
        "amount_refunded_minor",
        "currency",
        "canceled_at",
        "refunded_at",
    ]
    search_fields = ["stripe_subscription_id", "kept_subscription_id", "stripe_refund_id"]
