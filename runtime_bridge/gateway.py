"""The chat gateway: one message from an API client or a website widget to the buyer's agent and back.

Checks run in a fixed order, cheapest and most fundamental first, and stop at the first refusal:

1. credential      a secret key (cached check, revocation immediate) or a signed widget session token plus
                   the page's Origin; the credential must belong to the config in the URL (else 404)
2. subscription    the config is active and its subscription is ok (read fresh from the database)
3. monthly quota   calls this quota month vs the plan's `monthly_quota_calls`; over it with no overage
                   price: 429 naming the plan. The plan is read fresh, so an upgrade unblocks at once.
4. rate limit      token buckets per key (or per widget session and visitor IP) and per config
5. context         the top passages of the config's knowledge base for the question
6. runtime         the config's own flow, a per-conversation session id and the run-time variables
7. usage           recorded once, by request id; never when the runtime failed

"Try before buying" (`demo_chat_*`) runs the seller's current version as a demo flow with a small daily
allowance per visitor and no documents.
"""

import contextlib
import logging
import math
import re
import threading
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from urllib.parse import urlsplit

from django.conf import settings
from django.core import signing
from django.core.cache import cache
from django.db.models import Sum
from django.utils import timezone

from cmp.errors import ApplicationError, ForbiddenError, NotFoundError
from marketplace.models import Capability, Offering, OfferingState
from marketplace_ai.errors import RetrievalUnavailable
from marketplace_ai.models import DocumentStatus
from marketplace_ai.retrieval import retrieve
from marketplace_ai.selectors import document_list_for_knowledge_base
from runtime_bridge.ratelimit import Limit, rate_limit_take
from runtime_bridge.runtime_client import (
    BaseRuntimeClient,
    RunResult,
    RuntimeRejected,
    RuntimeUnavailable,
    StreamEvent,
    get_runtime_client,
)
from site_agent.models import ConfigState, CustomerAgentConfig, UsageDaily, UsageSource
from site_agent.selectors import demo_usage_calls
from site_agent.services.api_keys import api_key_check
from site_agent.services.configs import domain_is_allowed
from site_agent.services.usage import UsageInput, demo_usage_record, usage_record
from site_agent.services.webhooks import WebhookEvent, webhook_emit

logger = logging.getLogger(__name__)

MAX_INPUT_CHARS = 8000
CONTEXT_CHUNKS = 4
SESSION_ID = re.compile(r"^[A-Za-z0-9_.:-]{1,100}$")
WIDGET_CONVERSATION = re.compile(r"^[0-9a-f]{32}$")
WIDGET_SALT = "cmp.runtime_bridge.widget-session"
DEMO_NAMESPACE = uuid.UUID("0b7f3c9e-3a5d-4f0e-9a4e-5c2d1b8e7f60")

NO_DOCUMENTS = (
    "No documents have been added to this agent's knowledge base yet, so there is no company-specific "
    "information to answer from."
)
NO_MATCH = "Nothing in this agent's knowledge base matches the question."
NO_KNOWLEDGE = "This agent does not answer from documents."
KNOWLEDGE_DOWN = "The knowledge base cannot be searched right now."
DEMO_CONTEXT = (
    "This is a demo of {name}. No documents are loaded: once you subscribe, it answers from your own "
    "documents, with your agent's name, tone and branding."
)


class InvalidCredential(ApplicationError):
    status_code = 401
    default_code = "invalid_credential"


class TooManyRequests(ApplicationError):
    """A 429; `retry_after` (seconds) becomes the Retry-After header."""

    status_code = 429
    default_code = "rate_limited"

    def __init__(self, detail: str, *, retry_after: int, code: str | None = None):
        super().__init__(detail, code=code)
        self.retry_after = max(1, int(retry_after))


# --- Who is calling -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Caller:
    """A checked credential: which config it opens, and what to rate-limit it by."""

    config_uuid: str
    key_id: int | None = None
    conversation: str = ""  # widget sessions: the server-chosen conversation id
    client_ip: str = ""
    origin: str = ""

    @property
    def is_widget(self) -> bool:
        return self.key_id is None


KEY_REFUSALS = {
    "malformed": "This API key is not valid.",
    "unknown": "This API key is not valid.",
    "revoked": "This API key was revoked.",
    "expired": "This API key has expired.",
}


