"""The buyer's agent workspace: /organizations/<org>/agents/ and, per agent, overview, persona, training,
branding, API keys, widget, usage and integrations (webhooks); the Automations tab is runtime_bridge's.

Access: members of the organisation see every page; owners and managers (and operators) change things,
members get 403 on a change; another organisation's agent is a 404. An archived (cancelled) agent is
read-only for everyone. The offering's capabilities decide which pages exist: a page for a capability
the offering lacks is a 404 too.
"""

from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.forms import Form
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from cmp.charts import bar_chart, short_number
from cmp.errors import ApplicationError
from marketplace import selectors as marketplace_selectors
from marketplace.models import Capability, Organization
from marketplace_ai import selectors as knowledge_selectors
from marketplace_ai.web.forms import DocumentFileForm, DocumentQAForm, DocumentUrlForm, SearchForm
from site_agent import selectors
from site_agent.models import ConfigState, CustomerAgentConfig, DeploymentState
from site_agent.services.api_keys import api_key_create, api_key_revoke, api_key_rotate
from site_agent.services.configs import config_change_version, config_set_logo, config_update
from site_agent.services.webhooks import (
    EVENT_CHOICES,
    webhook_endpoint_create,
    webhook_endpoint_delete,
    webhook_endpoint_rotate_secret,
    webhook_endpoint_set_active,
    webhook_endpoint_update,
    webhook_redeliver,
)
from site_agent.web.forms import (
    ApiKeyCreateForm,
    BrandingForm,
    PersonaForm,
    WebhookEndpointForm,
)

USAGE_DAYS = 30
DELIVERY_LOG_SIZE = 50
PERSONA_FIELDS = ("agent_name", "greeting", "system_prompt", "tone", "language")
BRANDING_FIELDS = ("primary_colour", "widget_position", "theme", "allowed_domains")


@dataclass(frozen=True)
class Tab:
    slug: str
    label: str
    url_name: str
    capability: str | None = None


TABS = [
    Tab("overview", "Overview", "site_agent:agent-overview"),
    Tab("persona", "Persona", "site_agent:agent-persona", Capability.PERSONA),
    Tab("training", "Training", "site_agent:agent-training", Capability.KNOWLEDGE_BASE),
    Tab("branding", "Branding", "site_agent:agent-branding", Capability.BRANDING),
    Tab("keys", "API keys", "site_agent:agent-keys", Capability.API),
    Tab("widget", "Widget", "site_agent:agent-widget", Capability.CHAT),
    Tab("usage", "Usage", "site_agent:agent-usage"),
    Tab("integrations", "Integrations", "site_agent:agent-integrations", Capability.INTEGRATIONS),
    # The automations pages live with the runtime (runtime_bridge) and render inside this layout.
    Tab("automations", "Automations", "runtime_bridge:workflows", Capability.SCHEDULING),
]
TAB_BY_SLUG = {tab.slug: tab for tab in TABS}


@dataclass
class Workspace:
    """What every agent page needs: who is looking, at which agent, and what they may do there."""

    organization: Organization
    config: CustomerAgentConfig
    can_manage: bool  # owner, manager or operator
    tabs: list[dict]

    @property
    def can_edit(self) -> bool:
        return self.can_manage and not self.config.is_read_only


def _tab_available(tab: Tab, config: CustomerAgentConfig) -> bool:
    if tab.capability and not config.resource.offering.has_capability(tab.capability):
        return False
    return not (tab.slug == "training" and config.knowledge_base_id is None)


def agent_workspace(request: HttpRequest, organization_uuid, config_uuid, *, tab: str, change: bool = False):
    """The workspace of one agent, or 404 (not visible, or a page its offering does not have); 403 when
    `change` is asked by a member who only looks, or on an archived agent. Pages of other apps that sit
    among the agent's tabs (automations) use it too."""
    organization = marketplace_selectors.organization_get_for_user(user=request.user, uuid=organization_uuid)
    config = selectors.config_get_for_organization(organization=organization, uuid=config_uuid)
    if not _tab_available(TAB_BY_SLUG[tab], config):
        raise Http404
    can_manage = marketplace_selectors.user_can_manage(user=request.user, organization=organization)
    tabs = [
        {
            "slug": item.slug,
            "label": item.label,
            "url": reverse(item.url_name, args=[organization.uuid, config.uuid]),
            "is_active": item.slug == tab,
        }
        for item in TABS
        if _tab_available(item, config)
    ]
    workspace = Workspace(organization=organization, config=config, can_manage=can_manage, tabs=tabs)
    if change and not workspace.can_edit:
        reason = (
            "This agent was cancelled; it is read-only."
            if config.is_read_only
            else ("Only the organisation's owners and managers change agents.")
        )
        raise PermissionDenied(reason)
    return workspace


