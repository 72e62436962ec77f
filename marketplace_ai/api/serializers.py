"""Knowledge API serializers: plain input serializers that refuse unknown fields, explicit outputs."""

from rest_framework import serializers

from cmp.serializers import InputSerializer
from marketplace_ai.models import KnowledgeBase, KnowledgeDocument
from marketplace_ai.retrieval import MAX_TOP_K
from marketplace_ai.services.documents import MAX_ANSWER_LENGTH, MAX_QA_PAIRS, MAX_QUESTION_LENGTH


class KnowledgeErrorOutputSerializer(serializers.Serializer):
    """The error envelope every API error uses."""

    type = serializers.CharField()
    title = serializers.CharField()
    status = serializers.IntegerField()
    detail = serializers.CharField()
    code = serializers.CharField()
    errors = serializers.DictField(child=serializers.ListField(child=serializers.CharField()))


class KnowledgeBaseOutputSerializer(serializers.ModelSerializer):
    organization_uuid = serializers.UUIDField(source="organization.uuid", read_only=True)
    document_count = serializers.IntegerField(read_only=True)
    indexed_document_count = serializers.IntegerField(read_only=True)

    class Meta:
        model = KnowledgeBase
        fields = (
            "uuid",
            "name",
            "organization_uuid",
            "backend",
            "chunk_token_count",
            "chunk_overlap_tokens",
            "document_count",
            "indexed_document_count",
            "archived_at",
            "created_at",
        )
        read_only_fields = fields


class KnowledgeDocumentOutputSerializer(serializers.ModelSerializer):
    knowledge_base_uuid = serializers.UUIDField(source="knowledge_base.uuid", read_only=True)

    class Meta:
        model = KnowledgeDocument
        fields = (
            "uuid",
            "knowledge_base_uuid",
            "name",
            "source",
            "url",
            "mime_type",
            "size_bytes",
            "status",
            "progress",
            "error_message",
            "attempts",
            "chunk_count",
            "created_at",
            "updated_at",
            "indexed_at",
        )
        read_only_fields = fields


class KnowledgeEmptyInputSerializer(InputSerializer):
    """An action that takes no body (any key sent is an error)."""


class QAPairInputSerializer(InputSerializer):
    question = serializers.CharField(max_length=MAX_QUESTION_LENGTH)
    answer = serializers.CharField(max_length=MAX_ANSWER_LENGTH)


class KnowledgeDocumentCreateInputSerializer(InputSerializer):
    """Exactly one of `file` (multipart), `qa_pairs` or `url` (JSON)."""

    knowledge_base_uuid = serializers.UUIDField()
    file = serializers.FileField(required=False, allow_empty_file=True, use_url=False)
    qa_pairs = QAPairInputSerializer(many=True, required=False, allow_empty=False, max_length=MAX_QA_PAIRS)
    url = serializers.CharField(required=False, max_length=2000)
    name = serializers.CharField(required=False, max_length=255, allow_blank=True)

    def validate(self, attrs: dict) -> dict:
        given = [field for field in ("file", "qa_pairs", "url") if field in attrs]
        if len(given) != 1:
            raise serializers.ValidationError("Send exactly one of: file, qa_pairs, url.")
        if "file" in attrs and attrs.get("name"):
            raise serializers.ValidationError({"name": ["A file keeps its own name."]})
        return attrs


class KnowledgeSearchInputSerializer(InputSerializer):
    query = serializers.CharField(max_length=2000)
    top_k = serializers.IntegerField(min_value=1, max_value=MAX_TOP_K, default=5)


class RetrievedChunkOutputSerializer(serializers.Serializer):
    text = serializers.CharField()
    score = serializers.FloatField()
    document_uuid = serializers.UUIDField()
    document_name = serializers.CharField()


class KnowledgeSearchOutputSerializer(serializers.Serializer):
    results = RetrievedChunkOutputSerializer(many=True)
