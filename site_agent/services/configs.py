"""Buyer agent configs: created at provisioning, edited by the buyer, archived read-only on cancellation."""

import re
import secrets
from urllib.parse import urlsplit

from django.db import IntegrityError, transaction
from django.utils import timezone

from marketplace.models import Resource
from site_agent.errors import ApplicationError, ConflictError
from site_agent.models import (
    AgentVersion,
    ConfigState,
    CustomerAgentConfig,
    DeploymentState,
    Theme,
    Tone,
    WidgetPosition,
)
from site_agent.signals import config_version_changed

HEX_COLOUR = re.compile(r"^#[0-9A-Fa-f]{6}$")
LANGUAGE = re.compile(r"^[a-z]{2,3}(-[A-Za-z0-9]{2,8})?$")
HOST_LABEL = re.compile(r"^(?!-)[a-z0-9-]{1,63}(?<!-)$")
IPV4 = re.compile(r"^(25[0-5]|2[0-4]\d|1?\d?\d)(\.(25[0-5]|2[0-4]\d|1?\d?\d)){3}$")
MAX_ALLOWED_DOMAINS = 50
LIMITS = {"agent_name": 50, "greeting": 500, "system_prompt": 2000}
CHOICES = {"tone": Tone.values, "widget_position": WidgetPosition.values, "theme": Theme.values}
EDITABLE_FIELDS = {*LIMITS, *CHOICES, "language", "primary_colour", "allowed_domains"}


def new_widget_id() -> str:
    return "wid_" + secrets.token_urlsafe(18)


def normalise_domain(value: str) -> str:
    """`shop.example.com`, `*.example.com`, `localhost` or an IPv4 address; a pasted origin is reduced to its
    host. Raises ValueError with a message for anything else."""
    text = str(value).strip().lower()
    if "://" in text:
        parts = urlsplit(text)
        if parts.path not in ("", "/") or parts.query or parts.fragment:
            raise ValueError(f"'{value}' is a page address; give only the host, e.g. shop.example.com.")
        text = parts.hostname or ""
    text = text.rstrip(".")
    if text == "localhost" or IPV4.match(text):
        return text
    labels = text.split(".")
    wildcard = labels[0] == "*"
    if wildcard:
        labels = labels[1:]
    if len(labels) < 2 or not all(HOST_LABEL.match(label) for label in labels) or len(text) > 253:
        raise ValueError(f"'{value}' is not a host name such as shop.example.com or *.example.com.")
    return ("*." if wildcard else "") + ".".join(labels)


def domain_is_allowed(*, host: str, allowed_domains: list[str]) -> bool:
    """Whether a page on `host` may use the widget: an exact entry, or a `*.example.com` subdomain entry."""
    host = host.lower().rstrip(".")
    for domain in allowed_domains:
        if domain.startswith("*."):
            if host.endswith(domain[1:]) and host != domain[2:]:
                return True
        elif host == domain:
            return True
    return False


def _clean(data: dict) -> dict:
    unknown = sorted(set(data) - EDITABLE_FIELDS)
    errors: dict[str, list[str]] = {field: ["Unknown field."] for field in unknown}
    cleaned: dict = {}
    for field, value in data.items():
        if field in unknown:
            continue
        if field in LIMITS:
            if not isinstance(value, str):
                errors[field] = ["Must be text."]
            elif len(value.strip()) > LIMITS[field]:
                errors[field] = [f"At most {LIMITS[field]} characters."]
            elif field == "agent_name" and not value.strip():
                errors[field] = ["The agent needs a name."]
            else:
                cleaned[field] = value.strip()
        elif field in CHOICES:
            if value not in CHOICES[field]:
                errors[field] = [f"Choose one of: {', '.join(CHOICES[field])}."]
            else:
                cleaned[field] = value
        elif field == "language":
            if not isinstance(value, str) or not LANGUAGE.match(value):
                errors[field] = ["Use a language code such as en, nl or pt-BR."]
            else:
                cleaned[field] = value
        elif field == "primary_colour":
            if not isinstance(value, str) or not HEX_COLOUR.match(value):
                errors[field] = ["Use a colour as #RRGGBB."]
            else:
                cleaned[field] = value.upper()
        elif field == "allowed_domains":
            if not isinstance(value, list) or len(value) > MAX_ALLOWED_DOMAINS:
                errors[field] = [f"Give a list of at most {MAX_ALLOWED_DOMAINS} host names."]
                continue
            domains: list[str] = []
            for item in value:
                try:
                    domain = normalise_domain(item)
                except ValueError as error:
                    errors.setdefault(field, []).append(str(error))
                    continue
                if domain not in domains:
                    domains.append(domain)
            cleaned[field] = domains
    if errors:
        raise ApplicationError("Some settings are not valid.", errors=errors)
    return cleaned


@transaction.atomic
def config_create_for_resource(
    *, resource: Resource, knowledge_base=None
) -> tuple[CustomerAgentConfig, bool]:
    """The buyer's config for a new subscription, with defaults from the offering's agent. Idempotent."""
    existing = CustomerAgentConfig.objects.filter(resource=resource).first()
    if existing is not None:
        return existing, False
    agent = resource.offering.agent
    if agent.current_version is None:
        raise ConflictError("This agent has no version to deploy.", code="no_version")
    name = resource.offering.name[:50]
    try:
        with transaction.atomic():
            config = CustomerAgentConfig.objects.create(
                resource=resource,
                organization=resource.organization,
                agent=agent,
                agent_version=agent.current_version,
                knowledge_base=knowledge_base,
                agent_name=name,
                greeting=f"Hi! I'm {name}. How can I help you today?",
                widget_id=new_widget_id(),
            )
    except IntegrityError:
        return CustomerAgentConfig.objects.get(resource=resource), False
    return config, True


