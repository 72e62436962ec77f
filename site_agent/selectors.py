"""Agent reads for sellers: only agents of providers the user manages; another seller's agent is a 404."""

from django.db.models import Prefetch, QuerySet
from django.http import Http404

from marketplace.selectors import MANAGING_ROLES
from site_agent.models import AgentIdentity, AgentVersion


def user_is_seller(*, user) -> bool:
    """Whether the user manages at least one service provider (operators always count)."""
    if not user.is_authenticated:
        return False
    if user.is_staff:
        return True
    return user.memberships.filter(
        role__in=MANAGING_ROLES, organization__service_provider__isnull=False
    ).exists()


def agent_list_for_user(*, user) -> QuerySet[AgentIdentity]:
    agents = AgentIdentity.objects.filter(archived_at__isnull=True).select_related(
        "offering", "category", "provider__organization", "current_version"
    )
    if user.is_staff:
        return agents
    return agents.filter(
        provider__organization__memberships__user=user,
        provider__organization__memberships__role__in=MANAGING_ROLES,
    )


def agent_get_for_user(*, user, uuid) -> AgentIdentity:
    versions = AgentVersion.objects.order_by("-created_at").defer("flow_json")
    agent = (
        agent_list_for_user(user=user)
        .prefetch_related(Prefetch("versions", queryset=versions, to_attr="version_list"))
        .filter(uuid=uuid)
        .first()
    )
    if agent is None:
        raise Http404
    return agent
