"""Django admin for knowledge: operators look at knowledge bases and documents, and re-index failed ones.

Buyers add and delete documents on their own pages; nothing here edits one. Chunks have no admin: there are
many per document, and a document's page gives its chunk count.
"""

from django.contrib import admin, messages
from django.core.exceptions import ObjectDoesNotExist
from django.db.models import Count, Q, Sum
from django.template.defaultfilters import filesizeformat
from django.urls import reverse
from django.utils.html import format_html

from cmp.admin import ActionsOnlyMixin
from marketplace_ai.errors import ApplicationError
from marketplace_ai.models import DocumentStatus, KnowledgeBase, KnowledgeDocument
from marketplace_ai.services import document_retry

# The buyer config owning a knowledge base lives in site_agent, above this app: it is reached through the
# reverse relation and linked by admin URL name, never imported.
CONFIG_CHANGE_URL = "admin:site_agent_customeragentconfig_change"


def _config_of(knowledge_base: KnowledgeBase):
    try:
        return knowledge_base.agent_config
    except ObjectDoesNotExist:
        return None


@admin.register(KnowledgeBase)
class KnowledgeBaseAdmin(ActionsOnlyMixin, admin.ModelAdmin):
    list_display = (
        "name",
        "organization",
        "config_link",
        "backend",
        "document_count",
        "failed_count",
        "chunk_total",
        "archived_at",
        "created_at",
    )
    list_filter = ("backend", ("archived_at", admin.EmptyFieldListFilter), "created_at")
    list_select_related = ("organization", "agent_config")
    search_fields = ("name", "organization__name", "=uuid", "ragflow_dataset_id", "=agent_config__uuid")
    fields = (
        "uuid",
        "name",
        "organization",
        "config_link",
        "backend",
        "ragflow_dataset_id",
        "chunk_token_count",
        "chunk_overlap_tokens",
        "documents",
        "archived_at",
        "created_at",
        "updated_at",
    )
    readonly_fields = fields
    date_hierarchy = "created_at"

    def get_queryset(self, request):
        return (
            super()
            .get_queryset(request)
            .annotate(
                document_count=Count("documents"),
                failed_count=Count("documents", filter=Q(documents__status=DocumentStatus.FAILED)),
                chunk_total=Sum("documents__chunk_count"),
            )
        )

    @admin.display(description="Agent config")
    def config_link(self, knowledge_base: KnowledgeBase) -> str:
        config = _config_of(knowledge_base)
        if config is None:
            return "-"
        return format_html(
            '<a href="{}">{}</a>', reverse(CONFIG_CHANGE_URL, args=[config.pk]), config.agent_name
        )

    @admin.display(description="Documents", ordering="document_count")
    def document_count(self, knowledge_base: KnowledgeBase) -> int:
        return knowledge_base.document_count

    @admin.display(description="Failed", ordering="failed_count")
    def failed_count(self, knowledge_base: KnowledgeBase) -> int:
        return knowledge_base.failed_count

    @admin.display(description="Chunks", ordering="chunk_total")
    def chunk_total(self, knowledge_base: KnowledgeBase) -> int:
        return knowledge_base.chunk_total or 0

    @admin.display(description="Documents")
    def documents(self, knowledge_base: KnowledgeBase) -> str:
        url = reverse("admin:marketplace_ai_knowledgedocument_changelist")
        return format_html(
            '<a href="{}?knowledge_base__id__exact={}">{} document(s)</a>',
            url,
            knowledge_base.pk,
            knowledge_base.document_count,
        )


def _retry_skip_reason(document: KnowledgeDocument) -> str:
    if document.status != DocumentStatus.FAILED:
        return f"it is {document.get_status_display().lower()}; only failed documents are re-indexed."
    return ""


@admin.register(KnowledgeDocument)
class KnowledgeDocumentAdmin(ActionsOnlyMixin, admin.ModelAdmin):
    list_display = (
        "name",
        "knowledge_base",
        "organization",
        "source",
        "status",
        "progress_percent",
        "size",
        "chunk_count",
        "attempts",
        "error_excerpt",
        "indexed_at",
        "created_at",
    )
    list_filter = ("status", "source", "knowledge_base__backend", "created_at")
    list_select_related = ("knowledge_base__organization",)
    search_fields = (
        "name",
        "url",
        "=uuid",
        "knowledge_base__name",
        "knowledge_base__organization__name",
        "=knowledge_base__uuid",
    )
    fieldsets = (
        (None, {"fields": ("uuid", "name", "knowledge_base", "source", "file", "url", "mime_type", "size")}),
        (
            "Processing",
            {
                "fields": (
                    "status",
                    "progress_percent",
                    "attempts",
                    "error_message",
                    "chunk_count",
                    "ragflow_document_id",
                    "indexed_at",
                )
            },
        ),
        (None, {"fields": ("content_sha256", "created_at", "updated_at")}),
    )
    readonly_fields = (
        "uuid",
        "name",
        "knowledge_base",
        "source",
        "file",
        "url",
        "mime_type",
        "size",
        "status",
        "progress_percent",
        "attempts",
        "error_message",
        "chunk_count",
        "ragflow_document_id",
        "indexed_at",
        "content_sha256",
        "created_at",
        "updated_at",
    )
    date_hierarchy = "created_at"
    actions = ("reindex_failed",)

    @admin.display(description="Organisation", ordering="knowledge_base__organization__name")
    def organization(self, document: KnowledgeDocument):
        return document.knowledge_base.organization

    @admin.display(description="Progress", ordering="progress")
    def progress_percent(self, document: KnowledgeDocument) -> str:
        return f"{document.progress:.0%}"

    @admin.display(description="Size", ordering="size_bytes")
    def size(self, document: KnowledgeDocument) -> str:
        return filesizeformat(document.size_bytes)

    @admin.display(description="Error")
    def error_excerpt(self, document: KnowledgeDocument) -> str:
        message = document.error_message
        return message if len(message) <= 80 else f"{message[:79]}…"

    @admin.action(description="Re-index failed documents", permissions=["change"])
    def reindex_failed(self, request, queryset) -> None:
        succeeded: list[str] = []
        for document in queryset.select_related("knowledge_base"):
            reason = _retry_skip_reason(document)
            if reason:
                self.message_user(request, f"Skipped “{document}”: {reason}", messages.WARNING)
                continue
            try:
                document_retry(document=document, actor=request.user)
            except ApplicationError as error:
                self.message_user(request, f"“{document}” was not changed: {error.detail}", messages.ERROR)
            else:
                succeeded.append(f"“{document}”")
        if succeeded:
            self.message_user(request, f"Queued for indexing: {', '.join(succeeded)}.", messages.SUCCESS)