def _render(request, template: str, workspace: Workspace, context: dict | None = None, status: int = 200):
    return render(
        request,
        template,
        {
            "organization": workspace.organization,
            "config": workspace.config,
            "workspace": workspace,
            "active_tab": "agents",
            **(context or {}),
        },
        status=status,
    )


def _page_url(workspace: Workspace, url_name: str) -> str:
    return reverse(f"site_agent:{url_name}", args=[workspace.organization.uuid, workspace.config.uuid])


def _add_service_errors(form: Form, error: ApplicationError, field_map: dict | None = None) -> None:
    """A service's per-field errors on the form's fields; the rest above the form."""
    placed = False
    for field, field_messages in error.errors.items():
        name = (field_map or {}).get(field, field)
        for message in field_messages:
            form.add_error(name if name in form.fields else None, message)
            placed = True
    if not placed:
        form.add_error(None, error.detail)


# --- The list and the overview -------------------------------------------------------------------


@login_required
@require_GET
def agent_list(request: HttpRequest, organization_uuid) -> HttpResponse:
    organization = marketplace_selectors.organization_get_for_user(user=request.user, uuid=organization_uuid)
    configs = list(selectors.config_list_for_organization(organization=organization))
    return render(
        request,
        "site_agent/agent_list.html",
        {
            "organization": organization,
            "configs": configs,
            "active_tab": "agents",
        },
    )


def _setup_steps(config: CustomerAgentConfig) -> list[dict]:
    deployed = config.deployment_state == DeploymentState.DEPLOYED
    failed = config.deployment_state == DeploymentState.FAILED
    return [
        {"label": "Subscription confirmed", "is_done": True, "is_current": False},
        {
            "label": "Agent deployed" if not failed else "Deploying (retrying)",
            "is_done": deployed,
            "is_current": not deployed,
        },
        {"label": "Live", "is_done": deployed, "is_current": False},
    ]


def _overview_status_context(workspace: Workspace) -> dict:
    config = workspace.config
    return {
        "setup_steps": _setup_steps(config),
        "is_setting_up": config.state != ConfigState.ARCHIVED
        and config.deployment_state in (DeploymentState.PENDING, DeploymentState.FAILED),
    }


@login_required
@require_GET
def agent_overview(request: HttpRequest, organization_uuid, config_uuid) -> HttpResponse:
    workspace = agent_workspace(request, organization_uuid, config_uuid, tab="overview")
    config = workspace.config
    usage = selectors.config_usage_summary(config=config, days=USAGE_DAYS)
    links = [
        tab for tab in workspace.tabs if tab["slug"] in ("persona", "branding", "keys", "widget", "usage")
    ]
    return _render(
        request,
        "site_agent/agent_overview.html",
        workspace,
        {
            "usage": usage,
            "plan": config.resource.plan,
            "quick_links": links,
            "newer_version": selectors.config_newer_version(config=config) if workspace.can_edit else None,
            **_overview_status_context(workspace),
        },
    )


@login_required
@require_POST
def agent_version_update(request: HttpRequest, organization_uuid, config_uuid) -> HttpResponse:
    """Move the agent to the seller's current version; the flow is redeployed in the background."""
    workspace = agent_workspace(request, organization_uuid, config_uuid, tab="overview", change=True)
    version = selectors.config_newer_version(config=workspace.config)
    if version is None:
        messages.info(request, "Your agent already runs the latest version.")
        return redirect(_page_url(workspace, "agent-overview"))
    try:
        config_change_version(config=workspace.config, version=version, actor=request.user)
    except ApplicationError as error:
        messages.error(request, error.detail)
    else:
        messages.success(
            request,
            f"Updating to version {version.version}. Your agent keeps answering with the previous version "
            "until the new one is deployed, in a moment.",
        )
    return redirect(_page_url(workspace, "agent-overview"))


