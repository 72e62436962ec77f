"""Chat API: `/api/chat/<config>/messages` (secret key or widget session), `/api/widget/session`, and the
"try before buying" demo `/api/offerings/<offering>/demo-chat`.

The views read the request (credential, Origin, client address, streaming or not), call the gateway and
shape the answer: JSON, or server-sent events (`event: token`, `event: end`, `event: error`). They add CORS
headers only for pages on the config's allowed domains; the rules live in runtime_bridge.gateway.
"""

import json

from django.conf import settings
from django.http import HttpResponse, StreamingHttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema, inline_serializer
from rest_framework import serializers, status
from rest_framework.permissions import AllowAny
from rest_framework.renderers import BaseRenderer, JSONRenderer
from rest_framework.response import Response
from rest_framework.views import APIView

from cmp.serializers import InputSerializer
from runtime_bridge import gateway

CORS_ALLOW_HEADERS = "Authorization, Content-Type, Accept"
CORS_MAX_AGE = "600"


class EventStreamRenderer(BaseRenderer):
    """Lets clients ask for `Accept: text/event-stream`; the body is written by the view's generator."""

    media_type = "text/event-stream"
    format = "event-stream"
    charset = "utf-8"

    def render(self, data, accepted_media_type=None, renderer_context=None):
        return json.dumps(data).encode()


class ChatInputSerializer(InputSerializer):
    input = serializers.CharField(max_length=gateway.MAX_INPUT_CHARS, trim_whitespace=True)
    session_id = serializers.RegexField(
        gateway.SESSION_ID, required=False, allow_blank=True, default="", max_length=100
    )


class UsageOutputSerializer(serializers.Serializer):
    api_calls = serializers.IntegerField()
    tokens_input = serializers.IntegerField()
    tokens_output = serializers.IntegerField()
    tokens_estimated = serializers.BooleanField()


class ChatOutputSerializer(serializers.Serializer):
    output = serializers.CharField()
    session_id = serializers.CharField()
    request_id = serializers.CharField()
    usage = UsageOutputSerializer()


class DemoChatOutputSerializer(ChatOutputSerializer):
    demo = inline_serializer(
        "DemoAllowance", fields={"remaining": serializers.IntegerField(), "limit": serializers.IntegerField()}
    )


class WidgetSessionInputSerializer(InputSerializer):
    widget_id = serializers.CharField(max_length=40, required=False)
    session_id = serializers.CharField(max_length=32, required=False, allow_blank=True, default="")


class WidgetSessionOutputSerializer(serializers.Serializer):
    token = serializers.CharField()
    session_id = serializers.CharField()
    expires_in = serializers.IntegerField()
    config_uuid = serializers.UUIDField()
    widget = inline_serializer(
        "WidgetPublicConfig",
        fields={
            "agent_name": serializers.CharField(),
            "greeting": serializers.CharField(),
            "primary_colour": serializers.CharField(),
            "position": serializers.CharField(),
            "theme": serializers.CharField(),
            "logo_url": serializers.URLField(allow_null=True),
        },
    )


def client_ip(request) -> str:
    """The visitor's address: the connection's, or the one the trusted proxies saw (X-Forwarded-For)."""
    proxies = settings.TRUSTED_PROXY_COUNT
    if proxies > 0:
        hops = [hop.strip() for hop in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",") if hop.strip()]
        if len(hops) >= proxies:
            return hops[-proxies]
    return request.META.get("REMOTE_ADDR", "")


def wants_stream(request) -> bool:
    if request.query_params.get("stream", "").lower() in ("1", "true", "yes"):
        return True
    return "text/event-stream" in request.headers.get("Accept", "")


def _sse(event: str, data) -> bytes:
    return f"event: {event}\ndata: {json.dumps(data)}\n\n".encode()


def event_stream(events, *, extra: dict | None = None):
    """Server-sent events for a gateway stream: each token, then `end` with the full reply, or `error`."""
    for event in events:
        if event.kind == "token":
            yield _sse("token", {"text": event.text})
        elif event.kind == "end":
            reply = event.reply
            body = {
                "output": reply.output,
                "session_id": reply.session_id,
                "request_id": reply.request_id,
                "usage": reply.usage.as_dict(),
                **(extra or {}),
            }
            yield _sse("end", body)
        else:
            yield _sse("error", {"detail": event.text, "code": "runtime_unavailable"})


def streaming_response(events, *, extra: dict | None = None) -> StreamingHttpResponse:
    response = StreamingHttpResponse(event_stream(events, extra=extra), content_type="text/event-stream")
    response["Cache-Control"] = "no-cache"
    response["X-Accel-Buffering"] = "no"  # nginx: pass each event through at once
    return response


