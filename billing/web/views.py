"""Billing pages: paying, subscriptions and billing history for buyers; payouts and revenue for sellers."""

import csv

from django import forms
from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_POST

from billing import selectors
from billing.services.bundles import bundle_create
from billing.services.checkout import (
    checkout_start,
    manual_period_credit,
    order_needs_payment,
    order_pays_at_checkout,
)
from billing.services.payouts import payout_onboarding_link
from billing.services.subscriptions import (
    subscription_plan_change_request,
    subscription_set_cancel_at_period_end,
    subscription_upgrade_pay,
)
from billing.stripe_client import get_stripe_client, stripe_call
from cmp.errors import ApplicationError
from marketplace import selectors as marketplace_selectors
from marketplace.models import Category, Order, OrderState, OrderType, ResourceState

INVOICES_PAGE_SIZE = 50


def _see_other(url: str) -> HttpResponseRedirect:
    """Off to a Stripe-hosted page after a POST."""
    response = HttpResponseRedirect(url)
    response.status_code = 303
    return response


class PlanChoiceForm(forms.Form):
    plan = forms.ChoiceField(label="New plan")

    def __init__(self, *args, plans, **kwargs):
        super().__init__(*args, **kwargs)
        self.plans = {str(plan.uuid): plan for plan in plans}
        self.fields["plan"].choices = [(key, plan.name) for key, plan in self.plans.items()]

    def clean_plan(self):
        return self.plans[self.cleaned_data["plan"]]


# --- Paying an order -----------------------------------------------------------------------------------


@login_required
def order_pay(request: HttpRequest, uuid) -> HttpResponse:
    """GET: what is due and how it is paid. POST: off to Stripe Checkout (a new subscription, or a free one
    moving to a paid plan), or pay the prorated difference of an upgrade Stripe already bills."""
    order = selectors.order_get_payable_for_user(user=request.user, uuid=uuid)
    mode = selectors.billing_mode()
    if request.method == "POST":
        if order.state != OrderState.PENDING_PAYMENT:
            messages.info(request, "This order is not waiting for payment any more.")
            return redirect("marketplace:order-detail", uuid=order.uuid)
        try:
            if not order_pays_at_checkout(order):
                subscription_upgrade_pay(order=order, actor=request.user)
                messages.success(request, "Paid. Your new plan is being set up.")
                return redirect("marketplace:order-detail", uuid=order.uuid)
            paid_url = request.build_absolute_uri(reverse("billing:order-paid", args=[order.uuid]))
            started = checkout_start(
                order=order,
                actor=request.user,
                success_url=f"{paid_url}?session_id={{CHECKOUT_SESSION_ID}}",
                cancel_url=request.build_absolute_uri(reverse("billing:order-pay", args=[order.uuid])),
            )
        except ApplicationError as error:
            messages.error(request, error.detail)
            return redirect("billing:order-pay", uuid=order.uuid)
        return _see_other(started.checkout_url)
    pays_at_checkout = order_pays_at_checkout(order)
    if pays_at_checkout:
        billing = selectors.billing_subscription_for_order(order=order)
    else:
        billing = selectors.billing_subscription_for_resource(resource=order.resource)
    return render(
        request,
        "billing/order_pay.html",
        {
            "order": order,
            "mode": mode,
            "billing": billing,
            "is_payable": order_needs_payment(order),
            "pays_at_checkout": pays_at_checkout,
            "credit_minor": manual_period_credit(order=order) if pays_at_checkout and mode.is_stripe else 0,
        },
    )


@login_required
def order_paid(request: HttpRequest, uuid) -> HttpResponse:
    """Where Stripe sends the buyer back. It grants nothing: the order moves when Stripe's webhook arrives."""
    order = marketplace_selectors.order_get_for_user(user=request.user, uuid=uuid)
    return render(
        request,
        "billing/order_paid.html",
        {
            "order": order,
            "is_confirmed": order.state != OrderState.PENDING_PAYMENT,
            "billing": selectors.billing_subscription_for_order(order=order),
        },
    )


# --- Buyer: subscriptions, plan changes, history ------------------------------------------------------


