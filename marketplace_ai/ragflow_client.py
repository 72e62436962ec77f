"""The one module that talks HTTP to RAGFlow (its HTTP API, `/api/v1/...`, v0.14.1 and later).

Every request carries `Authorization: Bearer <RAGFLOW_API_KEY>` and a timeout. RAGFlow answers
`{"code": 0, "data": ...}`; any other code is an error even inside HTTP 200. Failures raise our own errors,
never an httpx one: RagflowUnavailable when RAGFlow is down or failed on its side (connection errors,
timeouts, 5xx, its "exception"/"server error" codes; worth retrying later), RagflowRejected when it refused
what we sent (worth a human look, not a retry).

A DELETE whose `ids` list is missing or empty deletes *every* dataset (or every document of a dataset) in
RAGFlow v0.14.1, so this client refuses to send one.
"""

import logging
from dataclasses import dataclass

import httpx
from django.conf import settings

from cmp.errors import ApplicationError

logger = logging.getLogger(__name__)

# RAGFlow's RetCode values that mean "its side failed", as opposed to "your request is wrong".
UNAVAILABLE_CODES = frozenset({100, 105, 500})
# RAGFlow's own defaults for its general ("naive") chunker, with our chunk size.
DEFAULT_DELIMITER = "\\n!?;\u3002\uff1b\uff01\uff1f"  # \n!?; and the CJK full stop, semicolon, ! and ?
MAX_CHUNK_TOKENS = 2048
DONE_RUN_STATES = frozenset({"DONE", "3"})
FAILED_RUN_STATES = frozenset({"FAIL", "4", "CANCEL", "2"})


class RagflowError(ApplicationError):
    status_code = 502
    default_code = "ragflow_error"


class RagflowUnavailable(RagflowError):
    """RAGFlow could not be reached or failed on its side; try again later."""

    status_code = 503
    default_code = "ragflow_unavailable"


class RagflowRejected(RagflowError):
    """RAGFlow refused the request (`code` is RAGFlow's own error code, or the HTTP status)."""

    default_code = "ragflow_rejected"

    def __init__(self, detail: str, *, ragflow_code: int):
        super().__init__(detail)
        self.ragflow_code = ragflow_code


@dataclass(frozen=True)
class RagflowDocument:
    id: str
    name: str
    progress: float
    run: str
    chunk_count: int
    message: str

    @property
    def is_done(self) -> bool:
        return self.run in DONE_RUN_STATES or (self.progress >= 1 and self.run not in FAILED_RUN_STATES)

    @property
    def is_failed(self) -> bool:
        return self.progress < 0 or self.run in FAILED_RUN_STATES


@dataclass(frozen=True)
class RagflowChunk:
    content: str
    similarity: float
    document_id: str
    document_name: str
    dataset_id: str


def _require_ids(ids: list[str], *, what: str) -> list[str]:
    """A non-empty list of non-empty ids: an empty list would mean "all" to RAGFlow."""
    ids = list(ids)
    if not ids or not all(isinstance(item, str) and item.strip() for item in ids):
        raise ValueError(
            f"Refusing to ask RAGFlow to delete {what} without explicit ids (it would delete all)."
        )
    return ids


