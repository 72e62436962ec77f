"""Buyer pages: ordering a plan, following an order, the organisation dashboard and its subscriptions."""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.db.models import Prefetch
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from cmp.errors import ApplicationError
from marketplace import selectors
from marketplace.models import OrderState, Plan, ResourceState
from marketplace.services.orders import order_cancel, order_change_plan, order_create, order_terminate
from marketplace.services.organizations import organization_ensure_for_new_user
from marketplace.web.forms import ChangePlanForm, OrganizationChoiceForm, add_service_errors

ORDER_STATE_EXPLANATIONS = {
    OrderState.PENDING_PAYMENT: (
        "Waiting for payment",
        "Pay for this order to start the subscription. It is set up as soon as the payment is confirmed.",
    ),
    OrderState.EXECUTING: ("Setting up", "Payment is settled and your subscription is being set up."),
    OrderState.DONE: ("Active", "All done: the subscription is ready to use."),
    OrderState.ERRED: (
        "Something went wrong",
        "Setting up failed. An operator has been notified and will retry.",
    ),
    OrderState.CANCELED: ("Cancelled", "This order was withdrawn before payment. Nothing was charged."),
    OrderState.REJECTED: ("Rejected", "An operator rejected this order. Nothing was charged."),
}
ORDER_STEPS = [
    (OrderState.PENDING_PAYMENT, "Payment"),
    (OrderState.EXECUTING, "Setting up"),
    (OrderState.DONE, "Active"),
]
ORDERS_PAGE_SIZE = 25


def _managed_organizations(user) -> list:
    """Organisations in which the user may buy: those where they are an owner or manager."""
    return list(
        selectors.organization_list_for_user(user=user)
        .filter(memberships__user=user, memberships__role__in=selectors.MANAGING_ROLES)
        .order_by("name")
        .distinct()
    )


@login_required
def dashboard(request: HttpRequest) -> HttpResponse:
    """The user's home: their first organisation (one is created if they have none yet)."""
    organization = (
        selectors.organization_list_for_user(user=request.user)
        .filter(memberships__user=request.user)
        .order_by("memberships__created_at")
        .first()
    )
    if organization is None:
        organization = organization_ensure_for_new_user(user=request.user)
    return redirect("marketplace:organization-dashboard", uuid=organization.uuid)


@login_required
def order_plan(request: HttpRequest, uuid) -> HttpResponse:
    """Confirm a plan and the organisation to order for; POST places the order."""
    plan = selectors.plan_get_orderable(uuid=uuid)
    organizations = _managed_organizations(request.user)
    if (
        not organizations
        and not selectors.organization_list_for_user(user=request.user)
        .filter(memberships__user=request.user)
        .exists()
    ):
        organizations = [organization_ensure_for_new_user(user=request.user)]
    form = OrganizationChoiceForm(request.POST or None, organizations=organizations)
    if request.method == "POST" and form.is_valid():
        try:
            organization = form.cleaned_data["organization"]
            order = order_create(organization=organization, plan=plan, actor=request.user)
        except ApplicationError as error:
            add_service_errors(form, error)
        else:
            if order.state == OrderState.PENDING_PAYMENT:
                messages.success(request, "Order placed. It is waiting for payment.")
            else:
                messages.success(request, "Order placed. Your subscription is being set up.")
            return redirect("marketplace:order-detail", uuid=order.uuid)
    status = 400 if request.method == "POST" else 200
    return render(
        request,
        "marketplace/order_plan.html",
        {
            "plan": plan,
            "offering": plan.offering,
            "form": form,
            "organizations": organizations,
        },
        status=status,
    )


def _order_steps(order, events) -> list[dict]:
    """Payment -> Setting up -> Active, with what is done and what is happening now."""
    reached = {event.to_state for event in events} | {order.state}
    if order.cost_minor == 0:
        reached.add(OrderState.PENDING_PAYMENT)
    steps = []
    for state, label in ORDER_STEPS:
        if state == OrderState.PENDING_PAYMENT and order.cost_minor == 0:
            label = "No payment needed"
        is_current = state == order.state and state != OrderState.DONE
        is_done = state in reached and not is_current
        steps.append({"label": label, "is_current": is_current, "is_done": is_done})
    return steps


@login_required
def order_detail(request: HttpRequest, uuid) -> HttpResponse:
    order = selectors.order_get_for_user(user=request.user, uuid=uuid)
    events = list(order.events.select_related("actor"))
    title, explanation = ORDER_STATE_EXPLANATIONS[order.state]
    role = selectors.membership_role(user=request.user, organization=order.organization)
    is_buyer_manager = request.user.is_staff or role in selectors.MANAGING_ROLES
    is_buyer_member = role is not None
    return render(
        request,
        "marketplace/order_detail.html",
        {
            "order": order,
            "events": events,
            "state_title": title,
            "state_explanation": explanation,
            "steps": _order_steps(order, events) if order.type == "create" else [],
            "can_cancel": is_buyer_manager and order.state == OrderState.PENDING_PAYMENT,
            "is_buyer": is_buyer_member or request.user.is_staff,
        },
    )