def chat_caller_from_key(*, config_uuid: str, key: str, client_ip: str) -> Caller:
    check = api_key_check(key=key)
    if not check.valid:
        if check.reason in KEY_REFUSALS:
            raise InvalidCredential(KEY_REFUSALS[check.reason])
        raise ForbiddenError(
            "This agent's subscription is not active, so it cannot answer.", code="subscription_inactive"
        )
    if check.context["config_uuid"] != str(config_uuid):
        raise NotFoundError("No agent with this id is reachable with this key.")
    return Caller(config_uuid=str(config_uuid), key_id=check.key_id, client_ip=client_ip)


def origin_host(origin: str) -> str:
    """The host of an Origin header, or "" when it is missing, opaque ("null") or malformed."""
    if not origin or origin == "null":
        return ""
    try:
        parts = urlsplit(origin)
    except ValueError:
        return ""
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return ""
    return parts.hostname


def is_site_origin(origin: str) -> bool:
    """Whether the Origin is CMP's own site (SITE_URL), where only CMP's code runs."""
    site = urlsplit(settings.SITE_URL)
    return bool(origin) and origin.rstrip("/").lower() == f"{site.scheme}://{site.netloc}".lower()


def origin_is_allowed(*, origin: str, allowed_domains: list[str]) -> bool:
    """A page on one of the agent's allowed domains, or CMP's own site (the buyer's live preview of the
    widget on the Widget page: an Origin check keeps other sites' pages out, and CMP is not one)."""
    host = origin_host(origin)
    return bool(host) and (
        domain_is_allowed(host=host, allowed_domains=allowed_domains) or is_site_origin(origin)
    )


def widget_config_get(*, widget_id: str) -> CustomerAgentConfig:
    config = (
        CustomerAgentConfig.objects.select_related("resource")
        .filter(widget_id=widget_id, state__in=[ConfigState.ACTIVE, ConfigState.SUSPENDED])
        .first()
        if isinstance(widget_id, str) and 0 < len(widget_id) <= 40
        else None
    )
    if config is None:
        raise NotFoundError("No widget with this id.")
    return config


def widget_allowed_domains(*, config_uuid) -> list[str] | None:
    """The allowed domains of a config's widget (for CORS decisions), or None for an unknown config."""
    try:
        uuid.UUID(str(config_uuid))
    except ValueError:
        return None
    return (
        CustomerAgentConfig.objects.filter(uuid=config_uuid)
        .exclude(state=ConfigState.ARCHIVED)
        .values_list("allowed_domains", flat=True)
        .first()
    )


@dataclass(frozen=True)
class WidgetSession:
    token: str
    session_id: str
    expires_in: int
    config: CustomerAgentConfig


def widget_session_start(*, config: CustomerAgentConfig, origin: str, session_id: str = "") -> WidgetSession:
    """A short-lived, signed token for one conversation on an allowed page. Resuming a conversation the
    visitor already holds keeps its id; anything else starts a new, random one."""
    if not origin_is_allowed(origin=origin, allowed_domains=config.allowed_domains):
        raise ForbiddenError("This page is not allowed to use this widget.", code="origin_not_allowed")
    if config.state != ConfigState.ACTIVE or not config.resource.is_active:
        raise ForbiddenError("This agent is not available right now.", code="subscription_inactive")
    conversation = session_id if WIDGET_CONVERSATION.match(session_id or "") else uuid.uuid4().hex
    signer = signing.TimestampSigner(salt=WIDGET_SALT)
    token = signer.sign_object({"c": str(config.uuid), "s": conversation})
    return WidgetSession(
        token=token, session_id=conversation, expires_in=settings.WIDGET_SESSION_SECONDS, config=config
    )


def chat_caller_from_widget(*, config_uuid: str, token: str, origin: str, client_ip: str) -> Caller:
    signer = signing.TimestampSigner(salt=WIDGET_SALT)
    try:
        payload = signer.unsign_object(token, max_age=settings.WIDGET_SESSION_SECONDS)
    except signing.SignatureExpired as error:
        raise InvalidCredential(
            "The chat session has expired; start a new one.", code="session_expired"
        ) from error
    except (signing.BadSignature, ValueError, TypeError) as error:
        raise InvalidCredential("This chat session is not valid.") from error
    if not isinstance(payload, dict) or payload.get("c") != str(config_uuid):
        raise NotFoundError("No agent with this id is reachable with this session.")
    if not origin_host(origin):
        raise ForbiddenError("Widget requests must come from a web page.", code="origin_not_allowed")
    return Caller(
        config_uuid=str(config_uuid),
        conversation=str(payload.get("s", "")),
        client_ip=client_ip,
        origin=origin,
    )


