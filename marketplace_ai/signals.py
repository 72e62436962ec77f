"""Signals other apps listen to, so knowledge never imports them.

`document_status_changed` is sent (after the change is committed) when a document becomes indexed or
failed; arguments: `document` (the KnowledgeDocument) and `status`.
"""

from django.dispatch import Signal

document_status_changed = Signal()
