"""Endpoints for external runtimes: check a buyer's key, report usage, and a liveness ping.

Every request needs the runtime service credential (`runtime_bridge.authentication`). These views sit on
every chat's path, so they stay minimal: no session, CSRF, throttling or content negotiation beyond JSON,
and the body is parsed and validated with plain Python rather than DRF parsers and serializers.
"""

import datetime
import json
import uuid
from dataclasses import dataclass

from django.utils import timezone
from drf_spectacular.utils import OpenApiExample, OpenApiResponse, PolymorphicProxySerializer, extend_schema
from rest_framework import status
from rest_framework.negotiation import BaseContentNegotiation
from rest_framework.renderers import JSONRenderer
from rest_framework.response import Response
from rest_framework.views import APIView

from cmp.errors import ApplicationError, NotFoundError
from cmp.metrics import RUNTIME_AUTH_CALLS, USAGE_EVENTS_INGESTED
from runtime_bridge.api import runtime_serializers as s
from runtime_bridge.authentication import RuntimeServiceAuthentication
from site_agent.selectors import config_ids_by_uuid
from site_agent.services.api_keys import api_key_check
from site_agent.services.usage import UsageInput, usage_record

MAX_BATCH_EVENTS = 1000
MAX_API_CALLS = 10_000
MAX_TOKENS = 10_000_000
MAX_EVENT_ID_LENGTH = 100
MAX_AGE = datetime.timedelta(days=35)
MAX_AHEAD = datetime.timedelta(minutes=5)
# (field, largest value, default) of the counts an event carries.
COUNTS = (("api_calls", MAX_API_CALLS, 1), ("tokens_input", MAX_TOKENS, 0), ("tokens_output", MAX_TOKENS, 0))
EVENT_FIELDS = frozenset(("config_uuid", "tokens_estimated", "event_id", "occurred_at")).union(
    field for field, _maximum, _default in COUNTS
)


UNAUTHORISED = OpenApiResponse(
    s.ErrorOutputSerializer, description="No or a wrong runtime service credential (error envelope)."
)


class JsonOnlyNegotiation(BaseContentNegotiation):
    """JSON whatever the Accept header says: parsing it (and building `request.headers` to read it) was a
    measurable share of these endpoints' time, for a choice of one renderer."""

    def select_parser(self, request, parsers):
        return parsers[0] if parsers else None

    def select_renderer(self, request, renderers, format_suffix=None):
        return renderers[0], renderers[0].media_type


class RuntimeApiView(APIView):
    """The runtime credential and JSON only; nothing else runs before the handler."""

    authentication_classes = [RuntimeServiceAuthentication]
    permission_classes: list = []
    throttle_classes: list = []
    renderer_classes = [JSONRenderer]
    content_negotiation_class = JsonOnlyNegotiation

    def json_body(self):
        try:
            return json.loads(self.request.body)
        except (ValueError, UnicodeDecodeError) as error:
            raise ApplicationError("The request body must be JSON.", code="parse_error") from error


# --- Ping -----------------------------------------------------------------------------------------


class RuntimePingView(RuntimeApiView):
    @extend_schema(
        summary="Liveness check for runtimes (also checks the runtime credential)",
        responses={200: s.RuntimePingOutputSerializer, 401: UNAUTHORISED},
        tags=["runtime"],
    )
    def get(self, request):
        return Response({"ok": True})


# --- Key check (GAP-3) ----------------------------------------------------------------------------


def _key_expiry(context: dict) -> str | None:
    timestamp = context["expires_at"]
    if timestamp is None:
        return None
    return datetime.datetime.fromtimestamp(timestamp, tz=datetime.UTC).isoformat().replace("+00:00", "Z")


class RuntimeAuthView(RuntimeApiView):
    @extend_schema(
        summary="Check a buyer's API key and get what the runtime needs to serve it",
        description=(
            "A valid key answers 200 with the config: persona, branding, the runtime flow to run, the "
            "knowledge base and the plan's limits. Any key that must not be served (malformed, unknown, "
            "revoked, expired, its agent suspended for non-payment, or its subscription ended) answers 401 "
            'with `{"valid": false, "reason": ...}`. Results are cached; a revocation or a settings '
            "change applies to the very next call, in every process."
        ),
        request=s.RuntimeAuthInputSerializer,
        responses={
            200: s.RuntimeAuthOutputSerializer,
            400: OpenApiResponse(s.ErrorOutputSerializer, description="No api_key in the body."),
            401: OpenApiResponse(
                s.RuntimeAuthRejectedOutputSerializer,
                description="The key must not be served. (Without a valid runtime credential: the error "
                "envelope, whatever the key.)",
            ),
        },
        tags=["runtime"],
    )
    def post(self, request):
        body = self.json_body()
        api_key = body.get("api_key") if isinstance(body, dict) else None
        if not isinstance(api_key, str) or not api_key:
            raise ApplicationError(
                "Send the buyer's key as api_key.", errors={"api_key": ["A key as text is required."]}
            )
        result = api_key_check(key=api_key)
        RUNTIME_AUTH_CALLS.labels(result="allowed" if result.valid else result.reason).inc()
        if not result.valid:
            return Response({"valid": False, "reason": result.reason}, status=status.HTTP_401_UNAUTHORIZED)
        context = result.context
        config = {name: value for name, value in context.items() if name not in ("config_uuid", "expires_at")}
        return Response(
            {
                "valid": True,
                "config_uuid": context["config_uuid"],
                "key_expires_at": _key_expiry(context),
                "config": config,
            }
        )


