"""Importing Langflow flows as agents: validation, secret stripping, then the site_agent services."""

import uuid

from django.db import transaction

from cmp.errors import ApplicationError
from marketplace.models import Category, ServiceProvider
from runtime_bridge.flows import FlowReport, Problem, validate_flow
from runtime_bridge.runtime_client import (
    RuntimeRejected,
    RuntimeUnavailable,
    get_runtime_client,
    runtime_is_configured,
)
from site_agent.models import AgentIdentity, AgentVersion
from site_agent.services.agents import FlowContent, agent_create, agent_version_add

CHAT_CATEGORIES = {"agents", "assistants"}


class InvalidFlow(ApplicationError):
    """The upload is not an importable Langflow flow; `errors["flow"]` lists each problem."""

    default_code = "invalid_flow"

    def __init__(self, report: FlowReport):
        super().__init__(
            f"The flow has {len(report.problems)} problem(s).",
            errors={"flow": [problem.as_dict() for problem in report.problems]},
        )
        self.report = report


def flow_check(*, raw, category: Category) -> FlowReport:
    """Validate without storing anything (the seller's "check" button), then try it on the runtime."""
    report = validate_flow(raw, requires_chat=category.slug in CHAT_CATEGORIES)
    if report.is_valid and runtime_is_configured():
        _dry_run_deploy(report)
    return report


def _dry_run_deploy(report: FlowReport) -> None:
    """Load the flow into the runtime under a throw-away id and remove it: components it cannot load are
    problems. An unreachable runtime does not block an import; the seller is told it was not checked."""
    flow_id = str(uuid.uuid4())
    try:
        with get_runtime_client(attempts=1) as runtime:
            runtime.deploy_flow(report.flow, flow_id=flow_id, name=f"cmp-dry-run-{flow_id}")
            runtime.delete_flow(flow_id)
    except RuntimeRejected as error:
        report.problems.append(Problem("runtime_cannot_load", error.detail))
        report.flow = None
    except RuntimeUnavailable as error:
        report.warnings.append(Problem("runtime_not_checked", f"Not tried on the runtime: {error.detail}"))


def _content(report: FlowReport) -> FlowContent:
    return FlowContent(
        flow_json=report.flow,
        sha256=report.sha256,
        node_count=report.node_count,
        edge_count=report.edge_count,
        component_types=report.component_types,
        required_variables=report.required_variables,
        langflow_version=report.langflow_version,
        source_flow_id=report.source_flow_id,
    )


@transaction.atomic
def flow_import(
    *,
    provider: ServiceProvider,
    category: Category,
    raw,
    actor,
    name: str = "",
    description: str = "",
    summary: str = "",
) -> tuple[AgentIdentity, FlowReport]:
    """Studio export -> agent + first version + draft offering. An invalid flow changes nothing."""
    report = flow_check(raw=raw, category=category)
    if not report.is_valid:
        raise InvalidFlow(report)
    agent = agent_create(
        provider=provider,
        category=category,
        name=(name or report.name).strip() or "Untitled agent",
        description=(description or report.description).strip(),
        summary=summary,
        content=_content(report),
        actor=actor,
    )
    return agent, report


@transaction.atomic
def flow_import_version(
    *, agent: AgentIdentity, raw, actor, version: str = "", changelog: str = ""
) -> tuple[AgentVersion, bool, FlowReport]:
    """A new export of an existing agent; the same content again creates nothing."""
    report = flow_check(raw=raw, category=agent.category)
    if not report.is_valid:
        raise InvalidFlow(report)
    agent_version, created = agent_version_add(
        agent=agent, content=_content(report), actor=actor, version=version, changelog=changelog
    )
    return agent_version, created, report