# --- Subscription and quota ------------------------------------------------------------------------------


def _add_months(moment: datetime, months: int) -> datetime:
    month = moment.month - 1 + months
    year, month = moment.year + month // 12, month % 12 + 1
    days_in_month = [31, 29 if year % 4 == 0 and (year % 100 or year % 400 == 0) else 28, 31, 30, 31, 30,
                     31, 31, 30, 31, 30, 31][month - 1]  # fmt: skip
    return moment.replace(year=year, month=month, day=min(moment.day, days_in_month))


def quota_window(*, anchor: datetime, now: datetime) -> tuple[datetime, datetime]:
    """The quota month containing `now`: from the last monthly anniversary of `anchor` to the next."""
    months = max(0, (now.year - anchor.year) * 12 + now.month - anchor.month)
    start = _add_months(anchor, months)
    if start > now:
        months -= 1
        start = _add_months(anchor, months)
    return start, _add_months(anchor, months + 1)


@dataclass(frozen=True)
class QuotaStatus:
    plan_name: str
    quota: int | None
    used: int
    resets_at: datetime
    overage_allowed: bool

    @property
    def is_exhausted(self) -> bool:
        return self.quota is not None and self.used >= self.quota and not self.overage_allowed


def config_quota_status(*, config: CustomerAgentConfig, now: datetime | None = None) -> QuotaStatus:
    """Calls in the current quota month, from the daily aggregates, against the plan read just now."""
    now = now or timezone.now()
    resource, plan = config.resource, config.resource.plan
    start, end = quota_window(anchor=resource.current_period_start or resource.created_at, now=now)
    used = 0
    if plan.monthly_quota_calls is not None:
        used = (
            UsageDaily.objects.filter(config_id=config.pk, day__gte=start.date()).aggregate(
                total=Sum("api_calls")
            )["total"]
            or 0
        )
    return QuotaStatus(
        plan_name=plan.name,
        quota=plan.monthly_quota_calls,
        used=used,
        resets_at=end,
        overage_allowed=plan.overage_price_per_1000_minor is not None,
    )


CONFIG_FIELDS = (
    "uuid",
    "state",
    "agent_name",
    "tone",
    "system_prompt",
    "allowed_domains",
    "runtime_flow_id",
    "resource__state",
    "resource__current_period_start",
    "resource__created_at",
    "resource__plan__name",
    "resource__plan__monthly_quota_calls",
    "resource__plan__rate_limit_per_minute",
    "resource__plan__overage_price_per_1000_minor",
    "resource__offering__capabilities",
    "knowledge_base__backend",
    "knowledge_base__ragflow_dataset_id",
    "knowledge_base__archived_at",
)


def _load_config(config_uuid: str) -> CustomerAgentConfig:
    """The config with its subscription, plan and knowledge base, fresh: one query, only the columns used."""
    config = (
        CustomerAgentConfig.objects.select_related("resource__plan", "resource__offering", "knowledge_base")
        .only(*CONFIG_FIELDS)
        .filter(uuid=config_uuid)
        .first()
    )
    if config is None:
        raise NotFoundError("No agent with this id.")
    return config


def _check_subscription(config: CustomerAgentConfig) -> None:
    if config.state != ConfigState.ACTIVE or not config.resource.is_active:
        raise ForbiddenError(
            "This agent's subscription is not active, so it cannot answer.", code="subscription_inactive"
        )
    if not config.runtime_flow_id:
        raise RuntimeUnavailable("This agent is still being set up; try again in a minute.")


def _announce_quota_reached(config: CustomerAgentConfig, status: QuotaStatus) -> None:
    """Tell the buyer's webhooks once per quota month that the plan's calls are used up."""
    marker = f"cmp:quota-reached:{config.pk}:{status.resets_at:%Y%m%d%H%M}"
    seconds = max(60, int((status.resets_at - timezone.now()).total_seconds()))
    if cache.add(marker, 1, seconds):
        webhook_emit(
            config=config,
            event=WebhookEvent.USAGE_QUOTA_REACHED,
            payload={
                "config_uuid": str(config.uuid),
                "plan": status.plan_name,
                "quota": status.quota,
                "used": status.used,
                "resets_at": status.resets_at,
                "overage_allowed": status.overage_allowed,
            },
        )


