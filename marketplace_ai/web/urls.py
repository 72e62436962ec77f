from django.urls import path

from marketplace_ai.web import views

app_name = "marketplace_ai"

BASE = "organizations/<uuid:organization_uuid>/knowledge/<uuid:knowledge_base_uuid>/"

urlpatterns = [
    path(BASE, views.knowledge_base_page, name="knowledge-base"),
    path(f"{BASE}documents/", views.knowledge_base_documents, name="knowledge-base-documents"),
    path(f"{BASE}search/", views.knowledge_base_search, name="knowledge-base-search"),
    path(f"{BASE}documents/upload/", views.document_upload, name="knowledge-document-upload"),
    path(f"{BASE}documents/qa/", views.document_qa, name="knowledge-document-qa"),
    path(f"{BASE}documents/url/", views.document_url, name="knowledge-document-url"),
    path(
        f"{BASE}documents/<uuid:document_uuid>/delete/",
        views.document_remove,
        name="knowledge-document-delete",
    ),
    path(
        f"{BASE}documents/<uuid:document_uuid>/retry/",
        views.document_reprocess,
        name="knowledge-document-retry",
    ),
]
