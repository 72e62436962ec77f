"""The knowledge page: training documents with live progress, upload forms, and a retrieval test box.

The page is at /organizations/<org>/knowledge/<knowledge base>/. Its pieces are includes, so the buyer
agent's Training page can show them too: the actions accept a `next` field to come back to that page.
Members of the organisation may look and test retrieval; owners and managers change documents.
"""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.forms import Form
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_GET, require_POST

from marketplace import selectors as marketplace_selectors
from marketplace_ai import selectors
from marketplace_ai.errors import ApplicationError, RetrievalUnavailable
from marketplace_ai.models import KnowledgeBase
from marketplace_ai.retrieval import retrieve
from marketplace_ai.services import (
    document_add_qa,
    document_add_url,
    document_delete,
    document_retry,
    document_upload_file,
)
from marketplace_ai.web.forms import DocumentFileForm, DocumentQAForm, DocumentUrlForm, SearchForm

PAGE = "marketplace_ai/knowledge_base.html"


def _knowledge_base(request: HttpRequest, organization_uuid, knowledge_base_uuid, *, manage: bool = False):
    """The organisation and knowledge base if the user may see them (else 404) and, for changes, manage
    them (else 403)."""
    organization = marketplace_selectors.organization_get_for_user(user=request.user, uuid=organization_uuid)
    knowledge_base = selectors.knowledge_base_get_for_organization(
        organization=organization, uuid=knowledge_base_uuid
    )
    if manage and not selectors.knowledge_base_user_can_manage(
        user=request.user, knowledge_base=knowledge_base
    ):
        raise PermissionDenied("Only owners and managers change training documents.")
    return organization, knowledge_base


def _context(request: HttpRequest, organization, knowledge_base: KnowledgeBase, **overrides) -> dict:
    documents = list(selectors.document_list_for_knowledge_base(knowledge_base=knowledge_base))
    context = {
        "organization": organization,
        "knowledge_base": knowledge_base,
        "documents": documents,
        "documents_in_progress": selectors.documents_in_progress(documents),
        "can_manage": selectors.knowledge_base_user_can_manage(
            user=request.user, knowledge_base=knowledge_base
        ),
        "file_form": DocumentFileForm(),
        "qa_form": DocumentQAForm(),
        "url_form": DocumentUrlForm(),
        "search_form": SearchForm(),
        "results": None,
        "next_url": "",
    }
    context.update(overrides)
    return context


