"""Knowledge reads. A knowledge base is visible to the members of its organisation (and to operators);
anything of another organisation is a 404."""

from django.db.models import Count, Q, QuerySet
from django.http import Http404

from marketplace.models import Organization
from marketplace.selectors import organization_list_for_user, user_can_manage
from marketplace_ai.models import DocumentStatus, KnowledgeBase, KnowledgeDocument

IN_PROGRESS = (DocumentStatus.PENDING, DocumentStatus.PROCESSING)


def knowledge_base_list_for_user(*, user) -> QuerySet[KnowledgeBase]:
    """Knowledge bases of the user's organisations, with their document counts."""
    return (
        KnowledgeBase.objects.filter(organization__in=organization_list_for_user(user=user))
        .select_related("organization")
        .annotate(
            document_count=Count("documents"),
            indexed_document_count=Count("documents", filter=Q(documents__status=DocumentStatus.INDEXED)),
        )
        .order_by("name", "id")
    )


def knowledge_base_get_for_user(*, user, uuid) -> KnowledgeBase:
    knowledge_base = knowledge_base_list_for_user(user=user).filter(uuid=uuid).first()
    if knowledge_base is None:
        raise Http404
    return knowledge_base


def knowledge_base_get_for_organization(*, organization: Organization, uuid) -> KnowledgeBase:
    """A knowledge base of this organisation (whose visibility the caller has checked), else 404."""
    knowledge_base = (
        KnowledgeBase.objects.filter(organization=organization, uuid=uuid)
        .select_related("organization")
        .first()
    )
    if knowledge_base is None:
        raise Http404
    return knowledge_base


def knowledge_base_user_can_manage(*, user, knowledge_base: KnowledgeBase) -> bool:
    """Owners and managers add and remove documents; members may look and test retrieval."""
    return user_can_manage(user=user, organization=knowledge_base.organization)


def document_list_for_knowledge_base(*, knowledge_base: KnowledgeBase) -> QuerySet[KnowledgeDocument]:
    return knowledge_base.documents.select_related("knowledge_base").order_by("-created_at", "-id")


def document_list_for_user(*, user) -> QuerySet[KnowledgeDocument]:
    return (
        KnowledgeDocument.objects.filter(
            knowledge_base__organization__in=organization_list_for_user(user=user)
        )
        .select_related("knowledge_base__organization")
        .order_by("-created_at", "-id")
    )


def document_get_for_user(*, user, uuid) -> KnowledgeDocument:
    document = document_list_for_user(user=user).filter(uuid=uuid).first()
    if document is None:
        raise Http404
    return document


def document_get_for_knowledge_base(*, knowledge_base: KnowledgeBase, uuid) -> KnowledgeDocument:
    document = document_list_for_knowledge_base(knowledge_base=knowledge_base).filter(uuid=uuid).first()
    if document is None:
        raise Http404
    return document


def documents_in_progress(documents) -> bool:
    """Whether any of these documents is still waiting or processing (the page keeps polling while so)."""
    return any(document.status in IN_PROGRESS for document in documents)
