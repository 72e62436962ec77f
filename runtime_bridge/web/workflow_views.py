"""The buyer's automations pages, the Automations tab of an agent's workspace:
/organizations/<org>/agents/<agent>/automations/ (list and create) and one page per automation (edit, run
now, webhook secret, run history).

Access as in the agent workspace: members look, owners and managers (and operators) change (403 for a
member), another organisation's agent is a 404, and so is an agent whose offering has no scheduling.
"""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_http_methods, require_POST

from cmp.errors import ApplicationError
from runtime_bridge import workflows
from runtime_bridge.models import Workflow
from runtime_bridge.web.workflow_forms import WorkflowForm
from site_agent.web.views import agent_workspace

RUNS_PER_PAGE = 25


class _Page:
    """The agent's workspace (its tabs, with Automations active) and whether the viewer may change things."""

    def __init__(self, request: HttpRequest, organization_uuid, config_uuid, *, change: bool = False):
        self.workspace = agent_workspace(
            request, organization_uuid, config_uuid, tab="automations", change=change
        )
        self.organization = self.workspace.organization
        self.config = self.workspace.config
        self.can_manage = self.workspace.can_manage
        self.can_edit = self.workspace.can_edit

    def context(self, **extra) -> dict:
        return {
            "organization": self.organization,
            "config": self.config,
            "workspace": self.workspace,
            "can_edit": self.can_edit,
            "can_manage": self.can_manage,
            "active_tab": "agents",
            **extra,
        }

    def list_url(self) -> str:
        return reverse("runtime_bridge:workflows", args=[self.organization.uuid, self.config.uuid])

    def detail_url(self, workflow: Workflow) -> str:
        return reverse(
            "runtime_bridge:workflow-detail", args=[self.organization.uuid, self.config.uuid, workflow.uuid]
        )


def _add_service_errors(form: WorkflowForm, error: ApplicationError) -> None:
    placed = False
    for field, field_messages in error.errors.items():
        name = WorkflowForm.FIELD_MAP.get(field, field)
        for message in field_messages:
            form.add_error(name if name in form.fields else None, message)
            placed = True
    if not placed:
        form.add_error(None, error.detail)


@login_required
@require_http_methods(["GET", "POST"])
def workflow_list(request: HttpRequest, organization_uuid, config_uuid) -> HttpResponse:
    """The agent's automations; a POST creates one and shows its webhook secret once."""
    page = _Page(request, organization_uuid, config_uuid, change=request.method == "POST")
    form = WorkflowForm(request.POST or None)
    status = 200
    if request.method == "POST":
        if form.is_valid():
            try:
                workflow, secret = workflows.workflow_create(
                    config=page.config, actor=request.user, **form.service_data()
                )
            except ApplicationError as error:
                _add_service_errors(form, error)
            else:
                return _detail(request, page, workflow, new_secret=secret, status=201)
        status = 400
    items = list(workflows.workflow_list_for_config(config=page.config))
    return render(
        request,
        "runtime_bridge/workflows.html",
        page.context(workflows=items, form=form),
        status=status,
    )


def _detail(
    request, page: _Page, workflow: Workflow, *, form=None, new_secret: str = "", status: int = 200
) -> HttpResponse:
    runs = Paginator(workflows.workflow_run_list(workflow=workflow), RUNS_PER_PAGE).get_page(
        request.GET.get("page")
    )
    return render(
        request,
        "runtime_bridge/workflow_detail.html",
        page.context(
            workflow=workflow,
            form=form or WorkflowForm(initial=WorkflowForm.initial_for(workflow)),
            runs=runs,
            page_obj=runs,
            new_secret=new_secret,
            trigger_url=workflows.workflow_trigger_url(workflow),
        ),
        status=status,
    )


@login_required
@require_http_methods(["GET", "POST"])
def workflow_detail(request: HttpRequest, organization_uuid, config_uuid, workflow_uuid) -> HttpResponse:
    """One automation: its settings (a POST saves them) and its run history."""
    page = _Page(request, organization_uuid, config_uuid, change=request.method == "POST")
    workflow = workflows.workflow_get_for_config(config=page.config, uuid=workflow_uuid)
    if request.method != "POST":
        return _detail(request, page, workflow)
    form = WorkflowForm(request.POST)
    if form.is_valid():
        try:
            workflows.workflow_update(workflow=workflow, actor=request.user, data=form.service_data())
        except ApplicationError as error:
            _add_service_errors(form, error)
        else:
            messages.success(request, "Automation saved.")
            return redirect(page.detail_url(workflow))
    return _detail(request, page, workflow, form=form, status=400)


@login_required
@require_POST
def workflow_run(request: HttpRequest, organization_uuid, config_uuid, workflow_uuid) -> HttpResponse:
    page = _Page(request, organization_uuid, config_uuid, change=True)
    workflow = workflows.workflow_get_for_config(config=page.config, uuid=workflow_uuid)
    try:
        workflows.workflow_run_now(workflow=workflow, actor=request.user)
    except ApplicationError as error:
        messages.error(request, error.detail)
    else:
        messages.success(request, "Run queued; it appears in the history below.")
    return redirect(page.detail_url(workflow))


@login_required
@require_POST
def workflow_rotate_secret(
    request: HttpRequest, organization_uuid, config_uuid, workflow_uuid
) -> HttpResponse:
    page = _Page(request, organization_uuid, config_uuid, change=True)
    workflow = workflows.workflow_get_for_config(config=page.config, uuid=workflow_uuid)
    workflow, secret = workflows.workflow_rotate_secret(workflow=workflow, actor=request.user)
    return _detail(request, page, workflow, new_secret=secret)


@login_required
@require_POST
def workflow_delete(request: HttpRequest, organization_uuid, config_uuid, workflow_uuid) -> HttpResponse:
    page = _Page(request, organization_uuid, config_uuid, change=True)
    workflow = workflows.workflow_get_for_config(config=page.config, uuid=workflow_uuid)
    workflows.workflow_delete(workflow=workflow, actor=request.user)
    messages.success(request, f"Automation “{workflow.name}” deleted.")
    return redirect(page.list_url())