@login_required
@require_GET
def agent_status(request: HttpRequest, organization_uuid, config_uuid) -> HttpResponse:
    """The deployment status block alone: polled by the overview while the agent is being set up."""
    workspace = agent_workspace(request, organization_uuid, config_uuid, tab="overview")
    return _render(
        request, "site_agent/includes/deployment_status.html", workspace, _overview_status_context(workspace)
    )


# --- Persona and branding ------------------------------------------------------------------------


@login_required
@require_http_methods(["GET", "POST"])
def agent_persona(request: HttpRequest, organization_uuid, config_uuid) -> HttpResponse:
    workspace = agent_workspace(
        request, organization_uuid, config_uuid, tab="persona", change=request.method == "POST"
    )
    config = workspace.config
    initial = {field: getattr(config, field) for field in PERSONA_FIELDS}
    form = PersonaForm(request.POST or None, initial=initial, current_language=config.language)
    if request.method == "POST":
        if form.is_valid():
            try:
                config_update(config=config, actor=request.user, data=dict(form.cleaned_data))
            except ApplicationError as error:
                _add_service_errors(form, error)
            else:
                messages.success(request, "Persona saved. New conversations use it at once.")
                return redirect(_page_url(workspace, "agent-persona"))
        config.refresh_from_db()
    status = 400 if form.errors else 200
    return _render(request, "site_agent/agent_persona.html", workspace, {"form": form}, status=status)


@login_required
@require_http_methods(["GET", "POST"])
def agent_branding(request: HttpRequest, organization_uuid, config_uuid) -> HttpResponse:
    workspace = agent_workspace(
        request, organization_uuid, config_uuid, tab="branding", change=request.method == "POST"
    )
    config = workspace.config
    initial = {field: getattr(config, field) for field in BRANDING_FIELDS}
    initial["allowed_domains"] = "\n".join(config.allowed_domains)
    form = BrandingForm(request.POST or None, request.FILES or None, initial=initial)
    if request.method == "POST":
        if form.is_valid():
            data = {field: form.cleaned_data[field] for field in BRANDING_FIELDS}
            try:
                with transaction.atomic():
                    config = config_update(config=config, actor=request.user, data=data)
                    if form.cleaned_data["logo"]:
                        config_set_logo(config=config, actor=request.user, logo=form.cleaned_data["logo"])
                    elif form.cleaned_data["remove_logo"] and config.logo:
                        config_set_logo(config=config, actor=request.user, logo="")
            except ApplicationError as error:
                _add_service_errors(form, error)
            else:
                messages.success(request, "Branding saved. The widget picks it up on its next load.")
                return redirect(_page_url(workspace, "agent-branding"))
        config.refresh_from_db()
    status = 400 if form.errors else 200
    return _render(request, "site_agent/agent_branding.html", workspace, {"form": form}, status=status)


# --- Training (the knowledge pages' pieces) -----------------------------------------------------


@login_required
@require_GET
def agent_training(request: HttpRequest, organization_uuid, config_uuid) -> HttpResponse:
    workspace = agent_workspace(request, organization_uuid, config_uuid, tab="training")
    knowledge_base = workspace.config.knowledge_base
    documents = list(knowledge_selectors.document_list_for_knowledge_base(knowledge_base=knowledge_base))
    return _render(
        request,
        "site_agent/agent_training.html",
        workspace,
        {
            "knowledge_base": knowledge_base,
            "documents": documents,
            "documents_in_progress": knowledge_selectors.documents_in_progress(documents),
            # The knowledge views check roles themselves; here "manage" also means the agent is not archived.
            "can_manage": workspace.can_edit,
            "file_form": DocumentFileForm(),
            "qa_form": DocumentQAForm(),
            "url_form": DocumentUrlForm(),
            "search_form": SearchForm(),
            "results": None,
            "next_url": request.path,
        },
    )


# --- API keys ------------------------------------------------------------------------------------


