"""Knowledge REST API: knowledge bases (read, search) and their training documents.

Reads go through selectors: another organisation's knowledge base or document is a 404. Members may
look and search; owners and managers (and operators) add, delete and retry documents, else 403.
"""

from django.http import Http404
from drf_spectacular.utils import OpenApiResponse, extend_schema, extend_schema_view
from rest_framework import mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.parsers import FormParser, JSONParser, MultiPartParser
from rest_framework.permissions import IsAuthenticated
from rest_framework.response import Response

from marketplace_ai import selectors
from marketplace_ai.api import serializers as s
from marketplace_ai.api.filters import KnowledgeDocumentFilter
from marketplace_ai.errors import ForbiddenError, NotFoundError
from marketplace_ai.retrieval import retrieve
from marketplace_ai.services import (
    document_add_qa,
    document_add_url,
    document_delete,
    document_retry,
    document_upload_file,
)


def errors(*statuses: int) -> dict:
    return {
        code: OpenApiResponse(s.KnowledgeErrorOutputSerializer, description="Error envelope.")
        for code in statuses
    }


def _require_manager(user, knowledge_base) -> None:
    if not selectors.knowledge_base_user_can_manage(user=user, knowledge_base=knowledge_base):
        raise ForbiddenError(
            "Only owners and managers of the organisation can change its training documents."
        )


class KnowledgeApiViewSet(viewsets.GenericViewSet):
    lookup_field = "uuid"
    permission_classes = [IsAuthenticated]

    def validated(self, serializer_class) -> dict:
        serializer = serializer_class(data=self.request.data, context=self.get_serializer_context())
        serializer.is_valid(raise_exception=True)
        return dict(serializer.validated_data)


@extend_schema_view(
    list=extend_schema(summary="Knowledge bases of your organisations"),
    retrieve=extend_schema(responses={200: s.KnowledgeBaseOutputSerializer, **errors(404)}),
)
class KnowledgeBaseViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, KnowledgeApiViewSet):
    serializer_class = s.KnowledgeBaseOutputSerializer

    def get_queryset(self):
        return selectors.knowledge_base_list_for_user(user=self.request.user)

    @extend_schema(
        summary="Test retrieval: the passages the agent would be given for a question",
        request=s.KnowledgeSearchInputSerializer,
        responses={200: s.KnowledgeSearchOutputSerializer, **errors(400, 404, 503)},
    )
    @action(detail=True, methods=["post"])
    def search(self, request, *args, **kwargs):
        knowledge_base = self.get_object()
        data = self.validated(s.KnowledgeSearchInputSerializer)
        results = retrieve(knowledge_base=knowledge_base, query=data["query"], top_k=data["top_k"])
        return Response(s.KnowledgeSearchOutputSerializer({"results": results}).data)


@extend_schema_view(
    list=extend_schema(summary="Training documents of your organisations' knowledge bases"),
    retrieve=extend_schema(responses={200: s.KnowledgeDocumentOutputSerializer, **errors(404)}),
    destroy=extend_schema(
        summary="Delete a document and remove it from the index",
        responses={204: None, **errors(403, 404, 409)},
    ),
)
class KnowledgeDocumentViewSet(
    mixins.ListModelMixin, mixins.RetrieveModelMixin, mixins.DestroyModelMixin, KnowledgeApiViewSet
):
    serializer_class = s.KnowledgeDocumentOutputSerializer
    filterset_class = KnowledgeDocumentFilter
    parser_classes = [JSONParser, MultiPartParser, FormParser]

    def get_queryset(self):
        return selectors.document_list_for_user(user=self.request.user)

    @extend_schema(
        summary="Add a training document: a file (multipart), questions and answers, or a web page",
        description=(
            "Send `knowledge_base_uuid` and exactly one of `file` (PDF, DOCX, TXT, Markdown or HTML, checked "
            "by content, at most 50 MB), `qa_pairs` (a list of {question, answer}) or `url`. The document is "
            "processed in the background: follow `status` and `progress`. 201 for a new document; 200 "
            "with the existing document when the same content is already in the knowledge base."
        ),
        request={
            "multipart/form-data": s.KnowledgeDocumentCreateInputSerializer,
            "application/json": s.KnowledgeDocumentCreateInputSerializer,
        },
        responses={
            201: s.KnowledgeDocumentOutputSerializer,
            200: OpenApiResponse(
                s.KnowledgeDocumentOutputSerializer, description="Already in the knowledge base."
            ),
            **errors(400, 403, 404, 409),
        },
    )
    def create(self, request, *args, **kwargs):
        data = self.validated(s.KnowledgeDocumentCreateInputSerializer)
        try:
            knowledge_base = selectors.knowledge_base_get_for_user(
                user=request.user, uuid=data["knowledge_base_uuid"]
            )
        except Http404 as error:
            raise NotFoundError(
                "Knowledge base not found.",
                errors={"knowledge_base_uuid": ["No knowledge base with this id."]},
            ) from error
        _require_manager(request.user, knowledge_base)
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
        document = self.get_queryset().get(pk=document.pk)  # as it is now: processing may have moved it on
        return Response(
            s.KnowledgeDocumentOutputSerializer(document).data,
            status=status.HTTP_201_CREATED if created else status.HTTP_200_OK,
        )

    def perform_destroy(self, instance):
        _require_manager(self.request.user, instance.knowledge_base)
        document_delete(document=instance, actor=self.request.user)

    @extend_schema(
        summary="Process a failed document again",
        request=None,
        responses={200: s.KnowledgeDocumentOutputSerializer, **errors(403, 404, 409)},
    )
    @action(detail=True, methods=["post"])
    def retry(self, request, *args, **kwargs):
        document = self.get_object()
        self.validated(s.KnowledgeEmptyInputSerializer)
        _require_manager(request.user, document.knowledge_base)
        document_retry(document=document, actor=request.user)
        return Response(s.KnowledgeDocumentOutputSerializer(self.get_queryset().get(pk=document.pk)).data)
