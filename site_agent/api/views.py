"""Buyer agent config API: `/api/customer-agent-configs/` with keys, usage, widget and training documents.

Reads go through selectors (another organisation's config, key or document is a 404); changes go through
services. Members read; owners and managers change (403 otherwise); operators may do everything.
"""

import uuid as uuid_module

from django.http import Http404
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema, extend_schema_view
from rest_framework import mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.parsers import FormParser, JSONParser, MultiPartParser
from rest_framework.permissions import IsAuthenticated
from rest_framework.response import Response

from cmp.errors import ApplicationError, ConflictError
from marketplace.api.serializers import ErrorOutputSerializer
from marketplace_ai.api.serializers import KnowledgeDocumentOutputSerializer
from marketplace_ai.models import KnowledgeDocument
from marketplace_ai.selectors import document_list_for_knowledge_base
from marketplace_ai.services import document_add_qa, document_add_url, document_upload_file
from site_agent import selectors
from site_agent.api import serializers as s
from site_agent.api.filters import ConfigFilter
from site_agent.api.permissions import IsConfigManagerOrReadOnly
from site_agent.models import CustomerAgentConfig
from site_agent.services.api_keys import api_key_create, api_key_revoke, api_key_rotate
from site_agent.services.configs import config_change_version, config_set_logo, config_update

NO_STORE = {"Cache-Control": "no-store"}
KEY_UUID = OpenApiParameter(
    "key_uuid", type=str, location=OpenApiParameter.PATH, description="The key's uuid."
)


def errors(*statuses: int) -> dict:
    return {code: OpenApiResponse(ErrorOutputSerializer, description="Error envelope.") for code in statuses}