def _organization(request: HttpRequest, uuid, *, manage: bool = False):
    roles = marketplace_selectors.MANAGING_ROLES if manage else None
    return marketplace_selectors.organization_get_for_user(user=request.user, uuid=uuid, roles=roles)


@login_required
def organization_billing(request: HttpRequest, uuid) -> HttpResponse:
    organization = _organization(request, uuid)
    subscriptions = list(
        selectors.billing_subscription_list_for_organization(organization=organization)
        .filter(order__resource__isnull=False)
        .exclude(order__resource__state=ResourceState.TERMINATED)
        .order_by("-created_at")
    )
    for billing in subscriptions:
        resource = billing.order.resource
        plans = marketplace_selectors.plan_list_public(offering=resource.offering).exclude(
            pk=resource.plan_id
        )
        billing.plan_form = PlanChoiceForm(plans=plans, prefix=str(resource.uuid)) if plans else None
    pending = (
        marketplace_selectors.order_list_for_user(user=request.user)
        .filter(organization=organization, state=OrderState.PENDING_PAYMENT)
        .order_by("-created_at")
    )
    return render(
        request,
        "billing/organization_billing.html",
        {
            "organization": organization,
            "active_tab": "billing",
            "mode": selectors.billing_mode(),
            "subscriptions": subscriptions,
            "pending_orders": list(pending[:20]),
            "has_customer": hasattr(organization, "billing_customer"),
            "can_manage": marketplace_selectors.user_can_manage(user=request.user, organization=organization),
            "recent_invoices": list(selectors.invoice_list_for_organization(organization=organization)[:5]),
        },
    )


@login_required
def organization_invoices(request: HttpRequest, uuid) -> HttpResponse:
    organization = _organization(request, uuid)
    invoices = selectors.invoice_list_for_organization(organization=organization)
    return render(
        request,
        "billing/organization_invoices.html",
        {
            "organization": organization,
            "active_tab": "invoices",
            "mode": selectors.billing_mode(),
            "invoices": list(invoices[:INVOICES_PAGE_SIZE]),
        },
    )


def _managed_resource(request: HttpRequest, uuid, resource_uuid):
    organization = _organization(request, uuid, manage=True)
    resource = (
        marketplace_selectors.resource_list_for_user(user=request.user)
        .filter(organization=organization, uuid=resource_uuid)
        .first()
    )
    if resource is None:
        raise Http404
    return organization, resource


