"""One error envelope for every API error: {"type", "title", "status", "detail", "code", "errors"}.

App code raises ApplicationError (or a subclass); DRF and Django errors are translated here, so a view
never builds an error response by hand.
"""

import logging
from http import HTTPStatus

from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import Http404, JsonResponse
from rest_framework import exceptions
from rest_framework.response import Response
from rest_framework.serializers import as_serializer_error

logger = logging.getLogger(__name__)


class ApplicationError(Exception):
    """A business rule said no. Subclasses pick the HTTP status."""

    status_code = HTTPStatus.BAD_REQUEST
    default_code = "invalid"

    def __init__(self, detail: str, *, code: str | None = None, errors: dict | None = None):
        super().__init__(detail)
        self.detail = detail
        self.code = code or self.default_code
        self.errors = errors or {}


class ConflictError(ApplicationError):
    """The object is not in a state that allows this change."""

    status_code = HTTPStatus.CONFLICT
    default_code = "conflict"


class NotFoundError(ApplicationError):
    status_code = HTTPStatus.NOT_FOUND
    default_code = "not_found"


class ForbiddenError(ApplicationError):
    status_code = HTTPStatus.FORBIDDEN
    default_code = "permission_denied"


def error_body(*, status: int, detail: str, code: str, errors: dict | None = None) -> dict:
    return {
        "type": f"/errors/{code}",
        "title": HTTPStatus(status).phrase,
        "status": status,
        "detail": detail,
        "code": code,
        "errors": errors or {},
    }


def _field_errors(detail) -> dict:
    if isinstance(detail, dict):
        return {
            field: _field_errors(value) if isinstance(value, dict) else _messages(value)
            for field, value in detail.items()
        }
    return {"non_field_errors": _messages(detail)}


def _messages(value) -> list:
    if isinstance(value, list):
        flattened = []
        for item in value:
            flattened.extend(_messages(item) if isinstance(item, list | dict) else [str(item)])
        return flattened
    if isinstance(value, dict):
        return [f"{key}: {message}" for key, messages in value.items() for message in _messages(messages)]
    return [str(value)]


def exception_handler(exc: Exception, context: dict) -> Response | None:
    """DRF's EXCEPTION_HANDLER: every error leaves in the same envelope."""
    if isinstance(exc, ApplicationError):
        body = error_body(status=exc.status_code, detail=exc.detail, code=exc.code, errors=exc.errors)
        return Response(body, status=exc.status_code)
    if isinstance(exc, DjangoValidationError):
        exc = exceptions.ValidationError(as_serializer_error(exc))
    elif isinstance(exc, Http404):
        exc = exceptions.NotFound()
    elif isinstance(exc, DjangoPermissionDenied):
        exc = exceptions.PermissionDenied()
    if not isinstance(exc, exceptions.APIException):
        return None  # a real bug: let Django log it and answer 500 (handler500 keeps the envelope)

    headers = {}
    if getattr(exc, "auth_header", None):
        headers["WWW-Authenticate"] = exc.auth_header
    if getattr(exc, "wait", None):
        headers["Retry-After"] = str(int(exc.wait))

    if isinstance(exc, exceptions.ValidationError):
        errors = _field_errors(exc.detail)
        body = error_body(status=exc.status_code, detail="Invalid input.", code="invalid", errors=errors)
    else:
        codes = exc.get_codes()
        code = codes if isinstance(codes, str) else "error"
        body = error_body(status=exc.status_code, detail=str(exc.detail), code=code)
    return Response(body, status=exc.status_code, headers=headers)


def _wants_json(request) -> bool:
    return request.path.startswith("/api/") or "application/json" in request.headers.get("Accept", "")


def handler404(request, exception=None):
    if _wants_json(request):
        return JsonResponse(error_body(status=404, detail="Not found.", code="not_found"), status=404)
    from django.views.defaults import page_not_found

    return page_not_found(request, exception, template_name="errors/404.html")


def handler500(request):
    if _wants_json(request):
        body = error_body(status=500, detail="Something went wrong on our side.", code="server_error")
        return JsonResponse(body, status=500)
    from django.views.defaults import server_error

    return server_error(request, template_name="errors/500.html")


def handler400(request, exception=None):
    if _wants_json(request):
        return JsonResponse(error_body(status=400, detail="Bad request.", code="bad_request"), status=400)
    from django.views.defaults import bad_request

    return bad_request(request, exception, template_name="errors/400.html")


def handler403(request, exception=None):
    if _wants_json(request):
        body = error_body(status=403, detail="You do not have permission.", code="permission_denied")
        return JsonResponse(body, status=403)
    from django.views.defaults import permission_denied

    return permission_denied(request, exception, template_name="errors/403.html")
