"""Knowledge errors; all are ApplicationErrors so the API answers them in the error envelope."""

from cmp.errors import ApplicationError, ConflictError, ForbiddenError, NotFoundError

__all__ = [
    "ApplicationError",
    "ConflictError",
    "DocumentRejected",
    "DocumentUnreadable",
    "ForbiddenError",
    "NotFoundError",
    "RetrievalUnavailable",
    "UrlFetchFailed",
    "UrlRefused",
]


class DocumentRejected(ApplicationError):
    """An upload that is not accepted: wrong type, too large, empty, or a name that lies about the content."""

    default_code = "document_rejected"


class DocumentUnreadable(ApplicationError):
    """An accepted document whose text cannot be extracted (damaged, encrypted, scanned images only).

    Raised in the worker: retrying the same bytes would fail the same way, so the document is marked failed.
    """

    default_code = "document_unreadable"


class UrlRefused(ApplicationError):
    """A URL the worker will not fetch (scheme, private address, too many redirects). Never retried."""

    default_code = "url_refused"


class UrlFetchFailed(ApplicationError):
    """A URL that could not be fetched this time (timeout, connection error, 5xx). Retried with backoff."""

    status_code = 502
    default_code = "url_fetch_failed"


class RetrievalUnavailable(ApplicationError):
    status_code = 503
    default_code = "retrieval_unavailable"