def _check_quota(config: CustomerAgentConfig) -> None:
    now = timezone.now()
    status = config_quota_status(config=config, now=now)
    if status.quota is not None and status.used >= status.quota:
        _announce_quota_reached(config, status)
    if status.is_exhausted:
        raise TooManyRequests(
            f"This agent has used all {status.quota:,} API calls included in the {status.plan_name} plan "
            f"this month. Upgrade the plan to continue now, or calls resume on "
            f"{status.resets_at:%Y-%m-%d %H:%M} UTC.",
            retry_after=math.ceil((status.resets_at - now).total_seconds()),
            code="quota_exceeded",
        )


def _check_rate(config: CustomerAgentConfig, caller: Caller) -> None:
    per_minute = config.resource.plan.rate_limit_per_minute
    config_limit = Limit(f"config:{config.pk}", per_minute)
    if caller.is_widget:
        limits = [
            Limit(
                f"widget:{config.pk}:{caller.conversation}", settings.CHAT_WIDGET_SESSION_MESSAGES_PER_MINUTE
            ),
            Limit(f"ip:{config.pk}:{caller.client_ip}", settings.CHAT_WIDGET_IP_MESSAGES_PER_MINUTE),
            config_limit,
        ]
    else:
        limits = [Limit(f"key:{caller.key_id}", per_minute), config_limit]
    decision = rate_limit_take(*limits)
    if not decision.allowed:
        whom = "this agent" if decision.refused_by is config_limit else "you"
        raise TooManyRequests(
            f"Too many messages: {whom} can send {decision.refused_by.capacity} per minute on this plan. "
            f"Try again in {decision.retry_after_seconds} s.",
            retry_after=decision.retry_after_seconds,
        )


# --- Context and run-time variables -----------------------------------------------------------------------


def knowledge_context(*, config: CustomerAgentConfig, question: str) -> str:
    """The top passages for the question, joined; or a short note the agent can say instead."""
    knowledge_base = config.knowledge_base
    if not config.resource.offering.has_capability(Capability.KNOWLEDGE_BASE) or knowledge_base is None:
        return NO_KNOWLEDGE
    try:
        chunks = retrieve(knowledge_base=knowledge_base, query=question, top_k=CONTEXT_CHUNKS)
    except RetrievalUnavailable:
        logger.warning("Retrieval unavailable for config %s; answering without context.", config.uuid)
        return KNOWLEDGE_DOWN
    if chunks:
        return "\n\n".join(chunk.text for chunk in chunks)
    documents = document_list_for_knowledge_base(knowledge_base=knowledge_base)
    return NO_MATCH if documents.filter(status=DocumentStatus.INDEXED).exists() else NO_DOCUMENTS


def run_variables(*, context: str, agent_name: str, tone: str, system_prompt: str) -> dict[str, str]:
    variables = {
        "CMP_CONTEXT": context,
        "CMP_AGENT_NAME": agent_name,
        "CMP_TONE": tone,
        "CMP_SYSTEM_PROMPT": system_prompt,
    }
    if settings.LLM_API_KEY:
        variables["OPENAI_API_KEY"] = settings.LLM_API_KEY
    return variables


def clean_input(text) -> str:
    if not isinstance(text, str) or not text.strip():
        raise ApplicationError("Write a message.", errors={"input": ["This field may not be blank."]})
    if len(text) > MAX_INPUT_CHARS:
        raise ApplicationError(
            "The message is too long.", errors={"input": [f"At most {MAX_INPUT_CHARS} characters."]}
        )
    return text.strip()


def clean_session_id(session_id) -> str:
    """The client's conversation id, or a new random one."""
    if session_id in (None, ""):
        return uuid.uuid4().hex
    if not isinstance(session_id, str) or not SESSION_ID.match(session_id):
        raise ApplicationError(
            "The session id is not valid.",
            errors={"session_id": ["1 to 100 letters, digits, '_', '-', '.' or ':'."]},
        )
    return session_id


