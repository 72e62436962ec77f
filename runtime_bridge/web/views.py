"""Seller pages for agents: list, create by import, details (publish, pricing, logo, versions), the
difference between two versions, analytics, and the provider's customers.

Every page is for owners and managers of the provider's organisation; anything else is a 404.
"""

from pathlib import Path

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.db import transaction
from django.db.models import Count, Q
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_POST

from cmp.charts import bar_chart
from cmp.errors import ApplicationError
from marketplace.models import OfferingState, ResourceState
from marketplace.selectors import service_provider_get_for_user
from marketplace.services.catalogue import (
    offering_pause,
    offering_publish_problems,
    offering_resume,
    offering_screenshot_add,
    offering_screenshot_remove,
    offering_submit,
    offering_update,
    plan_template_apply,
)
from runtime_bridge.flows import FlowReport
from runtime_bridge.services import InvalidFlow, flow_check, flow_import, flow_import_version
from runtime_bridge.web.forms import (
    AgentCreateForm,
    LogoForm,
    PublishForm,
    ScreenshotForm,
    VersionCreateForm,
    add_service_errors,
)
from site_agent.analytics import DEFAULT_DAYS, agent_analytics, provider_customer_list
from site_agent.diff import flow_diff
from site_agent.models import ConfigState
from site_agent.selectors import agent_get_for_user, agent_list_for_user
from site_agent.services.configs import agent_version_rollout

ACTIVE_RESOURCE_STATES = [ResourceState.OK, ResourceState.UPDATING]
ANALYTICS_WINDOWS = (7, 30, 90)
CUSTOMERS_PAGE_SIZE = 50


def _provider(request: HttpRequest, uuid):
    return service_provider_get_for_user(user=request.user, uuid=uuid, manage=True)


def _provider_agent(request: HttpRequest, uuid, agent_uuid):
    """The provider and one of its own agents; another seller's agent (or one of this user's other
    providers) is a 404."""
    provider = _provider(request, uuid)
    agent = agent_get_for_user(user=request.user, uuid=agent_uuid)
    if agent.provider_id != provider.pk:
        raise Http404
    agent.offering.provider = provider  # already loaded: spares a query in the publish checks
    return provider, agent


def _base_context(provider, active_tab: str, **extra) -> dict:
    return {"provider": provider, "organization": provider.organization, "active_tab": active_tab, **extra}


def _detail_url(provider, agent, fragment: str = "") -> str:
    url = reverse("runtime_bridge:agent-detail", args=[provider.uuid, agent.uuid])
    return f"{url}#{fragment}" if fragment else url


# --- List and create ---------------------------------------------------------------------------


@login_required
@require_GET
def agent_list(request: HttpRequest, uuid) -> HttpResponse:
    provider = _provider(request, uuid)
    agents = (
        agent_list_for_user(user=request.user)
        .filter(provider=provider)
        .defer("current_version__flow_json")
        .annotate(
            subscriber_count=Count(
                "offering__resources", filter=Q(offering__resources__state__in=ACTIVE_RESOURCE_STATES)
            )
        )
        .order_by("-created_at")
    )
    context = _base_context(provider, "agents", agents=list(agents))
    return render(request, "runtime_bridge/agent_list.html", context)


def _checked_form(form: AgentCreateForm, report: FlowReport) -> AgentCreateForm:
    """The form to show after a check. An empty name and description are filled from the flow, so the seller
    sees what import will use; a checked file's JSON moves into the paste box (browsers cannot keep a chosen
    file across pages), so "Import" imports exactly what was checked."""
    data = form.data.copy()
    raw = form.cleaned_data["raw"]
    if isinstance(raw, bytes):
        try:
            data["flow_text"] = raw.decode()
        except UnicodeDecodeError:
            data["flow_text"] = ""
    if not data.get("name", "").strip() and report.name:
        data["name"] = report.name
    if not data.get("description", "").strip() and report.description:
        data["description"] = report.description
    checked = AgentCreateForm(data)
    checked.is_valid()
    return checked


