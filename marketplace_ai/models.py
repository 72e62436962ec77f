"""Knowledge: knowledge bases, their documents and the chunks retrieval ranks."""

from django.contrib.postgres.indexes import GinIndex
from django.contrib.postgres.search import SearchVectorField
from django.db import models

from cmp.models import PublicModel


class RetrievalBackend(models.TextChoices):
    BUILTIN = "builtin", "Built-in (PostgreSQL)"
    RAGFLOW = "ragflow", "RAGFlow"


class KnowledgeBase(PublicModel):
    """The documents an organisation gives one agent to answer from."""

    organization = models.ForeignKey(
        "marketplace.Organization", on_delete=models.PROTECT, related_name="knowledge_bases"
    )
    name = models.CharField(max_length=150)
    backend = models.CharField(
        max_length=16, choices=RetrievalBackend.choices, default=RetrievalBackend.BUILTIN
    )
    ragflow_dataset_id = models.CharField(max_length=64, blank=True)
    chunk_token_count = models.PositiveIntegerField(default=256)
    chunk_overlap_tokens = models.PositiveIntegerField(default=32)
    archived_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["name"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(backend__in=RetrievalBackend.values), name="knowledge_base_backend_valid"
            ),
        ]

    def __str__(self) -> str:
        return self.name


class DocumentSource(models.TextChoices):
    FILE = "file", "File"
    QA = "qa", "Questions and answers"
    URL = "url", "Web page"


class DocumentStatus(models.TextChoices):
    PENDING = "pending", "Waiting"
    PROCESSING = "processing", "Processing"
    INDEXED = "indexed", "Indexed"
    FAILED = "failed", "Failed"


class KnowledgeDocument(PublicModel):
    """One training document. Parsed, chunked and indexed by the ingestion pipeline."""

    knowledge_base = models.ForeignKey(KnowledgeBase, on_delete=models.CASCADE, related_name="documents")
    name = models.CharField(max_length=255)
    source = models.CharField(max_length=8, choices=DocumentSource.choices)
    file = models.FileField(upload_to="knowledge/%Y/%m/", blank=True)
    url = models.URLField(max_length=2000, blank=True)
    mime_type = models.CharField(max_length=100, blank=True)
    size_bytes = models.PositiveBigIntegerField(default=0)
    content_sha256 = models.CharField(
        max_length=64, help_text="Same content in one knowledge base: indexed once."
    )
    status = models.CharField(max_length=12, choices=DocumentStatus.choices, default=DocumentStatus.PENDING)
    progress = models.FloatField(default=0.0, help_text="0 to 1.")
    error_message = models.TextField(blank=True)
    attempts = models.PositiveSmallIntegerField(default=0)
    chunk_count = models.PositiveIntegerField(default=0)
    ragflow_document_id = models.CharField(max_length=64, blank=True)
    indexed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["knowledge_base", "content_sha256"], name="document_unique_content_per_knowledge_base"
            ),
            models.CheckConstraint(
                condition=models.Q(status__in=DocumentStatus.values), name="document_status_valid"
            ),
            models.CheckConstraint(
                condition=models.Q(progress__gte=0, progress__lte=1), name="document_progress_range"
            ),
        ]

    def __str__(self) -> str:
        return self.name


class Chunk(models.Model):
    """A passage of a document, ranked by built-in retrieval (full-text search over `search_vector`)."""

    knowledge_base = models.ForeignKey(KnowledgeBase, on_delete=models.CASCADE, related_name="chunks")
    document = models.ForeignKey(KnowledgeDocument, on_delete=models.CASCADE, related_name="chunks")
    position = models.PositiveIntegerField()
    text = models.TextField()
    token_count = models.PositiveIntegerField()
    search_vector = SearchVectorField(null=True, editable=False)

    class Meta:
        ordering = ["document_id", "position"]
        indexes = [
            GinIndex(fields=["search_vector"], name="chunk_search_gin"),
            models.Index(fields=["knowledge_base", "document"], name="chunk_knowledge_base_document"),
        ]
        constraints = [
            models.UniqueConstraint(fields=["document", "position"], name="chunk_unique_position"),
        ]

    def __str__(self) -> str:
        return f"{self.document_id}#{self.position}"