@extend_schema_view(
    list=extend_schema(summary="Your organisations' agents (buyer configs)"),
    retrieve=extend_schema(
        summary="An agent config", responses={200: s.ConfigOutputSerializer, **errors(404)}
    ),
)
class CustomerAgentConfigViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    lookup_field = "uuid"
    permission_classes = [IsAuthenticated, IsConfigManagerOrReadOnly]
    serializer_class = s.ConfigOutputSerializer
    filterset_class = ConfigFilter
    parser_classes = [JSONParser]

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):  # schema generation
            return CustomerAgentConfig.objects.none()
        return selectors.config_list_for_user(user=self.request.user)

    def get_object(self) -> CustomerAgentConfig:
        config = selectors.config_get_for_user(user=self.request.user, uuid=self.kwargs["uuid"])
        self.check_object_permissions(self.request, config)
        return config

    def validated(self, serializer_class, data=None) -> dict:
        serializer = serializer_class(data=self.request.data if data is None else data)
        serializer.is_valid(raise_exception=True)
        return dict(serializer.validated_data)

    def config_output(self, config: CustomerAgentConfig) -> Response:
        config = selectors.config_get_for_user(user=self.request.user, uuid=config.uuid)
        return Response(s.ConfigOutputSerializer(config).data)

    def paginated(self, queryset, serializer_class) -> Response:
        page = self.paginate_queryset(queryset)
        return self.get_paginated_response(serializer_class(page, many=True).data)

    # --- Settings ----------------------------------------------------------------------------------

    @extend_schema(
        summary="Change persona, branding or widget settings",
        description="Send only the fields to change. An unknown field is a 400 naming it; a cancelled "
        "agent's settings are read-only (409).",
        request=s.ConfigUpdateInputSerializer,
        responses={200: s.ConfigOutputSerializer, **errors(400, 403, 404, 409)},
    )
    def partial_update(self, request, *args, **kwargs):
        config = self.get_object()
        if not isinstance(request.data, dict):
            raise ApplicationError("Send a JSON object with the fields to change.")
        config_update(config=config, actor=request.user, data=dict(request.data))
        return self.config_output(config)

    @extend_schema(
        summary="Upload the agent's logo (shown in the chat widget)",
        request={"multipart/form-data": s.ConfigLogoInputSerializer},
        responses={200: s.ConfigOutputSerializer, **errors(400, 403, 404, 409)},
    )
    @action(detail=True, methods=["post"], parser_classes=[MultiPartParser])
    def logo(self, request, *args, **kwargs):
        config = self.get_object()
        data = self.validated(s.ConfigLogoInputSerializer)
        config_set_logo(config=config, actor=request.user, logo=data["logo"])
        return self.config_output(config)

    @extend_schema(
        summary="Move the agent to another version of it (by default the seller's current one)",
        description="The runtime flow is redeployed in the background; the previous version keeps answering "
        "until it is replaced (follow `deployment_state`). Asking for the version the agent already runs "
        "changes nothing. A cancelled agent is read-only (409).",
        request=s.ConfigVersionInputSerializer,
        responses={200: s.ConfigOutputSerializer, **errors(400, 403, 404, 409)},
    )
    @action(detail=True, methods=["post"])
    def version(self, request, *args, **kwargs):
        config = self.get_object()
        label = self.validated(s.ConfigVersionInputSerializer)["version"].strip()
        version = selectors.agent_version_find(agent_id=config.agent_id, label=label)
        if version is None:
            raise ApplicationError(
                f"This agent has no version {label or 'to move to'}.",
                errors={"version": ["No such version of this agent."]},
            )
        config_change_version(config=config, version=version, actor=request.user)
        return self.config_output(config)

    # --- API keys -------------------------------------------------------------------------------------

    @extend_schema(
        methods=["GET"],
        summary="The agent's API keys (never the keys themselves)",
        responses={200: s.ApiKeyOutputSerializer(many=True), **errors(404)},
    )
    @extend_schema(
        methods=["POST"],
        summary="Create an API key: the secret is in this response only",
        request=s.ApiKeyCreateInputSerializer,
        responses={201: s.ApiKeyCreatedOutputSerializer, **errors(400, 403, 404, 409)},
    )
    @action(detail=True, methods=["get", "post"], pagination_class=None)
    def keys(self, request, *args, **kwargs):
        config = self.get_object()
        if request.method == "GET":
            api_keys = selectors.api_key_list_for_config(config=config)
            return Response(s.ApiKeyOutputSerializer(api_keys, many=True).data)
        data = self.validated(s.ApiKeyCreateInputSerializer)
        api_key, plaintext = api_key_create(
            config=config, name=data["name"], expires_at=data.get("expires_at"), actor=request.user
        )
        return self._created_key(api_key, plaintext)

    def _created_key(self, api_key, plaintext: str) -> Response:
        body = s.ApiKeyCreatedOutputSerializer(api_key, context={"plaintext": plaintext}).data
        return Response(body, status=status.HTTP_201_CREATED, headers=NO_STORE)

    def _api_key(self, config: CustomerAgentConfig):
        try:
            key_uuid = uuid_module.UUID(self.kwargs["key_uuid"])
        except ValueError as error:
            raise Http404 from error
        return selectors.api_key_get_for_config(config=config, uuid=key_uuid)

    @extend_schema(
        summary="Revoke an API key: refused from the next request on",
        parameters=[KEY_UUID],
        request=None,
        responses={200: s.ApiKeyOutputSerializer, **errors(403, 404, 409)},
    )
    @action(detail=True, methods=["post"], url_path=r"keys/(?P<key_uuid>[^/.]+)/revoke")
    def revoke_key(self, request, *args, **kwargs):
        config = self.get_object()
        api_key = api_key_revoke(api_key=self._api_key(config), actor=request.user)
        return Response(s.ApiKeyOutputSerializer(api_key).data)

    @extend_schema(
        summary="Rotate an API key: the old one stops now, the new secret is in this response only",
        parameters=[KEY_UUID],
        request=None,
        responses={201: s.ApiKeyCreatedOutputSerializer, **errors(403, 404, 409)},
    )
    @action(detail=True, methods=["post"], url_path=r"keys/(?P<key_uuid>[^/.]+)/rotate")
    def rotate_key(self, request, *args, **kwargs):
        config = self.get_object()
        api_key, plaintext = api_key_rotate(api_key=self._api_key(config), actor=request.user)
        return self._created_key(api_key, plaintext)

    # --- Usage and widget -----------------------------------------------------------------------------

    @extend_schema(
        summary="Daily usage and the current quota period",
        parameters=[s.UsageQueryInputSerializer],
        responses={200: s.UsageSummaryOutputSerializer, **errors(400, 404)},
    )
    @action(detail=True, methods=["get"])
    def usage(self, request, *args, **kwargs):
        config = self.get_object()
        days = self.validated(s.UsageQueryInputSerializer, data=request.query_params)["days"]
        summary = selectors.config_usage_summary(config=config, days=days)
        return Response(s.UsageSummaryOutputSerializer(summary).data)

    @extend_schema(
        summary="The widget's embed code and settings",
        responses={200: s.WidgetOutputSerializer, **errors(404)},
    )
    @action(detail=True, methods=["get"])
    def widget(self, request, *args, **kwargs):
        config = self.get_object()
        body = {
            "widget_id": config.widget_id,
            "embed_code": selectors.config_embed_code(config=config),
            "script_url": selectors.widget_script_url(),
            "allowed_domains": config.allowed_domains,
            "branding": {
                "agent_name": config.agent_name,
                "greeting": config.greeting,
                "primary_colour": config.primary_colour,
                "logo_url": config.logo.url if config.logo else None,
                "widget_position": config.widget_position,
                "theme": config.theme,
            },
        }
        return Response(s.WidgetOutputSerializer(body).data)

    # --- Training documents ---------------------------------------------------------------------------

    @extend_schema(
        methods=["GET"],
        summary="The agent's training documents, newest first",
        responses={200: KnowledgeDocumentOutputSerializer(many=True), **errors(404)},
    )
    @extend_schema(
        methods=["POST"],
        summary="Add a training document: a file (multipart), questions and answers, or a web page",
        description=(
            "Exactly one of `file` (PDF, DOCX, TXT, Markdown or HTML, checked by content, at most 50 MB), "
            "`qa_pairs` (a list of {question, answer}) or `url`. Processed in the background: follow "
            "`status` and `progress`. 201 for a new document; 200 with the existing one when the same "
            "content is already there."
        ),
        request={
            "multipart/form-data": s.ConfigDocumentCreateInputSerializer,
            "application/json": s.ConfigDocumentCreateInputSerializer,
        },
        responses={
            201: KnowledgeDocumentOutputSerializer,
            200: OpenApiResponse(KnowledgeDocumentOutputSerializer, description="Already there."),
            **errors(400, 403, 404, 409),
        },
    )
    @action(
        detail=True,
        methods=["get", "post"],
        url_path="training_documents",
        parser_classes=[JSONParser, MultiPartParser, FormParser],
    )
    def training_documents(self, request, *args, **kwargs):
        config = self.get_object()
        knowledge_base = config.knowledge_base
        if request.method == "GET":
            if knowledge_base is None:
                return self.paginated(KnowledgeDocument.objects.none(), KnowledgeDocumentOutputSerializer)
            documents = document_list_for_knowledge_base(knowledge_base=knowledge_base)
            return self.paginated(documents, KnowledgeDocumentOutputSerializer)
        data = self.validated(s.ConfigDocumentCreateInputSerializer)
        if knowledge_base is None:
            raise ConflictError("This agent has no knowledge base yet.", code="no_knowledge_base")
        if "file" in data:
            document, created = document_upload_file(
                knowledge_base=knowledge_base, uploaded_file=data["file"], actor=request.user
            )
        elif "qa_pairs" in data:
            document, created = document_add_qa(
                knowledge_base=knowledge_base,
                qa_pairs=data["qa_pairs"],
                name=data.get("name", ""),
                actor=request.user,
            )
        else:
            document, created = document_add_url(
                knowledge_base=knowledge_base, url=data["url"], name=data.get("name", ""), actor=request.user
            )
        document = document_list_for_knowledge_base(knowledge_base=knowledge_base).get(pk=document.pk)
        return Response(
            KnowledgeDocumentOutputSerializer(document).data,
            status=status.HTTP_201_CREATED if created else status.HTTP_200_OK,
        )