# --- The runtime, shared per process ----------------------------------------------------------------------

_clients: dict[tuple, BaseRuntimeClient] = {}
_clients_lock = threading.Lock()


def shared_runtime_client() -> BaseRuntimeClient:
    """One client per process and runtime setting, so connections to the runtime are kept alive."""
    key = (settings.RUNTIME_KIND, settings.RUNTIME_URL, settings.RUNTIME_API_KEY, settings.RUNTIME_TIMEOUT)
    client = _clients.get(key)
    if client is None:
        with _clients_lock:
            client = _clients.get(key)
            if client is None:
                # A refused connection is retried once at most: the gateway answers 503 rather than wait.
                client = _clients[key] = get_runtime_client(attempts=2, backoff=0.05)
    return client


# --- A prepared message ------------------------------------------------------------------------------------


@dataclass
class PreparedChat:
    """Everything the runtime call needs, decided before it is made."""

    flow_id: str
    input: str
    session_id: str  # what the client sees and sends back
    runtime_session_id: str  # what the runtime sees: unguessable per conversation, never the flow id
    variables: dict[str, str]
    request_id: str = field(default_factory=lambda: uuid.uuid4().hex)
    config_id: int | None = None  # None for a demo: nothing is recorded against a buyer
    config: CustomerAgentConfig | None = None  # as loaded for this message: who to announce the answer to
    demo_offering_id: int | None = None  # a demo's usage is counted for the seller, never billed
    usage_source: str = UsageSource.GATEWAY
    on_failure: list = field(default_factory=list)


def chat_prepare(*, caller: Caller, message, session_id=None) -> PreparedChat:
    """Steps 2 to 5 for an authenticated caller (step 1 made the Caller)."""
    text = clean_input(message)
    config = _load_config(caller.config_uuid)
    if caller.is_widget:
        if not origin_is_allowed(origin=caller.origin, allowed_domains=config.allowed_domains):
            raise ForbiddenError("This page is not allowed to use this widget.", code="origin_not_allowed")
        conversation = caller.conversation
    else:
        conversation = clean_session_id(session_id)
    _check_subscription(config)
    _check_quota(config)
    _check_rate(config, caller)
    context = knowledge_context(config=config, question=text)
    return PreparedChat(
        flow_id=config.runtime_flow_id,
        input=text,
        session_id=conversation,
        runtime_session_id=f"{config.uuid}:{conversation}",
        variables=run_variables(
            context=context,
            agent_name=config.agent_name,
            tone=config.tone,
            system_prompt=config.system_prompt,
        ),
        config_id=config.pk,
        config=config,
    )


@dataclass(frozen=True)
class Usage:
    api_calls: int
    tokens_input: int
    tokens_output: int
    tokens_estimated: bool

    def as_dict(self) -> dict:
        return {
            "api_calls": self.api_calls,
            "tokens_input": self.tokens_input,
            "tokens_output": self.tokens_output,
            "tokens_estimated": self.tokens_estimated,
        }


def _estimate_tokens(text: str) -> int:
    return max(1, math.ceil(len(text) / 4)) if text else 0


def _reported_usage(raw, depth: int = 0) -> tuple[int, int] | None:
    """Token counts when the runtime reported them (a `usage` object with input/prompt and output/completion
    tokens, anywhere in the first few levels of its answer)."""
    if depth > 6:
        return None
    if isinstance(raw, dict):
        usage = raw.get("usage")
        if isinstance(usage, dict):
            tokens_in = usage.get("input_tokens", usage.get("prompt_tokens"))
            tokens_out = usage.get("output_tokens", usage.get("completion_tokens"))
            if isinstance(tokens_in, int) and isinstance(tokens_out, int) and tokens_in >= 0 <= tokens_out:
                return tokens_in, tokens_out
        children = raw.values()
    elif isinstance(raw, list):
        children = raw
    else:
        return None
    for child in children:
        found = _reported_usage(child, depth + 1)
        if found is not None:
            return found
    return None


def _usage_for(prepared: PreparedChat, output: str, raw=None) -> Usage:
    reported = _reported_usage(raw) if raw else None
    if reported is not None:
        return Usage(1, reported[0], reported[1], tokens_estimated=False)
    prompt = prepared.input + prepared.variables["CMP_CONTEXT"] + prepared.variables["CMP_SYSTEM_PROMPT"]
    return Usage(1, _estimate_tokens(prompt), _estimate_tokens(output), tokens_estimated=True)