def reply_body(reply: gateway.ChatReply) -> dict:
    return {
        "output": reply.output,
        "session_id": reply.session_id,
        "request_id": reply.request_id,
        "usage": reply.usage.as_dict(),
    }


class GatewayView(APIView):
    """No session or token authentication (the gateway checks its own credentials, so no CSRF either);
    errors always leave as JSON in the envelope, with Retry-After on a 429."""

    authentication_classes: list = []
    permission_classes = [AllowAny]
    renderer_classes = [JSONRenderer, EventStreamRenderer]

    def handle_exception(self, exc):
        response = super().handle_exception(exc)
        retry_after = getattr(exc, "retry_after", None)
        if retry_after:
            response["Retry-After"] = str(retry_after)
        return response

    def finalize_response(self, request, response, *args, **kwargs):
        if isinstance(response, Response):
            request.accepted_renderer, request.accepted_media_type = JSONRenderer(), "application/json"
        return super().finalize_response(request, response, *args, **kwargs)


def cors(response, origin: str):
    """Grant a page on an allowed domain access to this response; every other origin gets no grant."""
    if origin:
        response["Access-Control-Allow-Origin"] = origin
        response["Access-Control-Expose-Headers"] = "Retry-After"
    vary = response.get("Vary")
    response["Vary"] = f"{vary}, Origin" if vary and "Origin" not in vary else (vary or "Origin")
    return response


def preflight(origin: str, allowed: bool) -> HttpResponse:
    if not allowed:
        return cors(HttpResponse(status=status.HTTP_403_FORBIDDEN), "")
    response = HttpResponse(status=status.HTTP_204_NO_CONTENT)
    response["Access-Control-Allow-Methods"] = "POST, OPTIONS"
    response["Access-Control-Allow-Headers"] = CORS_ALLOW_HEADERS
    response["Access-Control-Max-Age"] = CORS_MAX_AGE
    return cors(response, origin)


CHAT_RESPONSES = {
    200: ChatOutputSerializer,
    (200, "text/event-stream"): OpenApiTypes.STR,
    400: OpenApiTypes.OBJECT,
    401: OpenApiTypes.OBJECT,
    403: OpenApiTypes.OBJECT,
    404: OpenApiTypes.OBJECT,
    429: OpenApiTypes.OBJECT,
    503: OpenApiTypes.OBJECT,
}
STREAM_PARAMETER = OpenApiParameter(
    "stream", bool, description="true: answer with server-sent events (or send Accept: text/event-stream)."
)


class ChatMessagesView(GatewayView):
    """Send a message to a buyer's agent: `Authorization: Bearer ar_sk_live_...` (or `X-API-Key`) from a
    server, or `Authorization: Widget <session token>` from a page on the agent's allowed domains."""

    def _widget_token(self, request) -> str:
        scheme, _, token = request.headers.get("Authorization", "").partition(" ")
        return token.strip() if scheme.lower() == "widget" else ""

    def _cors_origin(self, request, config_uuid) -> str:
        """The Origin to grant, for widget calls from an allowed page only."""
        origin = request.headers.get("Origin", "")
        if not origin or not self._widget_token(request):
            return ""
        domains = gateway.widget_allowed_domains(config_uuid=config_uuid)
        return origin if domains and gateway.origin_is_allowed(origin=origin, allowed_domains=domains) else ""

    def options(self, request, *args, **kwargs):
        origin = request.headers.get("Origin", "")
        domains = gateway.widget_allowed_domains(config_uuid=kwargs["config_uuid"]) or []
        return preflight(origin, gateway.origin_is_allowed(origin=origin, allowed_domains=domains))

    def _caller(self, request, config_uuid) -> gateway.Caller:
        widget_token = self._widget_token(request)
        if widget_token:
            return gateway.chat_caller_from_widget(
                config_uuid=config_uuid,
                token=widget_token,
                origin=request.headers.get("Origin", ""),
                client_ip=client_ip(request),
            )
        scheme, _, token = request.headers.get("Authorization", "").partition(" ")
        key = token.strip() if scheme.lower() == "bearer" else request.headers.get("X-API-Key", "").strip()
        if not key:
            raise gateway.InvalidCredential(
                "Send an API key (Authorization: Bearer ar_sk_live_...) or a widget session.",
                code="not_authenticated",
            )
        return gateway.chat_caller_from_key(config_uuid=config_uuid, key=key, client_ip=client_ip(request))

    @extend_schema(
        operation_id="chat_message_send",
        request=ChatInputSerializer,
        responses=CHAT_RESPONSES,
        parameters=[STREAM_PARAMETER],
        auth=[{"apiKey": []}, {"widgetSession": []}],
    )
    def post(self, request, config_uuid):
        caller = self._caller(request, str(config_uuid))
        data = ChatInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        prepared = gateway.chat_prepare(
            caller=caller, message=data.validated_data["input"], session_id=data.validated_data["session_id"]
        )
        if wants_stream(request):
            return streaming_response(gateway.chat_stream(prepared=prepared))
        reply = gateway.chat_run(prepared=prepared, record=False)
        response = Response(ChatOutputSerializer(reply_body(reply)).data)
        # Recorded once the answer is on its way: the server calls close() after sending the body.
        response._resource_closers.append(lambda: gateway.chat_record(prepared=prepared, reply=reply))
        return response

    def finalize_response(self, request, response, *args, **kwargs):
        response = super().finalize_response(request, response, *args, **kwargs)
        if request.method == "OPTIONS":
            return response
        return cors(response, self._cors_origin(request, kwargs.get("config_uuid")))


