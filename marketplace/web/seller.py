"""Seller pages: the provider dashboard, editing an offering and its plans, publishing, and orders."""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.db.models import Count, Q
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from cmp.errors import ApplicationError
from marketplace import selectors
from marketplace.models import OfferingState, OrderState, ResourceState
from marketplace.services.catalogue import (
    offering_archive,
    offering_create,
    offering_pause,
    offering_publish_problems,
    offering_resume,
    offering_submit,
    offering_update,
    plan_archive,
    plan_create,
    plan_template_apply,
    plan_update,
)
from marketplace.web.forms import (
    OfferingCreateForm,
    OfferingForm,
    OfferingSubmitForm,
    PlanForm,
    add_service_errors,
)

STATE_ACTIONS = {
    "pause": (offering_pause, "Listing paused: it is hidden from the catalogue; subscribers keep working."),
    "resume": (offering_resume, "Listing resumed: it is back in the catalogue."),
    "archive": (offering_archive, "Listing archived."),
}
ORDERS_PAGE_SIZE = 25
ACTIVE_RESOURCE_STATES = [ResourceState.OK, ResourceState.UPDATING]


def _provider(request: HttpRequest, uuid):
    return selectors.service_provider_get_for_user(user=request.user, uuid=uuid, manage=True)


def _provider_offering(request: HttpRequest, uuid, offering_uuid):
    provider = _provider(request, uuid)
    offering = selectors.offering_get_for_user(user=request.user, uuid=offering_uuid)
    if offering.provider_id != provider.pk:
        raise Http404
    return provider, offering


def _dashboard_context(request: HttpRequest, provider, create_form=None) -> dict:
    offerings = list(
        selectors.offering_list_for_user(user=request.user)
        .filter(provider=provider)
        .annotate(
            plan_count=Count("plans", filter=Q(plans__is_archived=False), distinct=True),
            subscriber_count=Count(
                "resources", filter=Q(resources__state__in=ACTIVE_RESOURCE_STATES), distinct=True
            ),
        )
        .order_by("-created_at")
    )
    orders = selectors.order_list_for_user(user=request.user).filter(offering__provider=provider)
    return {
        "provider": provider,
        "organization": provider.organization,
        "active_tab": "offerings",
        "offerings": offerings,
        "create_form": create_form or OfferingCreateForm(),
        "stats": {
            "listed": sum(1 for offering in offerings if offering.state == OfferingState.ACTIVE),
            "subscribers": sum(offering.subscriber_count for offering in offerings),
            "pending_orders": orders.filter(state=OrderState.PENDING_PAYMENT).count(),
        },
        "recent_orders": list(orders[:5]),
    }


@login_required
def provider_dashboard(request: HttpRequest, uuid) -> HttpResponse:
    """The seller's home; POST creates a draft offering."""
    provider = _provider(request, uuid)
    form = OfferingCreateForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            offering = offering_create(
                provider=provider,
                category=form.cleaned_data["category"],
                name=form.cleaned_data["name"],
                summary=form.cleaned_data["summary"],
                actor=request.user,
            )
        except (ApplicationError, ValidationError) as error:
            add_service_errors(form, error)
        else:
            messages.success(request, f"Draft “{offering.name}” created. Add a description and plans next.")
            return redirect("marketplace:provider-offering", uuid=provider.uuid, offering_uuid=offering.uuid)
    status = 400 if request.method == "POST" else 200
    return render(
        request,
        "marketplace/provider_dashboard.html",
        _dashboard_context(request, provider, form),
        status=status,
    )


def _offering_context(
    request, provider, offering, *, details_form=None, new_plan_form=None, plan_forms=None, submit_form=None
) -> dict:
    plans = list(offering.plans.order_by("is_archived", "sort_order", "price_minor", "id"))
    plan_forms = plan_forms or {}
    for plan in plans:
        plan.form = plan_forms.get(plan.pk) or PlanForm(
            initial=PlanForm.initial_for(plan), prefix=f"plan-{plan.uuid}", currency=plan.currency
        )
        plan.form_has_errors = plan.pk in plan_forms
    if details_form is None:
        details_form = OfferingForm(
            initial={
                "name": offering.name,
                "category": offering.category.slug,
                "summary": offering.summary,
                "description": offering.description,
                "capabilities": offering.capabilities,
                "tags": ", ".join(offering.tags),
            }
        )
    return {
        "provider": provider,
        "organization": provider.organization,
        "active_tab": "offerings",
        "offering": offering,
        "plans": plans,
        "active_plan_count": sum(1 for plan in plans if not plan.is_archived),
        "details_form": details_form,
        "new_plan_form": new_plan_form or PlanForm(prefix="new", currency=offering.currency),
        "submit_form": submit_form or OfferingSubmitForm(),
        "problems": offering_publish_problems(offering) if offering.state == OfferingState.DRAFT else {},
        "events": list(offering.events.select_related("actor").order_by("-created_at")[:10]),
        "is_editable": offering.state != OfferingState.ARCHIVED,
    }


def _render_offering(request, provider, offering, **forms) -> HttpResponse:
    context = _offering_context(request, provider, offering, **forms)
    return render(request, "marketplace/provider_offering.html", context, status=400 if forms else 200)