def _record(prepared: PreparedChat, usage: Usage) -> None:
    if prepared.demo_offering_id is not None:
        demo_usage_record(
            offering_id=prepared.demo_offering_id,
            day=timezone.now().date(),
            tokens_input=usage.tokens_input,
            tokens_output=usage.tokens_output,
        )
        return
    usage_record(
        events=[
            UsageInput(
                config_id=prepared.config_id,
                event_id=prepared.request_id,
                occurred_at=timezone.now(),
                api_calls=usage.api_calls,
                tokens_input=usage.tokens_input,
                tokens_output=usage.tokens_output,
                tokens_estimated=usage.tokens_estimated,
                source=prepared.usage_source,
            )
        ]
    )


def chat_record(*, prepared: PreparedChat, reply: "ChatReply") -> None:
    """Record an answered message (idempotent by request id). Logs instead of raising: it runs after the
    answer was sent, when nobody could be told."""
    try:
        _record(prepared, reply.usage)
    except Exception:
        logger.exception("Usage of chat request %s could not be recorded", prepared.request_id)
    if prepared.config is not None:
        try:
            _announce_answer(prepared, reply)
        except Exception:
            logger.exception("Webhooks for chat request %s could not be queued", prepared.request_id)


def _announce_answer(prepared: PreparedChat, reply: "ChatReply") -> None:
    config = prepared.config
    webhook_emit(
        config=config,
        event=WebhookEvent.MESSAGE_ANSWERED,
        payload={
            "config_uuid": str(config.uuid),
            "request_id": prepared.request_id,
            "session_id": reply.session_id,
            "input": prepared.input,
            "output": reply.output,
            "usage": reply.usage.as_dict(),
        },
    )


def _failed(prepared: PreparedChat) -> None:
    for undo in prepared.on_failure:
        undo()


@dataclass(frozen=True)
class ChatReply:
    output: str
    session_id: str
    request_id: str
    usage: Usage


def _run_once(prepared: PreparedChat) -> RunResult:
    return shared_runtime_client().run(
        prepared.flow_id,
        input_value=prepared.input,
        session_id=prepared.runtime_session_id,
        variables=prepared.variables,
    )


def chat_run(
    *, prepared: PreparedChat, redeploy: Callable[[], str] | None = None, record: bool = True
) -> ChatReply:
    """Step 6 and 7: run the flow and record the call once. A runtime failure records nothing.

    `redeploy` (demos) deploys the flow again when the runtime no longer knows it (it restarted), once.
    `record=False` leaves recording to the caller (`chat_record`), e.g. after the answer has been sent."""
    try:
        try:
            result = _run_once(prepared)
        except RuntimeRejected as error:
            if redeploy is None or error.runtime_status != 404:
                raise
            prepared.flow_id = redeploy()
            result = _run_once(prepared)
    except (RuntimeUnavailable, RuntimeRejected) as error:
        _failed(prepared)
        raise _as_outage(error) from error
    usage = _usage_for(prepared, result.output, result.raw)
    if record:
        _record(prepared, usage)
    return ChatReply(
        output=result.output, session_id=prepared.session_id, request_id=prepared.request_id, usage=usage
    )


def _as_outage(error: ApplicationError) -> RuntimeUnavailable:
    logger.warning("Chat runtime call failed: %s", error.detail)
    if isinstance(error, RuntimeUnavailable):
        return RuntimeUnavailable(
            "The agent is temporarily unavailable. Nothing was charged; please try again shortly."
        )
    return RuntimeUnavailable(
        "The agent could not answer (its runtime refused the request). Nothing was charged."
    )


# --- Automations (runtime_bridge.workflows) ----------------------------------------------------------------


def automation_prepare(*, config_uuid, text: str, request_id: str, session_id: str) -> PreparedChat:
    """Steps 2, 3 and 5 for a run with no caller (a scheduled, webhook or manual automation run):
    subscription, quota and context. Rate limits are the trigger's business (a schedule paces itself)."""
    text = clean_input(text)
    config = _load_config(str(config_uuid))
    _check_subscription(config)
    _check_quota(config)
    context = knowledge_context(config=config, question=text)
    return PreparedChat(
        flow_id=config.runtime_flow_id,
        input=text,
        session_id=session_id,
        runtime_session_id=f"{config.uuid}:{session_id}",
        variables=run_variables(
            context=context,
            agent_name=config.agent_name,
            tone=config.tone,
            system_prompt=config.system_prompt,
        ),
        request_id=request_id,
        config_id=config.pk,
        usage_source=UsageSource.AUTOMATION,
    )