# --- Usage ingest (GAP-4) -------------------------------------------------------------------------


@dataclass(frozen=True)
class ParsedEvent:
    config_uuid: uuid.UUID
    event_id: str
    occurred_at: datetime.datetime
    api_calls: int
    tokens_input: int
    tokens_output: int
    tokens_estimated: bool


def _occurred_at(value, now: datetime.datetime) -> tuple[datetime.datetime | None, str]:
    if not isinstance(value, str):
        return None, "Give a date and time in ISO 8601, e.g. 2026-05-01T12:00:00Z."
    try:
        moment = datetime.datetime.fromisoformat(value)
    except ValueError:
        return None, "Give a date and time in ISO 8601, e.g. 2026-05-01T12:00:00Z."
    if moment.tzinfo is None:
        return None, "Include a time zone, e.g. 2026-05-01T12:00:00Z."
    if moment < now - MAX_AGE:
        return None, "Usage older than 35 days cannot be reported."
    if moment > now + MAX_AHEAD:
        return None, "This time is in the future."
    return moment, ""


def parse_event(raw, *, now: datetime.datetime) -> tuple[ParsedEvent | None, dict[str, list[str]]]:
    """One usage event from its JSON: the event, or the problems per field."""
    if not isinstance(raw, dict):
        return None, {"non_field_errors": ["Each event must be a JSON object."]}
    errors: dict[str, list[str]] = {field: ["Unknown field."] for field in raw.keys() - EVENT_FIELDS}

    config_uuid = None
    value = raw.get("config_uuid")
    if value is None:
        errors["config_uuid"] = ["This field is required."]
    else:
        try:
            config_uuid = uuid.UUID(value) if isinstance(value, str) else None
        except ValueError:
            config_uuid = None
        if config_uuid is None:
            errors["config_uuid"] = ["Must be a config's UUID."]

    counts = {}
    for field, maximum, default in COUNTS:
        value = raw.get(field, default)
        if type(value) is not int:
            errors[field] = ["Must be a whole number."]
        elif not 0 <= value <= maximum:
            errors[field] = [f"Must be between 0 and {maximum:,}."]
        else:
            counts[field] = value

    tokens_estimated = raw.get("tokens_estimated", False)
    if type(tokens_estimated) is not bool:
        errors["tokens_estimated"] = ["Must be true or false."]

    event_id = raw.get("event_id")
    if event_id is None:
        event_id = str(uuid.uuid4())  # cannot be deduplicated: the caller was told so in the API docs
    elif not isinstance(event_id, str) or not event_id.strip():
        errors["event_id"] = ["Must be non-empty text."]
    elif len(event_id) > MAX_EVENT_ID_LENGTH:
        errors["event_id"] = [f"At most {MAX_EVENT_ID_LENGTH} characters."]

    occurred_at = now
    if raw.get("occurred_at") is not None:
        occurred_at, message = _occurred_at(raw["occurred_at"], now)
        if message:
            errors["occurred_at"] = [message]

    if errors:
        return None, errors
    return ParsedEvent(
        config_uuid=config_uuid,
        event_id=event_id,
        occurred_at=occurred_at,
        tokens_estimated=tokens_estimated,
        **counts,
    ), {}


def record_events(events: list[ParsedEvent]) -> list[str]:
    """Record parsed events; per event, in order: recorded, duplicate or not_found. One query maps the
    configs, one `usage_record` call stores the batch."""
    config_ids = config_ids_by_uuid(uuids={event.config_uuid for event in events})
    known = [event for event in events if event.config_uuid in config_ids]
    new = iter(
        usage_record(
            events=[
                UsageInput(
                    config_id=config_ids[event.config_uuid],
                    event_id=event.event_id,
                    occurred_at=event.occurred_at,
                    api_calls=event.api_calls,
                    tokens_input=event.tokens_input,
                    tokens_output=event.tokens_output,
                    tokens_estimated=event.tokens_estimated,
                )
                for event in known
            ]
        )
    )
    return [
        ("recorded" if next(new) else "duplicate") if event.config_uuid in config_ids else "not_found"
        for event in events
    ]


