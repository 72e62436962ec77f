"""Agents and their versions: create an agent with its draft offering, add versions, archive."""

import re
from dataclasses import dataclass

from django.db import IntegrityError, transaction
from django.utils import timezone

from marketplace.models import Category, ResourceState, ServiceProvider
from marketplace.services.catalogue import offering_archive, offering_create, offering_update
from marketplace.services.organizations import unique_slug
from site_agent.errors import ApplicationError, ConflictError
from site_agent.models import AgentIdentity, AgentVersion

SEMVER = re.compile(r"^(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)$")
FIRST_VERSION = "1.0.0"


@dataclass(frozen=True)
class FlowContent:
    """A validated, secret-free flow and what was learnt about it."""

    flow_json: dict
    sha256: str
    node_count: int
    edge_count: int
    component_types: list[str]
    required_variables: list[str]
    langflow_version: str = ""
    source_flow_id: str = ""


def _semver_key(label: str) -> tuple[int, int, int]:
    match = SEMVER.match(label)
    return tuple(int(part) for part in match.groups()) if match else (0, 0, 0)


def _next_version(agent: AgentIdentity) -> str:
    labels = agent.versions.values_list("version", flat=True)
    latest = max(labels, key=_semver_key, default=None)
    if latest is None:
        return FIRST_VERSION
    major, minor, _patch = _semver_key(latest)
    return f"{major}.{minor + 1}.0"


def _check_version_label(agent: AgentIdentity, label: str) -> None:
    if not SEMVER.match(label):
        raise ApplicationError("Use a semantic version such as 1.2.0.", errors={"version": ["Not a semver."]})
    latest = max(agent.versions.values_list("version", flat=True), key=_semver_key, default=None)
    if latest is not None and _semver_key(label) <= _semver_key(latest):
        raise ConflictError(f"Version {label} must be newer than {latest}.", code="version_not_newer")


@transaction.atomic
def agent_create(
    *,
    provider: ServiceProvider,
    category: Category,
    name: str,
    description: str,
    content: FlowContent,
    actor,
    summary: str = "",
) -> AgentIdentity:
    """A new agent, its draft offering and its first version."""
    offering = offering_create(
        provider=provider, category=category, name=name, summary=summary, description=description, actor=actor
    )
    agent = AgentIdentity.objects.create(
        provider=provider,
        offering=offering,
        category=category,
        name=offering.name,
        slug=unique_slug(AgentIdentity, offering.name, max_length=140),
        description=offering.description,
    )
    version, _created = agent_version_add(
        agent=agent, content=content, actor=actor, changelog="First version."
    )
    agent.current_version = version
    return agent


@transaction.atomic
def agent_version_add(
    *, agent: AgentIdentity, content: FlowContent, actor, version: str = "", changelog: str = ""
) -> tuple[AgentVersion, bool]:
    """Add a version; the same content again returns the existing version and False."""
    agent = AgentIdentity.objects.select_for_update().get(pk=agent.pk)
    if agent.archived_at is not None:
        raise ConflictError("This agent is archived.", code="archived")
    existing = agent.versions.filter(sha256=content.sha256).first()
    if existing is not None:
        return existing, False
    if version:
        _check_version_label(agent, version)
    label = version or _next_version(agent)
    try:
        with transaction.atomic():
            created = AgentVersion.objects.create(
                agent=agent,
                version=label,
                flow_json=content.flow_json,
                sha256=content.sha256,
                source_flow_id=content.source_flow_id,
                node_count=content.node_count,
                edge_count=content.edge_count,
                component_types=content.component_types,
                required_variables=content.required_variables,
                langflow_version=content.langflow_version,
                changelog=changelog.strip(),
                created_by=actor,
            )
    except IntegrityError as error:
        raise ConflictError(f"Version {label} already exists.", code="version_exists") from error
    agent.current_version = created
    agent.save(update_fields=["current_version", "updated_at"])
    return created, True


@transaction.atomic
def agent_update(*, agent: AgentIdentity, actor, data: dict) -> AgentIdentity:
    """Rename or describe an agent; its offering follows."""
    unknown = set(data) - {"name", "description"}
    if unknown:
        raise ApplicationError(
            "Unknown fields.", errors={field: ["Unknown field."] for field in sorted(unknown)}
        )
    offering_update(offering=agent.offering, actor=actor, data=dict(data))
    for field, value in data.items():
        setattr(agent, field, value.strip())
    agent.save(update_fields=[*data, "updated_at"])
    return agent


@transaction.atomic
def agent_archive(*, agent: AgentIdentity, actor) -> AgentIdentity:
    """Remove an agent from sale. Refused while organisations are subscribed to it."""
    agent = AgentIdentity.objects.select_for_update().select_related("offering").get(pk=agent.pk)
    if agent.archived_at is not None:
        raise ConflictError("This agent is already archived.", code="archived")
    live = agent.offering.resources.exclude(state=ResourceState.TERMINATED).count()
    if live:
        raise ConflictError(
            f"{live} organisation(s) still subscribe to this agent; unpublish it instead.",
            code="has_subscribers",
        )
    if agent.offering.state != "archived":
        offering_archive(offering=agent.offering, actor=actor)
    agent.archived_at = timezone.now()
    agent.save(update_fields=["archived_at", "updated_at"])
    return agent