def automation_run(*, prepared: PreparedChat) -> ChatReply:
    """Steps 6 and 7 for an automation run. Unlike `chat_run`, the runtime client's errors pass through
    unchanged, so the caller can retry RuntimeUnavailable and give up on RuntimeRejected; usage is recorded
    once per request id, so a retried run is never counted twice."""
    result = _run_once(prepared)
    usage = _usage_for(prepared, result.output, result.raw)
    _record(prepared, usage)
    return ChatReply(
        output=result.output, session_id=prepared.session_id, request_id=prepared.request_id, usage=usage
    )


@dataclass(frozen=True)
class ChatEvent:
    """One server-sent event of a streamed reply: "token", "end" (with output and usage) or "error"."""

    kind: str
    text: str = ""
    reply: ChatReply | None = None


def chat_stream(*, prepared: PreparedChat) -> Iterator[ChatEvent]:
    """Step 6 and 7, streamed. The first runtime event is fetched before this returns its iterator, so
    a runtime that is down raises RuntimeUnavailable here (a 503), not in the middle of a 200 stream."""
    events = shared_runtime_client().stream(
        prepared.flow_id,
        input_value=prepared.input,
        session_id=prepared.runtime_session_id,
        variables=prepared.variables,
    )
    try:
        first = next(events, StreamEvent("error", "The agent ended without an answer."))
    except (RuntimeUnavailable, RuntimeRejected) as error:
        _failed(prepared)
        raise _as_outage(error) from error
    return _stream_rest(prepared, first, events)


def _stream_rest(
    prepared: PreparedChat, first: StreamEvent, events: Iterator[StreamEvent]
) -> Iterator[ChatEvent]:
    pieces: list[str] = []
    event: StreamEvent | None = first
    try:
        while event is not None:
            if event.kind == "token":
                pieces.append(event.text)
                yield ChatEvent("token", event.text)
            elif event.kind == "end":
                output = event.text or "".join(pieces)
                if not pieces and output:  # a flow without a streaming model sends its answer at the end
                    yield ChatEvent("token", output)
                usage = _usage_for(prepared, output)
                _record(prepared, usage)
                reply = ChatReply(output, prepared.session_id, prepared.request_id, usage)
                yield ChatEvent("end", output, reply=reply)
                return
            else:
                _failed(prepared)
                yield ChatEvent("error", "The agent failed to answer. Nothing was charged; please try again.")
                return
            event = next(events, None)
        _failed(prepared)
        yield ChatEvent("error", "The agent ended without an answer. Nothing was charged.")
    except (RuntimeUnavailable, RuntimeRejected) as error:
        _failed(prepared)
        yield ChatEvent("error", _as_outage(error).detail)


# --- Try before buying -------------------------------------------------------------------------------------


def demo_flow_id(*, offering: Offering, version) -> str:
    return str(uuid.uuid5(DEMO_NAMESPACE, f"{offering.uuid}:{version.uuid}"))


def _demo_cache_key(offering: Offering, version) -> str:
    return f"cmp:demo:flow:{offering.uuid}:{version.uuid}"


def demo_offering_get(*, offering_uuid) -> Offering:
    """An active listing with an agent version to try; anything else is a 404."""
    try:
        uuid.UUID(str(offering_uuid))
    except ValueError as error:
        raise NotFoundError("No offering with this id.") from error
    offering = (
        Offering.objects.filter(uuid=offering_uuid, state=OfferingState.ACTIVE)
        .select_related("agent__current_version")
        .first()
    )
    agent = getattr(offering, "agent", None) if offering is not None else None
    if agent is None or agent.current_version_id is None or agent.archived_at is not None:
        raise NotFoundError("This offering has no agent to try.")
    return offering