@login_required
def agent_create(request: HttpRequest, uuid) -> HttpResponse:
    """Upload or paste a Langflow export. "Check" validates and stores nothing; "Import" creates the agent."""
    provider = _provider(request, uuid)
    form = AgentCreateForm(request.POST or None, request.FILES or None)
    report, checked = None, False
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        if request.POST.get("action") == "check":
            report = flow_check(raw=data["raw"], category=data["category"])
            checked = True
            form = _checked_form(form, report)
        else:
            try:
                agent, report = flow_import(
                    provider=provider,
                    category=data["category"],
                    raw=data["raw"],
                    name=data["name"],
                    description=data["description"],
                    actor=request.user,
                )
            except InvalidFlow as error:
                report = error.report
            except ApplicationError as error:
                add_service_errors(form, error)
            else:
                messages.success(
                    request,
                    f"“{agent.name}” imported as version {agent.current_version.version}. "
                    "Add pricing and publish it when you're ready.",
                )
                return redirect(_detail_url(provider, agent))
    status = 200
    if request.method == "POST" and (not form.is_valid() or (report is not None and not report.is_valid)):
        status = 400
    context = _base_context(provider, "agents", form=form, report=report, checked=checked)
    return render(request, "runtime_bridge/agent_create.html", context, status=status)


# --- Details and the actions on it -------------------------------------------------------------


def _detail_context(
    request,
    provider,
    agent,
    *,
    version_form=None,
    version_report=None,
    logo_form=None,
    screenshot_form=None,
    publish_form=None,
) -> dict:
    offering = agent.offering
    versions = agent.version_list
    running = dict(
        agent.configs.exclude(state=ConfigState.ARCHIVED)
        .values_list("agent_version")
        .annotate(count=Count("id"))
        .order_by()
    )
    for position, version in enumerate(versions):
        version.previous = versions[position + 1] if position + 1 < len(versions) else None
        version.config_count = running.get(version.pk, 0)
    plans = list(offering.plans.filter(is_archived=False).order_by("sort_order", "price_minor", "id"))
    subscriber_count = offering.resources.filter(state__in=ACTIVE_RESOURCE_STATES).count()
    return _base_context(
        provider,
        "agents",
        agent=agent,
        offering=offering,
        current=agent.current_version,
        versions=versions,
        plans=plans,
        subscriber_count=subscriber_count,
        live_config_count=sum(running.values()),
        problems=offering_publish_problems(offering) if offering.state == OfferingState.DRAFT else {},
        version_form=version_form or VersionCreateForm(),
        version_report=version_report,
        logo_form=logo_form or LogoForm(),
        screenshots=list(offering.screenshots.all()),
        screenshot_form=screenshot_form or ScreenshotForm(),
        publish_form=publish_form or PublishForm(),
    )


def _render_detail(request, provider, agent, **forms) -> HttpResponse:
    context = _detail_context(request, provider, agent, **forms)
    return render(request, "runtime_bridge/agent_detail.html", context, status=400 if forms else 200)


@login_required
@require_GET
def agent_detail(request: HttpRequest, uuid, agent_uuid) -> HttpResponse:
    provider, agent = _provider_agent(request, uuid, agent_uuid)
    return _render_detail(request, provider, agent)


@login_required
@require_POST
def agent_publish(request: HttpRequest, uuid, agent_uuid) -> HttpResponse:
    """Submit a draft (trusted sellers go live at once) or resume a paused listing."""
    provider, agent = _provider_agent(request, uuid, agent_uuid)
    form = PublishForm(request.POST)
    form.is_valid()
    offering = agent.offering
    try:
        with transaction.atomic():
            if offering.state == OfferingState.PAUSED:
                offering = offering_resume(offering=offering, actor=request.user)
            else:
                offering = offering_submit(
                    offering=offering, actor=request.user, terms_accepted=form.cleaned_data["terms_accepted"]
                )
    except ApplicationError as error:
        if offering.state != OfferingState.DRAFT:
            messages.error(request, error.detail)
            return redirect(_detail_url(provider, agent, "listing"))
        add_service_errors(form, error)
        return _render_detail(request, provider, agent, publish_form=form)
    if offering.state == OfferingState.ACTIVE:
        messages.success(request, "Published: the agent is live in the catalogue.")
    else:
        messages.success(request, "Submitted for review. An operator will check the listing shortly.")
    return redirect(_detail_url(provider, agent, "listing"))