def _back(request: HttpRequest, organization) -> HttpResponseRedirect:
    """Back to the page the form was on (the dashboard posts here too), else the billing page."""
    target = request.POST.get("next", "")
    if target and url_has_allowed_host_and_scheme(
        target, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return HttpResponseRedirect(target)
    return redirect("billing:organization-billing", uuid=organization.uuid)


@login_required
@require_POST
def subscription_plan_change(request: HttpRequest, uuid, resource_uuid) -> HttpResponse:
    """Change plan, from the billing page or the dashboard: billed through Stripe, an upgrade is charged
    prorated at once and a downgrade waits for the end of the paid period; otherwise a plan change order."""
    organization, resource = _managed_resource(request, uuid, resource_uuid)
    plans = marketplace_selectors.plan_list_public(offering=resource.offering)
    form = PlanChoiceForm(request.POST, plans=plans, prefix=str(resource.uuid))
    if not form.is_valid():
        messages.error(request, "Choose one of the offering's plans.")
        return _back(request, organization)
    plan = form.cleaned_data["plan"]
    try:
        outcome = subscription_plan_change_request(resource=resource, plan=plan, actor=request.user)
    except ApplicationError as error:
        messages.error(request, error.detail)
        return _back(request, organization)
    if isinstance(outcome, Order):
        if outcome.state == OrderState.PENDING_PAYMENT:
            messages.info(
                request, f"Pay for the {plan.name} plan to switch to it; until then nothing changes."
            )
            return redirect("billing:order-pay", uuid=outcome.uuid)
        if outcome.type == OrderType.UPDATE and outcome.paid_at and outcome.payment_reference:
            messages.success(request, f"Upgraded to {plan.name}; the prorated difference was charged.")
        else:
            messages.success(request, f"Plan change to {plan.name} requested.")
        return redirect("marketplace:order-detail", uuid=outcome.uuid)
    if outcome.scheduled_plan_id:
        when = (
            outcome.scheduled_change_at.strftime("%b %-d, %Y")
            if outcome.scheduled_change_at
            else "period end"
        )
        messages.success(request, f"{plan.name} starts on {when}, when the period you paid for ends.")
    else:
        messages.success(request, "The scheduled plan change was withdrawn.")
    return _back(request, organization)


@login_required
@require_POST
def subscription_cancel(request: HttpRequest, uuid, resource_uuid) -> HttpResponse:
    """Cancel at the end of the paid period (`undo=1` takes it back)."""
    organization, resource = _managed_resource(request, uuid, resource_uuid)
    undo = request.POST.get("undo") == "1"
    try:
        billing = subscription_set_cancel_at_period_end(
            resource=resource, actor=request.user, cancel=not undo
        )
    except ApplicationError as error:
        messages.error(request, error.detail)
    else:
        if undo:
            messages.success(request, f"{resource.name} will renew as usual.")
        else:
            end = (
                billing.current_period_end.strftime("%b %-d, %Y")
                if billing.current_period_end
                else "period end"
            )
            messages.success(request, f"{resource.name} stays active until {end} and then ends.")
    return redirect("billing:organization-billing", uuid=organization.uuid)


@login_required
@require_POST
def customer_portal(request: HttpRequest, uuid) -> HttpResponse:
    """Stripe's customer portal: payment methods, receipts, tax ids."""
    organization = _organization(request, uuid, manage=True)
    customer = getattr(organization, "billing_customer", None)
    if customer is None:
        messages.error(request, "There is nothing to manage at Stripe yet: pay for a subscription first.")
        return redirect("billing:organization-billing", uuid=organization.uuid)
    try:
        client = get_stripe_client()
        session = stripe_call(
            client.v1.billing_portal.sessions.create,
            params={
                "customer": customer.stripe_customer_id,
                "return_url": request.build_absolute_uri(
                    reverse("billing:organization-billing", args=[uuid])
                ),
            },
        )
    except ApplicationError as error:
        messages.error(request, error.detail)
        return redirect("billing:organization-billing", uuid=organization.uuid)
    return _see_other(session.url)


# --- Seller: payouts and revenue -----------------------------------------------------------------------


def _provider(request: HttpRequest, uuid):
    return marketplace_selectors.service_provider_get_for_user(user=request.user, uuid=uuid, manage=True)


@login_required
def provider_payouts(request: HttpRequest, uuid) -> HttpResponse:
    provider = _provider(request, uuid)
    if request.method == "POST":
        here = request.build_absolute_uri(reverse("billing:provider-payouts", args=[provider.uuid]))
        try:
            url = payout_onboarding_link(provider=provider, refresh_url=here, return_url=here)
        except ApplicationError as error:
            messages.error(request, error.detail)
            return redirect("billing:provider-payouts", uuid=provider.uuid)
        return _see_other(url)
    return render(
        request,
        "billing/provider_payouts.html",
        {
            "provider": provider,
            "active_tab": "payouts",
            "mode": selectors.billing_mode(),
            "account": selectors.payout_account_for_provider(provider=provider),
            "fee_percent": settings.PLATFORM_FEE_PERCENT,
            "seller_percent": 100 - settings.PLATFORM_FEE_PERCENT,
        },
    )


@login_required
def provider_revenue(request: HttpRequest, uuid) -> HttpResponse:
    provider = _provider(request, uuid)
    report = selectors.revenue_report(provider=provider)
    if request.GET.get("format") == "csv":
        return _revenue_csv(provider, report)
    peak = max((row.gross_minor for row in report.by_month), default=0)
    months = [
        {"row": row, "percent": round(100 * row.gross_minor / peak) if peak else 0} for row in report.by_month
    ]
    return render(
        request,
        "billing/provider_revenue.html",
        {
            "provider": provider,
            "active_tab": "revenue",
            "mode": selectors.billing_mode(),
            "report": report,
            "months": months,
        },
    )


class BundleForm(forms.Form):
    """A bundle's listing and, per offering the seller may bundle, whether it is in and on which plan."""

    name = forms.CharField(max_length=120)
    category = forms.ModelChoiceField(queryset=Category.objects.all(), to_field_name="slug", empty_label=None)
    summary = forms.CharField(
        max_length=300, required=False, help_text="One sentence shown on catalogue cards."
    )
    description = forms.CharField(
        required=False,
        widget=forms.Textarea(attrs={"rows": 6}),
        help_text="Markdown. Say what buying the bundle gives, and why it is a good deal.",
    )

    def __init__(self, *args, offerings, **kwargs):
        super().__init__(*args, **kwargs)
        self.offerings = [offering for offering in offerings if offering.public_plans]
        self.rows = []
        for offering in self.offerings:
            include = forms.BooleanField(required=False, label=offering.name)
            plan = forms.ChoiceField(
                required=False,
                label=f"Plan of {offering.name}",
                choices=[(str(plan.uuid), plan.name) for plan in offering.public_plans],
            )
            self.fields[f"include_{offering.uuid}"] = include
            self.fields[f"plan_{offering.uuid}"] = plan
            self.rows.append(
                {
                    "offering": offering,
                    "include": self[f"include_{offering.uuid}"],
                    "plan": self[f"plan_{offering.uuid}"],
                }
            )

    def clean(self):
        cleaned = super().clean()
        for offering in self.offerings:
            if cleaned.get(f"include_{offering.uuid}") and not cleaned.get(f"plan_{offering.uuid}"):
                self.add_error(f"plan_{offering.uuid}", f"Choose the plan of {offering.name}.")
        return cleaned

    def items(self) -> list:
        chosen = []
        for offering in self.offerings:
            if self.cleaned_data.get(f"include_{offering.uuid}"):
                plan_uuid = self.cleaned_data[f"plan_{offering.uuid}"]
                plan = next(plan for plan in offering.public_plans if str(plan.uuid) == plan_uuid)
                chosen.append((offering, plan))
        return chosen


@login_required
def provider_bundles(request: HttpRequest, uuid) -> HttpResponse:
    """The seller's bundles, and a form to make one from their live offerings."""
    provider = _provider(request, uuid)
    offerings = list(selectors.offering_list_bundleable(provider=provider))
    form = BundleForm(request.POST or None, offerings=offerings)
    if request.method == "POST" and form.is_valid():
        try:
            bundle = bundle_create(
                provider=provider,
                category=form.cleaned_data["category"],
                name=form.cleaned_data["name"],
                summary=form.cleaned_data["summary"],
                description=form.cleaned_data["description"],
                items=form.items(),
                actor=request.user,
            )
        except ApplicationError as error:
            for field, problems in error.errors.items():
                for problem in problems:
                    form.add_error(field if field in form.fields else None, problem)
            if not error.errors:
                form.add_error(None, error.detail)
        else:
            messages.success(request, "Bundle created as a draft. Add its plans, then submit it for review.")
            return redirect(
                "marketplace:provider-offering", uuid=provider.uuid, offering_uuid=bundle.offering.uuid
            )
    return render(
        request,
        "billing/provider_bundles.html",
        {
            "provider": provider,
            "active_tab": "bundles",
            "bundles": list(selectors.bundle_list_for_provider(provider=provider)),
            "form": form,
        },
        status=400 if request.method == "POST" else 200,
    )


def _revenue_csv(provider, report) -> HttpResponse:
    response = HttpResponse(content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="revenue-{provider.organization.slug}.csv"'
    writer = csv.writer(response)
    writer.writerow(["section", "label", "currency", "invoices", "gross", "platform_fee", "net"])
    for section, rows in (
        ("month", report.by_month),
        ("offering", report.by_offering),
        ("total", report.total),
    ):
        for row in rows:
            writer.writerow(
                [
                    section,
                    row.label,
                    row.currency,
                    row.invoices,
                    f"{row.gross_minor / 100:.2f}",
                    f"{row.fee_minor / 100:.2f}",
                    f"{row.net_minor / 100:.2f}",
                ]
            )
    return response
