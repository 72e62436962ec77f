"""Knowledge bases: one per buyer agent config, indexed by the built-in backend or by RAGFlow."""

import logging

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from marketplace.models import Organization
from marketplace_ai.errors import ConflictError
from marketplace_ai.models import KnowledgeBase, RetrievalBackend

logger = logging.getLogger(__name__)


def _default_backend() -> str:
    return RetrievalBackend.RAGFLOW if settings.RAGFLOW_BASE_URL else RetrievalBackend.BUILTIN


def knowledge_base_create(*, organization: Organization, name: str) -> KnowledgeBase:
    """A new, empty knowledge base. With RAGFlow configured, its RAGFlow dataset is created by the worker
    when the first document is indexed, so creating one never waits on (or fails with) RAGFlow."""
    return KnowledgeBase.objects.create(
        organization=organization, name=name.strip()[:150] or "Knowledge", backend=_default_backend()
    )


def ragflow_dataset_name(knowledge_base: KnowledgeBase) -> str:
    """Unique, and valid under every RAGFlow version's naming rules (letters, digits, underscores)."""
    return f"cmp_{knowledge_base.uuid.hex}"


def check_open(knowledge_base: KnowledgeBase) -> None:
    if knowledge_base.archived_at is not None:
        raise ConflictError("This knowledge base is archived and can no longer change.", code="archived")


@transaction.atomic
def knowledge_base_archive(*, knowledge_base: KnowledgeBase, actor=None) -> KnowledgeBase:
    """Make a knowledge base read-only and empty: its documents and chunks are removed from the index
    (and its dataset from RAGFlow, after commit). Archiving twice changes nothing."""
    from marketplace_ai.tasks import ragflow_dataset_delete_task

    knowledge_base = KnowledgeBase.objects.select_for_update().get(pk=knowledge_base.pk)
    if knowledge_base.archived_at is not None:
        return knowledge_base
    files = [document.file.name for document in knowledge_base.documents.exclude(file="")]
    knowledge_base.documents.all().delete()
    dataset_id = knowledge_base.ragflow_dataset_id
    knowledge_base.archived_at = timezone.now()
    knowledge_base.ragflow_dataset_id = ""
    knowledge_base.save(update_fields=["archived_at", "ragflow_dataset_id", "updated_at"])
    logger.info("Knowledge base %s archived by %s", knowledge_base.uuid, actor)

    def cleanup() -> None:
        from django.core.files.storage import default_storage

        for name in files:
            default_storage.delete(name)
        if dataset_id:
            ragflow_dataset_delete_task.delay(dataset_id)

    transaction.on_commit(cleanup)
    return knowledge_base