def demo_flow_deploy(*, offering: Offering, force: bool = False) -> str:
    """Deploy the seller's current version as the offering's demo flow, once per version (remembered in the
    cache; deploying replaces, so a race deploys the same flow twice, harmlessly). Removes the demo flow of
    the version it replaces."""
    version = offering.agent.current_version
    key = _demo_cache_key(offering, version)
    flow_id = None if force else cache.get(key)
    if flow_id:
        return flow_id
    flow_id = demo_flow_id(offering=offering, version=version)
    runtime = shared_runtime_client()
    runtime.deploy_flow(
        version.flow_json, flow_id=flow_id, name=f"cmp-demo-{offering.slug}-{version.version}"
    )
    cache.set(key, flow_id, timeout=None)
    latest_key = f"cmp:demo:latest:{offering.uuid}"
    previous = cache.get(latest_key)
    cache.set(latest_key, flow_id, timeout=None)
    if previous and previous != flow_id:
        try:
            runtime.delete_flow(previous)
        except (RuntimeUnavailable, RuntimeRejected):
            logger.warning("Could not remove the old demo flow %s of %s", previous, offering.uuid)
    return flow_id


def _seconds_to_midnight(now: datetime) -> int:
    tomorrow = (now + timedelta(days=1)).replace(hour=0, minute=0, second=0, microsecond=0)
    return max(1, math.ceil((tomorrow - now).total_seconds()))


def _demo_counter_keys(offering: Offering, session_id: str, client_ip: str, day: str) -> list[str]:
    return [
        f"cmp:demo:visitor:{offering.uuid}:{day}:session:{session_id}",
        f"cmp:demo:visitor:{offering.uuid}:{day}:ip:{client_ip}",
    ]


def demo_call_count(*, offering: Offering, day: date | None = None) -> int:
    """How many messages an offering's demo answered on a UTC day (today by default)."""
    return demo_usage_calls(offering_id=offering.pk, day=day or timezone.now().date())


def _increment(key: str, timeout: int) -> int:
    cache.add(key, 0, timeout=timeout)
    try:
        return cache.incr(key)
    except ValueError:  # expired between add and incr
        cache.set(key, 1, timeout=timeout)
        return 1


def _decrement(key: str) -> None:
    with contextlib.suppress(ValueError):  # already expired: nothing to give back
        cache.decr(key)


@dataclass
class DemoAllowance:
    remaining: int
    limit: int


def demo_chat_prepare(
    *, offering: Offering, message, session_id=None, client_ip: str
) -> tuple[PreparedChat, DemoAllowance]:
    """A demo message: counted against the visitor's daily allowance (per session and per IP, the tighter
    wins), run on the offering's demo flow with no documents and no buyer; an answer is counted in the
    offering's demo usage (`DemoUsageDaily`), never against a buyer."""
    text = clean_input(message)
    conversation = clean_session_id(session_id)
    limit = settings.CHAT_DEMO_MESSAGES_PER_DAY
    now = timezone.now()
    day = now.date().isoformat()
    ttl = _seconds_to_midnight(now)
    keys = _demo_counter_keys(offering, conversation, client_ip, day)
    counts = [_increment(key, ttl) for key in keys]
    if max(counts) > limit:
        for key in keys:
            _decrement(key)
        raise TooManyRequests(
            f"You have used the {limit} free demo messages for today. Subscribe to keep chatting, "
            "or come back tomorrow.",
            retry_after=ttl,
            code="demo_limit_reached",
        )
    try:
        flow_id = demo_flow_deploy(offering=offering)
    except (RuntimeUnavailable, RuntimeRejected) as error:
        for key in keys:
            _decrement(key)
        raise _as_outage(error) from error
    prepared = PreparedChat(
        flow_id=flow_id,
        input=text,
        session_id=conversation,
        runtime_session_id=f"demo-{offering.uuid}:{conversation}",
        variables=run_variables(
            context=DEMO_CONTEXT.format(name=offering.name),
            agent_name=offering.name,
            tone="friendly",
            system_prompt="",
        ),
        config_id=None,
        demo_offering_id=offering.pk,
        on_failure=[lambda: [_decrement(key) for key in keys]],
    )
    return prepared, DemoAllowance(remaining=limit - max(counts), limit=limit)


def demo_chat_run(*, offering: Offering, prepared: PreparedChat) -> ChatReply:
    return chat_run(prepared=prepared, redeploy=lambda: demo_flow_deploy(offering=offering, force=True))