@login_required
def provider_offering(request: HttpRequest, uuid, offering_uuid) -> HttpResponse:
    """Edit an offering's details (POST) and see its plans and publishing controls."""
    provider, offering = _provider_offering(request, uuid, offering_uuid)
    if request.method != "POST":
        return _render_offering(request, provider, offering)
    form = OfferingForm(request.POST)
    if form.is_valid():
        try:
            offering_update(offering=offering, actor=request.user, data=dict(form.cleaned_data))
        except (ApplicationError, ValidationError) as error:
            add_service_errors(form, error)
        else:
            messages.success(request, "Details saved.")
            return redirect("marketplace:provider-offering", uuid=provider.uuid, offering_uuid=offering.uuid)
    offering.refresh_from_db()  # show the stored listing next to the rejected input
    return _render_offering(request, provider, offering, details_form=form)


def _back_to_offering(provider, offering) -> HttpResponse:
    return redirect("marketplace:provider-offering", uuid=provider.uuid, offering_uuid=offering.uuid)


@login_required
@require_POST
def provider_plan_create(request: HttpRequest, uuid, offering_uuid) -> HttpResponse:
    provider, offering = _provider_offering(request, uuid, offering_uuid)
    form = PlanForm(request.POST, prefix="new", currency=offering.currency)
    if form.is_valid():
        try:
            plan = plan_create(offering=offering, actor=request.user, **form.service_fields())
        except (ApplicationError, ValidationError) as error:
            add_service_errors(form, error, PlanForm.SERVICE_FIELDS)
        else:
            messages.success(request, f"Plan “{plan.name}” added.")
            return _back_to_offering(provider, offering)
    return _render_offering(request, provider, offering, new_plan_form=form)


def _provider_plan(request, uuid, offering_uuid, plan_uuid):
    provider, offering = _provider_offering(request, uuid, offering_uuid)
    plan = offering.plans.filter(uuid=plan_uuid).first()
    if plan is None:
        raise Http404
    return provider, offering, plan


@login_required
@require_POST
def provider_plan_update(request: HttpRequest, uuid, offering_uuid, plan_uuid) -> HttpResponse:
    provider, offering, plan = _provider_plan(request, uuid, offering_uuid, plan_uuid)
    form = PlanForm(request.POST, prefix=f"plan-{plan.uuid}", currency=plan.currency)
    if form.is_valid():
        try:
            plan_update(plan=plan, actor=request.user, data=form.service_fields())
        except (ApplicationError, ValidationError) as error:
            add_service_errors(form, error, PlanForm.SERVICE_FIELDS)
        else:
            messages.success(request, f"Plan “{plan.name}” saved.")
            return _back_to_offering(provider, offering)
    return _render_offering(request, provider, offering, plan_forms={plan.pk: form})


@login_required
@require_POST
def provider_plan_archive(request: HttpRequest, uuid, offering_uuid, plan_uuid) -> HttpResponse:
    provider, offering, plan = _provider_plan(request, uuid, offering_uuid, plan_uuid)
    try:
        plan_archive(plan=plan, actor=request.user)
    except ApplicationError as error:
        messages.error(request, error.detail)
    else:
        messages.success(request, f"Plan “{plan.name}” archived: existing subscribers keep it.")
    return _back_to_offering(provider, offering)


@login_required
@require_POST
def provider_plan_template(request: HttpRequest, uuid, offering_uuid) -> HttpResponse:
    provider, offering = _provider_offering(request, uuid, offering_uuid)
    try:
        plans = plan_template_apply(offering=offering, actor=request.user)
    except (ApplicationError, ValidationError) as error:
        messages.error(request, getattr(error, "detail", None) or "; ".join(error.messages))
    else:
        messages.success(request, f"Added {', '.join(plan.name for plan in plans)}. Adjust them as you like.")
    return _back_to_offering(provider, offering)


@login_required
@require_POST
def provider_offering_submit(request: HttpRequest, uuid, offering_uuid) -> HttpResponse:
    provider, offering = _provider_offering(request, uuid, offering_uuid)
    form = OfferingSubmitForm(request.POST)
    if form.is_valid():
        try:
            offering = offering_submit(offering=offering, actor=request.user, terms_accepted=True)
        except ApplicationError as error:
            add_service_errors(form, error)
        else:
            if offering.state == OfferingState.ACTIVE:
                messages.success(request, "Published: your listing is live in the catalogue.")
            else:
                messages.success(request, "Submitted for review. An operator will check the listing shortly.")
            return _back_to_offering(provider, offering)
    offering.refresh_from_db()
    return _render_offering(request, provider, offering, submit_form=form)


@login_required
@require_POST
def provider_offering_state(request: HttpRequest, uuid, offering_uuid, action: str) -> HttpResponse:
    provider, offering = _provider_offering(request, uuid, offering_uuid)
    if action not in STATE_ACTIONS:
        raise Http404
    service, success_message = STATE_ACTIONS[action]
    try:
        service(offering=offering, actor=request.user)
    except ApplicationError as error:
        messages.error(request, error.detail)
    else:
        messages.success(request, success_message)
    return _back_to_offering(provider, offering)


@login_required
def provider_orders(request: HttpRequest, uuid) -> HttpResponse:
    provider = _provider(request, uuid)
    orders = selectors.order_list_for_user(user=request.user).filter(offering__provider=provider)
    state = request.GET.get("state", "")
    if state in OrderState.values:
        orders = orders.filter(state=state)
    page = Paginator(orders, ORDERS_PAGE_SIZE).get_page(request.GET.get("page"))
    return render(
        request,
        "marketplace/provider_orders.html",
        {
            "provider": provider,
            "organization": provider.organization,
            "active_tab": "orders",
            "page_obj": page,
            "orders": page.object_list,
            "state": state,
            "states": OrderState.choices,
            "querystring_base": f"state={state}" if state else "",
        },
    )