def _keys_page(
    request, workspace: Workspace, *, form=None, new_key: str = "", new_key_name: str = "", status: int = 200
) -> HttpResponse:
    keys = list(selectors.api_key_list_for_config(config=workspace.config))
    now = timezone.now()
    for api_key in keys:
        api_key.is_expired = api_key.expires_at is not None and api_key.expires_at <= now
        api_key.is_usable = api_key.revoked_at is None and not api_key.is_expired
    response = _render(
        request,
        "site_agent/agent_keys.html",
        workspace,
        {
            "form": form or ApiKeyCreateForm(),
            "keys": keys,
            "new_key": new_key,
            "new_key_name": new_key_name,
            "api_base": settings.SITE_URL,
        },
        status=status,
    )
    response["Cache-Control"] = "no-store"
    return response


@never_cache
@login_required
@require_http_methods(["GET", "POST"])
def agent_keys(request: HttpRequest, organization_uuid, config_uuid) -> HttpResponse:
    """List keys; a POST creates one and shows it in this response only (never stored, never cached)."""
    workspace = agent_workspace(
        request, organization_uuid, config_uuid, tab="keys", change=request.method == "POST"
    )
    if request.method != "POST":
        return _keys_page(request, workspace)
    form = ApiKeyCreateForm(request.POST)
    if form.is_valid():
        days = form.cleaned_data["expires_in_days"]
        expires_at = timezone.now() + timedelta(days=days) if days else None
        try:
            api_key, plaintext = api_key_create(
                config=workspace.config,
                name=form.cleaned_data["name"],
                actor=request.user,
                expires_at=expires_at,
            )
        except ApplicationError as error:
            _add_service_errors(form, error)
        else:
            return _keys_page(request, workspace, new_key=plaintext, new_key_name=api_key.name)
    return _keys_page(request, workspace, form=form, status=400)


@never_cache
@login_required
@require_POST
def agent_key_rotate(request: HttpRequest, organization_uuid, config_uuid, key_uuid) -> HttpResponse:
    workspace = agent_workspace(request, organization_uuid, config_uuid, tab="keys", change=True)
    api_key = selectors.api_key_get_for_config(config=workspace.config, uuid=key_uuid)
    try:
        new_key, plaintext = api_key_rotate(api_key=api_key, actor=request.user)
    except ApplicationError as error:
        messages.error(request, error.detail)
        return redirect(_page_url(workspace, "agent-keys"))
    return _keys_page(request, workspace, new_key=plaintext, new_key_name=new_key.name)


@login_required
@require_POST
def agent_key_revoke(request: HttpRequest, organization_uuid, config_uuid, key_uuid) -> HttpResponse:
    workspace = agent_workspace(request, organization_uuid, config_uuid, tab="keys", change=True)
    api_key = selectors.api_key_get_for_config(config=workspace.config, uuid=key_uuid)
    try:
        api_key_revoke(api_key=api_key, actor=request.user)
    except ApplicationError as error:
        messages.error(request, error.detail)
    else:
        messages.success(request, f"Key “{api_key.name}” revoked. Requests with it are refused from now on.")
    return redirect(_page_url(workspace, "agent-keys"))


# --- Widget and usage -----------------------------------------------------------------------------


def is_light_colour(hex_colour: str) -> bool:
    """Whether dark text reads better than white on this #RRGGBB colour (WCAG relative luminance)."""
    channels = [int(hex_colour[index : index + 2], 16) / 255 for index in (1, 3, 5)]
    linear = [c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4 for c in channels]
    luminance = 0.2126 * linear[0] + 0.7152 * linear[1] + 0.0722 * linear[2]
    # White text contrast (1.05 / (L + 0.05)) against black text contrast ((L + 0.05) / 0.05).
    return (luminance + 0.05) / 0.05 > 1.05 / (luminance + 0.05)


@login_required
@require_GET
def agent_widget(request: HttpRequest, organization_uuid, config_uuid) -> HttpResponse:
    workspace = agent_workspace(request, organization_uuid, config_uuid, tab="widget")
    config = workspace.config
    embed_code = selectors.config_embed_code(config=config)
    branding_tab = next((tab for tab in workspace.tabs if tab["slug"] == "branding"), None)
    return _render(
        request,
        "site_agent/agent_widget.html",
        workspace,
        {
            "embed_code": embed_code,
            "branding_url": branding_tab["url"] if branding_tab else "",
            "light_colour": is_light_colour(config.primary_colour),
        },
    )