def _back(request: HttpRequest, knowledge_base: KnowledgeBase) -> HttpResponse:
    """To `next` (the page that included our forms) if it is on this site, else to the knowledge page."""
    next_url = request.POST.get("next", "")
    if next_url and url_has_allowed_host_and_scheme(
        next_url, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return redirect(next_url)
    return redirect(
        reverse(
            "marketplace_ai:knowledge-base",
            kwargs={
                "organization_uuid": knowledge_base.organization.uuid,
                "knowledge_base_uuid": knowledge_base.uuid,
            },
        )
    )


def _added(request: HttpRequest, document, created: bool) -> None:
    if created:
        messages.success(request, f"“{document.name}” was added and is being processed.")
    else:
        messages.info(
            request,
            f"This content is already in the knowledge base as “{document.name}” "
            f"(added {document.created_at:%d %b %Y}); it was not added again.",
        )


def _add_service_error(form: Form, error: ApplicationError) -> None:
    shown = False
    for field, field_messages in error.errors.items():
        for message in field_messages:
            form.add_error(field if field in form.fields else None, message)
            shown = True
    if not shown:
        form.add_error(None, error.detail)


def _invalid(request, organization, knowledge_base, form_name: str, form: Form) -> HttpResponse:
    context = _context(request, organization, knowledge_base, **{form_name: form, "open_form": form_name})
    return render(request, PAGE, context, status=400)


# --- Pages and partials ---------------------------------------------------------------------------


@login_required
@require_GET
def knowledge_base_page(request: HttpRequest, organization_uuid, knowledge_base_uuid) -> HttpResponse:
    organization, knowledge_base = _knowledge_base(request, organization_uuid, knowledge_base_uuid)
    return render(request, PAGE, _context(request, organization, knowledge_base))


@login_required
@require_GET
def knowledge_base_documents(request: HttpRequest, organization_uuid, knowledge_base_uuid) -> HttpResponse:
    """The document list alone: polled every 2 s by the page while a document is being processed."""
    organization, knowledge_base = _knowledge_base(request, organization_uuid, knowledge_base_uuid)
    context = _context(request, organization, knowledge_base, next_url=request.GET.get("next", ""))
    return render(request, "marketplace_ai/includes/knowledge_documents.html", context)


@login_required
@require_GET
def knowledge_base_search(request: HttpRequest, organization_uuid, knowledge_base_uuid) -> HttpResponse:
    """Test retrieval: the passages the agent would be given for a question."""
    organization, knowledge_base = _knowledge_base(request, organization_uuid, knowledge_base_uuid)
    form = SearchForm(request.GET)
    results, search_error = None, ""
    if form.is_valid():
        try:
            results = retrieve(knowledge_base=knowledge_base, query=form.cleaned_data["query"], top_k=5)
        except RetrievalUnavailable as error:
            search_error = error.detail
    context = {"search_form": form, "results": results, "search_error": search_error}
    if request.htmx:
        return render(request, "marketplace_ai/includes/knowledge_search_results.html", context)
    return render(request, PAGE, _context(request, organization, knowledge_base, **context))


# --- Changes --------------------------------------------------------------------------------------


def _add_document(
    request, organization_uuid, knowledge_base_uuid, *, make_form, form_name: str, add
) -> HttpResponse:
    """Once the caller may change the knowledge base (the upload is read only then), validate the form from
    `make_form()` and `add(knowledge_base, cleaned_data)` (a service returning (document, created)); back to
    the page on success, the page with the form's errors otherwise."""
    organization, knowledge_base = _knowledge_base(
        request, organization_uuid, knowledge_base_uuid, manage=True
    )
    form = make_form()
    if form.is_valid():
        try:
            document, created = add(knowledge_base, form.cleaned_data)
        except ApplicationError as error:
            _add_service_error(form, error)
        else:
            _added(request, document, created)
            return _back(request, knowledge_base)
    return _invalid(request, organization, knowledge_base, form_name, form)


@login_required
@require_POST
def document_upload(request: HttpRequest, organization_uuid, knowledge_base_uuid) -> HttpResponse:
    return _add_document(
        request,
        organization_uuid,
        knowledge_base_uuid,
        make_form=lambda: DocumentFileForm(request.POST, request.FILES),
        form_name="file_form",
        add=lambda knowledge_base, data: document_upload_file(
            knowledge_base=knowledge_base, uploaded_file=data["file"], actor=request.user
        ),
    )


@login_required
@require_POST
def document_qa(request: HttpRequest, organization_uuid, knowledge_base_uuid) -> HttpResponse:
    return _add_document(
        request,
        organization_uuid,
        knowledge_base_uuid,
        make_form=lambda: DocumentQAForm(request.POST),
        form_name="qa_form",
        add=lambda knowledge_base, data: document_add_qa(
            knowledge_base=knowledge_base, qa_pairs=data["pairs"], name=data["name"], actor=request.user
        ),
    )


@login_required
@require_POST
def document_url(request: HttpRequest, organization_uuid, knowledge_base_uuid) -> HttpResponse:
    return _add_document(
        request,
        organization_uuid,
        knowledge_base_uuid,
        make_form=lambda: DocumentUrlForm(request.POST),
        form_name="url_form",
        add=lambda knowledge_base, data: document_add_url(
            knowledge_base=knowledge_base, url=data["url"], name=data["name"], actor=request.user
        ),
    )


@login_required
@require_POST
def document_remove(
    request: HttpRequest, organization_uuid, knowledge_base_uuid, document_uuid
) -> HttpResponse:
    _, knowledge_base = _knowledge_base(request, organization_uuid, knowledge_base_uuid, manage=True)
    document = selectors.document_get_for_knowledge_base(knowledge_base=knowledge_base, uuid=document_uuid)
    try:
        document_delete(document=document, actor=request.user)
    except ApplicationError as error:
        messages.error(request, error.detail)
    else:
        messages.success(request, f"“{document.name}” was deleted and removed from the index.")
    return _back(request, knowledge_base)


@login_required
@require_POST
def document_reprocess(
    request: HttpRequest, organization_uuid, knowledge_base_uuid, document_uuid
) -> HttpResponse:
    _, knowledge_base = _knowledge_base(request, organization_uuid, knowledge_base_uuid, manage=True)
    document = selectors.document_get_for_knowledge_base(knowledge_base=knowledge_base, uuid=document_uuid)
    try:
        document_retry(document=document, actor=request.user)
    except ApplicationError as error:
        messages.error(request, error.detail)
    else:
        messages.success(request, f"“{document.name}” is being processed again.")
    return _back(request, knowledge_base)