@login_required
@require_POST
def agent_unpublish(request: HttpRequest, uuid, agent_uuid) -> HttpResponse:
    provider, agent = _provider_agent(request, uuid, agent_uuid)
    try:
        offering_pause(offering=agent.offering, actor=request.user)
    except ApplicationError as error:
        messages.error(request, error.detail)
    else:
        messages.success(request, "Unpublished: hidden from the catalogue. Subscribers keep working.")
    return redirect(_detail_url(provider, agent, "listing"))


@login_required
@require_POST
def agent_pricing_template(request: HttpRequest, uuid, agent_uuid) -> HttpResponse:
    provider, agent = _provider_agent(request, uuid, agent_uuid)
    try:
        plans = plan_template_apply(offering=agent.offering, actor=request.user)
    except ApplicationError as error:
        messages.error(request, error.detail)
    else:
        names = ", ".join(plan.name for plan in plans)
        messages.success(request, f"Added {names} pricing. Adjust it any time.")
    return redirect(_detail_url(provider, agent, "pricing"))


@login_required
@require_POST
def agent_logo(request: HttpRequest, uuid, agent_uuid) -> HttpResponse:
    provider, agent = _provider_agent(request, uuid, agent_uuid)
    form = LogoForm(request.POST, request.FILES)
    if form.is_valid():
        logo = form.cleaned_data["logo"]
        logo.name = f"{agent.offering.slug}{Path(logo.name).suffix}"
        try:
            offering_update(offering=agent.offering, actor=request.user, data={"logo": logo})
        except ApplicationError as error:
            add_service_errors(form, error)
        else:
            messages.success(request, "Logo saved.")
            return redirect(_detail_url(provider, agent, "listing-assets"))
    agent.offering.refresh_from_db()
    return _render_detail(request, provider, agent, logo_form=form)


@login_required
@require_POST
def agent_version_create(request: HttpRequest, uuid, agent_uuid) -> HttpResponse:
    provider, agent = _provider_agent(request, uuid, agent_uuid)
    form = VersionCreateForm(request.POST, request.FILES)
    report = None
    if form.is_valid():
        try:
            version, created, _report = flow_import_version(
                agent=agent,
                raw=form.cleaned_data["raw"],
                version=form.cleaned_data["version"].strip(),
                changelog=form.cleaned_data["changelog"],
                actor=request.user,
            )
        except InvalidFlow as error:
            report = error.report
        except ApplicationError as error:
            add_service_errors(form, error)
        else:
            if created:
                messages.success(request, f"Version {version.version} added; new subscribers get it.")
            else:
                messages.info(request, f"No changes: the flow is the same as version {version.version}.")
            return redirect(_detail_url(provider, agent, "versions"))
    return _render_detail(request, provider, agent, version_form=form, version_report=report)


@login_required
@require_POST
def agent_rollout(request: HttpRequest, uuid, agent_uuid, version_uuid) -> HttpResponse:
    """Move every subscriber to one version; their flows are redeployed in the background."""
    provider, agent = _provider_agent(request, uuid, agent_uuid)
    version = next((version for version in agent.version_list if version.uuid == version_uuid), None)
    if version is None:
        raise Http404
    moved = agent_version_rollout(version=version, actor=request.user)
    if moved:
        messages.success(
            request,
            f"Moving {len(moved)} subscriber{'s' if len(moved) != 1 else ''} to version {version.version}. "
            "Each keeps answering with its previous version until the new one is deployed.",
        )
    else:
        messages.info(request, f"Every subscriber already runs version {version.version}.")
    return redirect(_detail_url(provider, agent, "versions"))