def _chart_description(points: list[tuple[str, str, int]], unit: str) -> str:
    total = sum(value for _, _, value in points)
    busiest = max(points, key=lambda point: point[2], default=None)
    if not total or busiest is None:
        return f"No {unit} in the last {len(points)} days."
    return (
        f"{total:,} {unit} in the last {len(points)} days; the busiest day was {busiest[1]} "
        f"with {busiest[2]:,}."
    )


@login_required
@require_GET
def agent_usage(request: HttpRequest, organization_uuid, config_uuid) -> HttpResponse:
    workspace = agent_workspace(request, organization_uuid, config_uuid, tab="usage")
    usage = selectors.config_usage_summary(config=workspace.config, days=USAGE_DAYS)
    call_points = [
        (f"{day.day:%b} {day.day.day}", f"{day.day:%a %b} {day.day.day}", day.api_calls) for day in usage.days
    ]
    token_points = [
        (
            f"{day.day:%b} {day.day.day}",
            f"{day.day:%a %b} {day.day.day}",
            day.tokens_input + day.tokens_output,
        )
        for day in usage.days
    ]
    return _render(
        request,
        "site_agent/agent_usage.html",
        workspace,
        {
            "usage": usage,
            "plan": workspace.config.resource.plan,
            "calls_chart": bar_chart(call_points, unit="calls"),
            "tokens_chart": bar_chart(token_points, unit="tokens"),
            "calls_total": sum(day.api_calls for day in usage.days),
            "tokens_total": sum(day.tokens_input + day.tokens_output for day in usage.days),
            "calls_description": _chart_description(call_points, "API calls"),
            "tokens_description": _chart_description(token_points, "tokens"),
            "days_reversed": list(reversed(usage.days)),
            "short_number": short_number,
        },
    )


@login_required
@require_GET
def agent_scheduling(request: HttpRequest, organization_uuid, config_uuid) -> HttpResponse:
    """The tab's former address: the automations page now sits among the tabs."""
    workspace = agent_workspace(request, organization_uuid, config_uuid, tab="automations")
    return redirect("runtime_bridge:workflows", workspace.organization.uuid, workspace.config.uuid)


# --- Integrations (outgoing webhooks) ------------------------------------------------------------


def _integrations_page(
    request, workspace: Workspace, *, form=None, new_secret: str = "", secret_endpoint=None, status: int = 200
) -> HttpResponse:
    config = workspace.config
    endpoints = list(selectors.webhook_endpoint_list_for_config(config=config))
    for endpoint in endpoints:
        endpoint.edit_form = WebhookEndpointForm(
            initial={"url": endpoint.url, "events": endpoint.events}, prefix=f"edit-{endpoint.uuid}"
        )
    response = _render(
        request,
        "site_agent/agent_integrations.html",
        workspace,
        {
            "form": form or WebhookEndpointForm(initial={"events": [value for value, _ in EVENT_CHOICES]}),
            "endpoints": endpoints,
            "deliveries": list(selectors.webhook_delivery_list_for_config(config=config)[:DELIVERY_LOG_SIZE]),
            "event_labels": dict(EVENT_CHOICES),
            "new_secret": new_secret,
            "secret_endpoint": secret_endpoint,
        },
        status=status,
    )
    response["Cache-Control"] = "no-store"
    return response


@never_cache
@login_required
@require_http_methods(["GET", "POST"])
def agent_integrations(request: HttpRequest, organization_uuid, config_uuid) -> HttpResponse:
    """Webhook endpoints and the delivery log; a POST registers an endpoint and shows its secret once."""
    workspace = agent_workspace(
        request, organization_uuid, config_uuid, tab="integrations", change=request.method == "POST"
    )
    if request.method != "POST":
        return _integrations_page(request, workspace)
    form = WebhookEndpointForm(request.POST)
    if form.is_valid():
        try:
            endpoint, secret = webhook_endpoint_create(
                config=workspace.config,
                url=form.cleaned_data["url"],
                events=form.cleaned_data["events"],
                actor=request.user,
            )
        except ApplicationError as error:
            _add_service_errors(form, error)
        else:
            return _integrations_page(request, workspace, new_secret=secret, secret_endpoint=endpoint)
    return _integrations_page(request, workspace, form=form, status=400)