@login_required
@require_POST
def order_cancel_view(request: HttpRequest, uuid) -> HttpResponse:
    order = selectors.order_get_for_user(user=request.user, uuid=uuid)
    if not selectors.user_can_manage(user=request.user, organization=order.organization):
        raise Http404
    try:
        order_cancel(order=order, actor=request.user)
    except ApplicationError as error:
        messages.error(request, error.detail)
    else:
        messages.success(request, "Order cancelled. Nothing was charged.")
    return redirect("marketplace:order-detail", uuid=order.uuid)


def _subscriptions(user, organization) -> list:
    plans = Plan.objects.filter(is_archived=False).order_by("sort_order", "price_minor", "id")
    return list(
        selectors.resource_list_for_user(user=user)
        .filter(organization=organization)
        .exclude(state=ResourceState.TERMINATED)
        .select_related("offering__provider__organization", "agent_config", "included_in")
        .prefetch_related(Prefetch("offering__plans", queryset=plans, to_attr="public_plans"))
        .order_by("-created_at")
    )


@login_required
def organization_dashboard(request: HttpRequest, uuid) -> HttpResponse:
    organization = selectors.organization_get_for_user(user=request.user, uuid=uuid)
    subscriptions = _subscriptions(request.user, organization)
    for resource in subscriptions:
        # A subscription a bundle includes changes and ends with the bundle: no plan choice of its own.
        other_plans = [plan for plan in resource.offering.public_plans if plan.pk != resource.plan_id]
        resource.change_plan_form = (
            ChangePlanForm(plans=other_plans, prefix=str(resource.uuid))
            if other_plans and resource.included_in_id is None
            else None
        )
    orders = selectors.order_list_for_user(user=request.user).filter(organization=organization)
    return render(
        request,
        "marketplace/organization_dashboard.html",
        {
            "organization": organization,
            "active_tab": "overview",
            "subscriptions": subscriptions,
            "recent_orders": list(orders[:5]),
            "pending_orders": orders.filter(state=OrderState.PENDING_PAYMENT).count(),
            "can_manage": selectors.user_can_manage(user=request.user, organization=organization),
        },
    )


@login_required
def organization_orders(request: HttpRequest, uuid) -> HttpResponse:
    organization = selectors.organization_get_for_user(user=request.user, uuid=uuid)
    orders = selectors.order_list_for_user(user=request.user).filter(organization=organization)
    page = Paginator(orders, ORDERS_PAGE_SIZE).get_page(request.GET.get("page"))
    return render(
        request,
        "marketplace/organization_orders.html",
        {
            "organization": organization,
            "active_tab": "orders",
            "page_obj": page,
            "orders": page.object_list,
        },
    )


def _managed_subscription(request: HttpRequest, uuid, resource_uuid):
    organization = selectors.organization_get_for_user(
        user=request.user, uuid=uuid, roles=selectors.MANAGING_ROLES
    )
    resource = (
        selectors.resource_list_for_user(user=request.user)
        .filter(organization=organization, uuid=resource_uuid)
        .first()
    )
    if resource is None:
        raise Http404
    return organization, resource


@login_required
@require_POST
def subscription_change_plan(request: HttpRequest, uuid, resource_uuid) -> HttpResponse:
    organization, resource = _managed_subscription(request, uuid, resource_uuid)
    plans = selectors.plan_list_public(offering=resource.offering).exclude(pk=resource.plan_id)
    form = ChangePlanForm(request.POST, plans=plans, prefix=str(resource.uuid))
    if not form.is_valid():
        messages.error(request, "Choose one of the offering's plans.")
        return redirect("marketplace:organization-dashboard", uuid=organization.uuid)
    try:
        order = order_change_plan(resource=resource, plan=form.cleaned_data["plan"], actor=request.user)
    except ApplicationError as error:
        messages.error(request, error.detail)
        return redirect("marketplace:organization-dashboard", uuid=organization.uuid)
    messages.success(request, f"Plan change to {order.plan.name} requested.")
    return redirect("marketplace:order-detail", uuid=order.uuid)


@login_required
@require_POST
def subscription_cancel(request: HttpRequest, uuid, resource_uuid) -> HttpResponse:
    organization, resource = _managed_subscription(request, uuid, resource_uuid)
    if request.POST.get("confirm") != "yes":
        messages.error(request, "Tick the box to confirm the cancellation.")
        return redirect("marketplace:organization-dashboard", uuid=organization.uuid)
    try:
        order = order_terminate(resource=resource, actor=request.user)
    except ApplicationError as error:
        messages.error(request, error.detail)
        return redirect("marketplace:organization-dashboard", uuid=organization.uuid)
    messages.success(request, f"{resource.name} is being cancelled.")
    return redirect("marketplace:order-detail", uuid=order.uuid)
