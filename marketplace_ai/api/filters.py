import django_filters

from marketplace_ai.models import DocumentStatus, KnowledgeDocument


class KnowledgeDocumentFilter(django_filters.FilterSet):
    knowledge_base_uuid = django_filters.UUIDFilter(field_name="knowledge_base__uuid")
    status = django_filters.ChoiceFilter(choices=DocumentStatus.choices)

    class Meta:
        model = KnowledgeDocument
        fields = ("knowledge_base_uuid", "status")