class RagflowClient:
    def __init__(
        self,
        *,
        base_url: str,
        api_key: str,
        timeout: float = 30.0,
        transport: httpx.BaseTransport | None = None,
    ):
        if not base_url:
            raise RagflowUnavailable("RAGFlow is not configured (RAGFLOW_BASE_URL is empty).")
        self.base_url = base_url.rstrip("/")
        self._http = httpx.Client(
            base_url=f"{self.base_url}/api/v1",
            headers={"Authorization": f"Bearer {api_key}", "Accept": "application/json"},
            timeout=httpx.Timeout(timeout, connect=min(5.0, timeout)),
            transport=transport,
            trust_env=False,
        )

    @classmethod
    def from_settings(cls) -> "RagflowClient":
        return cls(
            base_url=settings.RAGFLOW_BASE_URL,
            api_key=settings.RAGFLOW_API_KEY,
            timeout=settings.RAGFLOW_TIMEOUT,
        )

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> "RagflowClient":
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()

    # --- transport ------------------------------------------------------------------------------

    def _call(self, method: str, path: str, **kwargs) -> dict:
        """Send one request; return the whole JSON answer once its `code` is 0."""
        try:
            response = self._http.request(method, path, **kwargs)
        except httpx.TimeoutException as error:
            raise RagflowUnavailable(f"RAGFlow did not answer {method} {path} in time.") from error
        except httpx.HTTPError as error:
            raise RagflowUnavailable(f"RAGFlow cannot be reached ({type(error).__name__}).") from error
        if response.status_code >= 500:
            raise RagflowUnavailable(f"RAGFlow answered {method} {path} with HTTP {response.status_code}.")
        try:
            body = response.json()
        except ValueError:
            body = None
        if not isinstance(body, dict):
            raise RagflowRejected(
                f"RAGFlow answered {method} {path} with HTTP {response.status_code} and no JSON body.",
                ragflow_code=response.status_code,
            )
        code = body.get("code")
        if response.status_code >= 400 or code != 0:
            message = str(body.get("message") or f"HTTP {response.status_code}")
            ragflow_code = code if isinstance(code, int) else response.status_code
            detail = f"RAGFlow refused {method} {path}: {message} (code {ragflow_code})."
            if ragflow_code in UNAVAILABLE_CODES:
                raise RagflowUnavailable(detail)
            raise RagflowRejected(detail, ragflow_code=ragflow_code)
        return body

    # --- health ---------------------------------------------------------------------------------

    def ping(self) -> None:
        """v0.14.1 has no health endpoint: list one dataset, which also checks the API key."""
        self._call("GET", "/datasets", params={"page": 1, "page_size": 1})

    # --- datasets -------------------------------------------------------------------------------

    def create_dataset(self, *, name: str, chunk_token_count: int) -> str:
        payload = {
            "name": name,
            "chunk_method": "naive",
            "parser_config": {
                "chunk_token_num": max(1, min(chunk_token_count, MAX_CHUNK_TOKENS)),
                "delimiter": DEFAULT_DELIMITER,
                "html4excel": False,
                "raptor": {"use_raptor": False},
            },
        }
        data = self._call("POST", "/datasets", json=payload)["data"]
        return str(data["id"])

    def find_dataset(self, *, name: str) -> str | None:
        try:
            body = self._call("GET", "/datasets", params={"name": name, "page": 1, "page_size": 1})
        except RagflowRejected:
            return None  # RAGFlow answers "doesn't exist" with an error code
        datasets = body.get("data") or []
        return str(datasets[0]["id"]) if datasets else None

    def delete_datasets(self, *, ids: list[str]) -> None:
        self._call("DELETE", "/datasets", json={"ids": _require_ids(ids, what="datasets")})

    # --- documents ------------------------------------------------------------------------------

    def upload_document(self, *, dataset_id: str, filename: str, content: bytes, content_type: str) -> str:
        body = self._call(
            "POST", f"/datasets/{dataset_id}/documents", files={"file": (filename, content, content_type)}
        )
        documents = body.get("data") or []
        if not documents:
            raise RagflowRejected("RAGFlow accepted the upload but returned no document.", ragflow_code=0)
        return str(documents[0]["id"])

    def start_parsing(self, *, dataset_id: str, document_ids: list[str]) -> None:
        self._call(
            "POST",
            f"/datasets/{dataset_id}/chunks",
            json={"document_ids": _require_ids(document_ids, what="documents to parse")},
        )

    def get_document(self, *, dataset_id: str, document_id: str) -> RagflowDocument | None:
        body = self._call(
            "GET", f"/datasets/{dataset_id}/documents", params={"id": document_id, "page": 1, "page_size": 1}
        )
        for item in (body.get("data") or {}).get("docs") or []:
            if str(item.get("id")) == document_id:
                return RagflowDocument(
                    id=document_id,
                    name=str(item.get("name") or ""),
                    progress=float(item.get("progress") or 0),
                    run=str(item.get("run") or ""),
                    chunk_count=int(item.get("chunk_count") or 0),
                    message=str(item.get("progress_msg") or ""),
                )
        return None

    def delete_documents(self, *, dataset_id: str, ids: list[str]) -> None:
        self._call(
            "DELETE", f"/datasets/{dataset_id}/documents", json={"ids": _require_ids(ids, what="documents")}
        )

    # --- retrieval ------------------------------------------------------------------------------

    def retrieve(
        self, *, question: str, dataset_ids: list[str], top_k: int, similarity_threshold: float = 0.2
    ) -> list[RagflowChunk]:
        if not dataset_ids:
            raise ValueError("RAGFlow retrieval needs dataset_ids.")
        body = self._call(
            "POST",
            "/retrieval",
            json={
                "question": question,
                "dataset_ids": list(dataset_ids),
                "page": 1,
                "page_size": top_k,
                "similarity_threshold": similarity_threshold,
            },
        )
        chunks = []
        for item in (body.get("data") or {}).get("chunks") or []:
            chunks.append(
                RagflowChunk(
                    content=str(item.get("content") or ""),
                    similarity=float(item.get("similarity") or 0),
                    document_id=str(item.get("document_id") or ""),
                    document_name=str(item.get("document_keyword") or ""),
                    # v0.14.1 names the dataset `kb_id`; later versions `dataset_id`.
                    dataset_id=str(item.get("dataset_id") or item.get("kb_id") or ""),
                )
            )
        return chunks