class WidgetSessionView(GatewayView):
    """Start a widget conversation from a page on one of the agent's allowed domains: a signed session token
    (valid WIDGET_SESSION_SECONDS) and the widget's public settings. The widget id may also be given as
    `?widget_id=`, which lets a CORS preflight be answered for that widget's domains."""

    def _widget_id(self, request) -> str:
        value = request.query_params.get("widget_id") or (
            request.data.get("widget_id") if isinstance(request.data, dict) else ""
        )
        return value if isinstance(value, str) else ""

    def options(self, request, *args, **kwargs):
        origin = request.headers.get("Origin", "")
        widget_id = request.query_params.get("widget_id", "")
        try:
            config = gateway.widget_config_get(widget_id=widget_id)
        except gateway.NotFoundError:
            return preflight(origin, False)
        return preflight(
            origin, gateway.origin_is_allowed(origin=origin, allowed_domains=config.allowed_domains)
        )

    @extend_schema(
        operation_id="widget_session_start",
        request=WidgetSessionInputSerializer,
        responses={201: WidgetSessionOutputSerializer, 403: OpenApiTypes.OBJECT, 404: OpenApiTypes.OBJECT},
        parameters=[OpenApiParameter("widget_id", str, required=False)],
        auth=[],
    )
    def post(self, request):
        origin = request.headers.get("Origin", "")
        data = WidgetSessionInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        config = gateway.widget_config_get(widget_id=self._widget_id(request))
        if gateway.origin_is_allowed(origin=origin, allowed_domains=config.allowed_domains):
            self.granted_origin = origin  # the page may read the answer, even a refusal
        session = gateway.widget_session_start(
            config=config, origin=origin, session_id=data.validated_data["session_id"]
        )
        response = Response(self._body(request, session), status=status.HTTP_201_CREATED)
        response["Cache-Control"] = "no-store"
        return response

    def finalize_response(self, request, response, *args, **kwargs):
        response = super().finalize_response(request, response, *args, **kwargs)
        if request.method == "OPTIONS":
            return response
        return cors(response, getattr(self, "granted_origin", ""))

    @staticmethod
    def _body(request, session: gateway.WidgetSession) -> dict:
        config = session.config
        body = {
            "token": session.token,
            "session_id": session.session_id,
            "expires_in": session.expires_in,
            "config_uuid": config.uuid,
            "widget": {
                "agent_name": config.agent_name,
                "greeting": config.greeting,
                "primary_colour": config.primary_colour,
                "position": config.widget_position,
                "theme": config.theme,
                "logo_url": request.build_absolute_uri(config.logo.url) if config.logo else None,
            },
        }
        return WidgetSessionOutputSerializer(body).data


class DemoChatView(GatewayView):
    """Try an agent before buying: a few free messages a day per visitor, on the seller's current version,
    with no documents. Anyone may call it, signed in or not."""

    @extend_schema(
        operation_id="offering_demo_chat",
        request=ChatInputSerializer,
        responses={**CHAT_RESPONSES, 200: DemoChatOutputSerializer},
        parameters=[STREAM_PARAMETER],
        auth=[],
    )
    def post(self, request, offering_uuid):
        data = ChatInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        offering = gateway.demo_offering_get(offering_uuid=offering_uuid)
        prepared, allowance = gateway.demo_chat_prepare(
            offering=offering,
            message=data.validated_data["input"],
            session_id=data.validated_data["session_id"],
            client_ip=client_ip(request),
        )
        demo = {"remaining": allowance.remaining, "limit": allowance.limit}
        if wants_stream(request):
            return streaming_response(gateway.chat_stream(prepared=prepared), extra={"demo": demo})
        reply = gateway.demo_chat_run(offering=offering, prepared=prepared)
        return Response(DemoChatOutputSerializer({**reply_body(reply), "demo": demo}).data)