@login_required
@require_GET
def agent_compare(request: HttpRequest, uuid, agent_uuid) -> HttpResponse:
    """What changed between two versions; by default the current one against the one before it."""
    provider, agent = _provider_agent(request, uuid, agent_uuid)
    versions = agent.version_list
    by_uuid = {str(version.uuid): version for version in versions}
    current = next((version for version in versions if version.pk == agent.current_version_id), None)
    newer = by_uuid.get(request.GET.get("to", "")) or current or (versions[0] if versions else None)
    older = by_uuid.get(request.GET.get("from", ""))
    if older is None and newer is not None:
        older = next((version for version in versions if version.created_at < newer.created_at), None)
    diff = None
    if older is not None and newer is not None and older.pk != newer.pk:
        flows = dict(agent.versions.filter(pk__in=[older.pk, newer.pk]).values_list("pk", "flow_json"))
        diff = flow_diff(flows[older.pk], flows[newer.pk])
    context = _base_context(
        provider, "agents", agent=agent, versions=versions, older=older, newer=newer, diff=diff
    )
    return render(request, "runtime_bridge/agent_compare.html", context)


# --- Analytics and customers -------------------------------------------------------------------


def _window(request: HttpRequest) -> int:
    try:
        days = int(request.GET.get("days", DEFAULT_DAYS))
    except ValueError:
        return DEFAULT_DAYS
    return days if days in ANALYTICS_WINDOWS else DEFAULT_DAYS


def _chart_summary(analytics) -> str:
    """The chart in one sentence, for screen readers."""
    busiest = max(analytics.calls_per_day, key=lambda point: point.api_calls, default=None)
    text = (
        f"{analytics.api_calls:,} API calls from {analytics.start:%b %-d} to {analytics.end:%b %-d, %Y}"
        f" over {analytics.days} days."
    )
    if busiest is not None and busiest.api_calls:
        text += f" Busiest day: {busiest.day:%b %-d} with {busiest.api_calls:,} calls."
    return text


@login_required
@require_GET
def agent_analytics_page(request: HttpRequest, uuid, agent_uuid) -> HttpResponse:
    provider, agent = _provider_agent(request, uuid, agent_uuid)
    analytics = agent_analytics(agent=agent, days=_window(request))
    chart = bar_chart(
        [
            (point.day.strftime("%b %-d"), point.day.strftime("%a %b %-d, %Y"), point.api_calls)
            for point in analytics.calls_per_day
        ]
    )
    context = _base_context(
        provider,
        "agents",
        agent=agent,
        analytics=analytics,
        chart=chart,
        chart_summary=_chart_summary(analytics),
        windows=ANALYTICS_WINDOWS,
    )
    return render(request, "runtime_bridge/agent_analytics.html", context)


@login_required
@require_GET
def provider_customers(request: HttpRequest, uuid) -> HttpResponse:
    provider = _provider(request, uuid)
    show_all = request.GET.get("show") == "all"
    customers = provider_customer_list(provider=provider)
    if not show_all:
        customers = customers.exclude(state=ResourceState.TERMINATED)
    page = Paginator(customers, CUSTOMERS_PAGE_SIZE).get_page(request.GET.get("page"))
    context = _base_context(
        provider,
        "customers",
        page_obj=page,
        customers=page.object_list,
        show_all=show_all,
        querystring_base="show=all" if show_all else "",
    )
    return render(request, "runtime_bridge/provider_customers.html", context)


@login_required
@require_POST
def agent_screenshot_add(request: HttpRequest, uuid, agent_uuid) -> HttpResponse:
    provider, agent = _provider_agent(request, uuid, agent_uuid)
    form = ScreenshotForm(request.POST, request.FILES)
    if form.is_valid():
        try:
            offering_screenshot_add(
                offering=agent.offering,
                image=form.cleaned_data["image"],
                caption=form.cleaned_data["caption"],
                actor=request.user,
            )
        except ApplicationError as error:
            add_service_errors(form, error)
        else:
            messages.success(request, "Screenshot added.")
            return redirect(_detail_url(provider, agent, "listing-assets"))
    return _render_detail(request, provider, agent, screenshot_form=form)


@login_required
@require_POST
def agent_screenshot_remove(request: HttpRequest, uuid, agent_uuid, screenshot_uuid) -> HttpResponse:
    provider, agent = _provider_agent(request, uuid, agent_uuid)
    screenshot = get_object_or_404(agent.offering.screenshots, uuid=screenshot_uuid)
    offering_screenshot_remove(screenshot=screenshot, actor=request.user)
    messages.success(request, "Screenshot removed.")
    return redirect(_detail_url(provider, agent, "listing-assets"))