def _endpoint(request, organization_uuid, config_uuid, endpoint_uuid):
    workspace = agent_workspace(request, organization_uuid, config_uuid, tab="integrations", change=True)
    return workspace, selectors.webhook_endpoint_get_for_config(config=workspace.config, uuid=endpoint_uuid)


@login_required
@require_POST
def webhook_update(request: HttpRequest, organization_uuid, config_uuid, endpoint_uuid) -> HttpResponse:
    workspace, endpoint = _endpoint(request, organization_uuid, config_uuid, endpoint_uuid)
    form = WebhookEndpointForm(request.POST, prefix=f"edit-{endpoint.uuid}")
    if form.is_valid():
        try:
            webhook_endpoint_update(
                endpoint=endpoint,
                actor=request.user,
                url=form.cleaned_data["url"],
                events=form.cleaned_data["events"],
            )
        except ApplicationError as error:
            _add_service_errors(form, error)
        else:
            messages.success(request, "Endpoint saved.")
            return redirect(_page_url(workspace, "agent-integrations"))
    problems = [
        f"{form.fields[field].label if field in form.fields else 'Endpoint'}: {message}"
        for field, errors in form.errors.items()
        for message in errors
    ]
    messages.error(request, "The endpoint was not changed. " + " ".join(problems))
    return redirect(_page_url(workspace, "agent-integrations"))


@never_cache
@login_required
@require_POST
def webhook_rotate_secret(
    request: HttpRequest, organization_uuid, config_uuid, endpoint_uuid
) -> HttpResponse:
    workspace, endpoint = _endpoint(request, organization_uuid, config_uuid, endpoint_uuid)
    try:
        endpoint, secret = webhook_endpoint_rotate_secret(endpoint=endpoint, actor=request.user)
    except ApplicationError as error:
        messages.error(request, error.detail)
        return redirect(_page_url(workspace, "agent-integrations"))
    return _integrations_page(request, workspace, new_secret=secret, secret_endpoint=endpoint)


@login_required
@require_POST
def webhook_toggle(request: HttpRequest, organization_uuid, config_uuid, endpoint_uuid) -> HttpResponse:
    workspace, endpoint = _endpoint(request, organization_uuid, config_uuid, endpoint_uuid)
    enable = request.POST.get("active") == "yes"
    try:
        webhook_endpoint_set_active(endpoint=endpoint, actor=request.user, is_active=enable)
    except ApplicationError as error:
        messages.error(request, error.detail)
    else:
        messages.success(
            request, "Endpoint enabled." if enable else "Endpoint disabled; nothing is sent to it."
        )
    return redirect(_page_url(workspace, "agent-integrations"))


@login_required
@require_POST
def webhook_delete(request: HttpRequest, organization_uuid, config_uuid, endpoint_uuid) -> HttpResponse:
    workspace, endpoint = _endpoint(request, organization_uuid, config_uuid, endpoint_uuid)
    try:
        webhook_endpoint_delete(endpoint=endpoint, actor=request.user)
    except ApplicationError as error:
        messages.error(request, error.detail)
    else:
        messages.success(request, "Endpoint deleted with its delivery log.")
    return redirect(_page_url(workspace, "agent-integrations"))


@login_required
@require_POST
def webhook_delivery_redeliver(
    request: HttpRequest, organization_uuid, config_uuid, delivery_uuid
) -> HttpResponse:
    workspace = agent_workspace(request, organization_uuid, config_uuid, tab="integrations", change=True)
    delivery = selectors.webhook_delivery_get_for_config(config=workspace.config, uuid=delivery_uuid)
    try:
        webhook_redeliver(delivery=delivery, actor=request.user)
    except ApplicationError as error:
        messages.error(request, error.detail)
    else:
        messages.success(request, f"The {delivery.event} event is being sent again.")
    return redirect(_page_url(workspace, "agent-integrations"))