EXAMPLE_UUID = "6f1c2a9e-8a7b-4e0c-9a51-1f8f3f0f6d2a"
USAGE_DESCRIPTION = """\
Report what a runtime served: one event, or `{"events": [...]}` with up to 1,000.

Give every event an `event_id` of your own (at most 100 characters) and keep it when you retry: a repeat is
ignored and reported as `duplicate`, so retries never count twice. **An event without an `event_id` gets a
generated one and cannot be deduplicated.** Limits per event: `api_calls` 0-10,000, `tokens_input` and
`tokens_output` 0-10,000,000, `occurred_at` (ISO 8601 with a time zone, default now) at most 35 days ago and
5 minutes ahead.

One event: 201 `recorded` or 200 `duplicate`; an unknown config is a 404 and anything invalid a 400, with
nothing recorded. A batch answers 200 with a result per event, in order: `recorded`, `duplicate`,
`not_found` (unknown config) or `invalid` (with `errors`); the valid events are recorded, the others not.
Usage of a cancelled or suspended agent is still recorded: it happened.
"""


class RuntimeUsageView(RuntimeApiView):
    @extend_schema(
        summary="Report usage: one event or a batch of up to 1,000",
        description=USAGE_DESCRIPTION,
        request=PolymorphicProxySerializer(
            component_name="UsageReportInput",
            serializers=[s.UsageEventInputSerializer, s.UsageBatchInputSerializer],
            resource_type_field_name=None,
        ),
        responses={
            201: s.UsageEventOutputSerializer,
            200: OpenApiResponse(
                PolymorphicProxySerializer(
                    component_name="UsageReportOutput",
                    serializers=[s.UsageBatchOutputSerializer, s.UsageEventOutputSerializer],
                    resource_type_field_name=None,
                ),
                description="A batch: one result per event; or one event already recorded (duplicate).",
            ),
            400: OpenApiResponse(s.ErrorOutputSerializer, description="Invalid; nothing was recorded."),
            401: UNAUTHORISED,
            404: OpenApiResponse(s.ErrorOutputSerializer, description="One event for an unknown config."),
        },
        examples=[
            OpenApiExample(
                "One event",
                value={
                    "config_uuid": EXAMPLE_UUID,
                    "api_calls": 1,
                    "tokens_input": 420,
                    "tokens_output": 180,
                    "event_id": "run-2026-05-01-000123",
                },
                request_only=True,
            ),
            OpenApiExample(
                "A batch",
                value={
                    "events": [
                        {"config_uuid": EXAMPLE_UUID, "event_id": "run-1", "api_calls": 1},
                        {"config_uuid": EXAMPLE_UUID, "event_id": "run-2", "api_calls": 1},
                    ]
                },
                request_only=True,
            ),
        ],
        tags=["runtime"],
    )
    def post(self, request):
        body = self.json_body()
        if isinstance(body, dict) and "events" in body:
            return self._batch(body)
        return self._single(body)

    def _single(self, body) -> Response:
        event, errors = parse_event(body, now=timezone.now())
        if event is None:
            USAGE_EVENTS_INGESTED.labels(result="rejected").inc()
            raise ApplicationError("The usage event is not valid; nothing was recorded.", errors=errors)
        (outcome,) = record_events([event])
        USAGE_EVENTS_INGESTED.labels(result="rejected" if outcome == "not_found" else outcome).inc()
        if outcome == "not_found":
            raise NotFoundError(
                "No agent config with this id.", errors={"config_uuid": ["No agent config with this id."]}
            )
        status_code = status.HTTP_201_CREATED if outcome == "recorded" else status.HTTP_200_OK
        return Response({"status": outcome, "event_id": event.event_id}, status=status_code)

    def _batch(self, body: dict) -> Response:
        events = body["events"]
        if set(body) != {"events"}:
            unknown = {field: ["Unknown field."] for field in sorted(set(body) - {"events"})}
            raise ApplicationError("Send only `events`.", errors=unknown)
        if not isinstance(events, list) or not 1 <= len(events) <= MAX_BATCH_EVENTS:
            raise ApplicationError(
                f"Send between 1 and {MAX_BATCH_EVENTS:,} events.",
                errors={"events": [f"Give a list of 1 to {MAX_BATCH_EVENTS:,} events."]},
            )
        now = timezone.now()
        results: list[dict] = []
        valid: list[tuple[int, ParsedEvent]] = []
        for raw in events:
            event, errors = parse_event(raw, now=now)
            if event is None:
                given_id = raw.get("event_id") if isinstance(raw, dict) else None
                given_id = given_id if isinstance(given_id, str) else None
                results.append({"status": "invalid", "event_id": given_id, "errors": errors})
            else:
                valid.append((len(results), event))
                results.append({"status": "", "event_id": event.event_id})
        if valid:
            outcomes = record_events([event for _index, event in valid])
            for (index, _event), outcome in zip(valid, outcomes, strict=True):
                results[index]["status"] = outcome
        totals = {"recorded": 0, "duplicate": 0, "not_found": 0, "invalid": 0}
        for result in results:
            totals[result["status"]] += 1
        for outcome in ("recorded", "duplicate"):
            USAGE_EVENTS_INGESTED.labels(result=outcome).inc(totals[outcome])
        USAGE_EVENTS_INGESTED.labels(result="rejected").inc(totals["not_found"] + totals["invalid"])
        return Response({"results": results, **totals})