@transaction.atomic
def config_update(*, config: CustomerAgentConfig, actor, data: dict) -> CustomerAgentConfig:
    cleaned = _clean(data)
    config = CustomerAgentConfig.objects.select_for_update().get(pk=config.pk)
    if config.is_read_only:
        raise ConflictError("This agent was cancelled; its settings are read-only.", code="read_only")
    for field, value in cleaned.items():
        setattr(config, field, value)
    config.save(update_fields=[*cleaned, "updated_at"])
    from site_agent.services.api_keys import api_key_cache_clear_for_config

    transaction.on_commit(lambda: api_key_cache_clear_for_config(config_id=config.pk))
    return config


@transaction.atomic
def config_set_logo(*, config: CustomerAgentConfig, actor, logo) -> CustomerAgentConfig:
    if config.is_read_only:
        raise ConflictError("This agent was cancelled; its settings are read-only.", code="read_only")
    config.logo = logo
    config.save(update_fields=["logo", "updated_at"])
    return config


@transaction.atomic
def config_record_deployment(
    *, config: CustomerAgentConfig, flow_id: str, endpoint: str
) -> CustomerAgentConfig:
    CustomerAgentConfig.objects.filter(pk=config.pk).update(
        runtime_flow_id=flow_id,
        runtime_endpoint=endpoint,
        deployment_state=DeploymentState.DEPLOYED,
        deployment_error="",
        deployed_at=timezone.now(),
        updated_at=timezone.now(),
    )
    config.refresh_from_db()
    return config


@transaction.atomic
def config_record_deployment_failure(*, config: CustomerAgentConfig, message: str) -> CustomerAgentConfig:
    CustomerAgentConfig.objects.filter(pk=config.pk).update(
        deployment_state=DeploymentState.FAILED, deployment_error=message[:2000], updated_at=timezone.now()
    )
    config.refresh_from_db()
    return config


def _set_state(config: CustomerAgentConfig, state: str) -> CustomerAgentConfig:
    CustomerAgentConfig.objects.filter(pk=config.pk).update(state=state, updated_at=timezone.now())
    config.state = state
    from site_agent.services.api_keys import api_key_cache_clear_for_config

    transaction.on_commit(lambda: api_key_cache_clear_for_config(config_id=config.pk))
    return config


@transaction.atomic
def config_archive(*, config: CustomerAgentConfig) -> CustomerAgentConfig:
    """Cancellation: the config stays for the record, read-only; its keys stop working."""
    CustomerAgentConfig.objects.filter(pk=config.pk).update(deployment_state=DeploymentState.REMOVED)
    return _set_state(config, ConfigState.ARCHIVED)


@transaction.atomic
def config_suspend(*, config: CustomerAgentConfig) -> CustomerAgentConfig:
    """Payment overdue past the grace period: keys are refused until the buyer pays."""
    if config.state == ConfigState.ARCHIVED:
        return config
    return _set_state(config, ConfigState.SUSPENDED)


@transaction.atomic
def config_resume(*, config: CustomerAgentConfig) -> CustomerAgentConfig:
    if config.state != ConfigState.SUSPENDED:
        return config
    return _set_state(config, ConfigState.ACTIVE)


# --- Agent versions ---------------------------------------------------------------------------------------


@transaction.atomic
def config_change_version(
    *, config: CustomerAgentConfig, version: AgentVersion, actor
) -> CustomerAgentConfig:
    """Move a buyer's agent to another version of the same agent; its runtime flow is redeployed after
    commit (by runtime_bridge, on `config_version_changed`). The same version again changes nothing, unless
    its last deployment failed: then it is deployed again."""
    config = CustomerAgentConfig.objects.select_for_update().get(pk=config.pk)
    if config.is_read_only:
        raise ConflictError("This agent was cancelled; its settings are read-only.", code="read_only")
    if version.agent_id != config.agent_id:
        raise ApplicationError(
            "Choose a version of this agent.", errors={"version": ["Not a version of this agent."]}
        )
    if version.pk == config.agent_version_id and config.deployment_state != DeploymentState.FAILED:
        return config
    # The deployment state stays: the runtime keeps serving the old flow until the new one replaces it.
    config.agent_version = version
    config.save(update_fields=["agent_version", "updated_at"])
    config_version_changed.send(sender=CustomerAgentConfig, config_id=config.pk, version_id=version.pk)
    return config


@transaction.atomic
def agent_version_rollout(*, version: AgentVersion, actor) -> list[CustomerAgentConfig]:
    """The seller moves every live buyer config of the agent to `version`. Returns the configs moved."""
    configs = (
        CustomerAgentConfig.objects.select_for_update()
        .filter(agent_id=version.agent_id)
        .exclude(state=ConfigState.ARCHIVED)
        .exclude(agent_version=version)
        .order_by("pk")
    )
    return [config_change_version(config=config, version=version, actor=actor) for config in configs]
