"""A local RAGFlow double speaking its HTTP API (`/api/v1/...`) as documented for v0.14.1, for tests.

It runs in a thread on a free port and records every request, so tests assert the shape of what our
client sent on this side. It behaves like RAGFlow where it matters: `{"code": 0, "data": ...}` answers,
errors as a non-zero `code` inside HTTP 200 (a wrong API key too), a DELETE without `ids` deleting
*everything* (v0.14.1), document `run`/`progress` moving once parsing starts (done after
`polls_to_finish` status reads, or -1 and "FAIL" when `fail_parsing`), retrieval over parsed documents
with `kb_id` on each chunk. `down = True` answers 503 to everything; `stop()` refuses connections.
"""

import json
import re
import threading
import uuid
from dataclasses import dataclass, field
from email.parser import BytesParser
from email.policy import HTTP
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

WORD = re.compile(r"\w+")


@dataclass
class RecordedRequest:
    method: str
    path: str
    query: dict
    headers: dict
    json: object = None
    files: list = field(default_factory=list)  # (field name, file name, content type, bytes)


@dataclass
class FakeDocument:
    id: str
    dataset_id: str
    name: str
    content: bytes
    run: str = "UNSTART"
    progress: float = 0.0
    reads_while_running: int = 0
    chunk_count: int = 0
    message: str = ""


class FakeRagflow:
    def __init__(self, *, api_key: str = "ragflow-test-key"):
        self.api_key = api_key
        self.requests: list[RecordedRequest] = []
        self.datasets: dict[str, dict] = {}
        self.documents: dict[str, FakeDocument] = {}
        self.down = False
        self.polls_to_finish = 1
        self.fail_parsing = False
        self.chunk_dataset_key = "kb_id"  # v0.14.1; later versions say "dataset_id"
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler_class())
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.05,), daemon=True)
        self._stopped = False

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def start(self) -> "FakeRagflow":
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._stopped:
            return
        self._stopped = True
        self._server.shutdown()
        self._server.server_close()

    def requests_to(self, method: str, path: str) -> list[RecordedRequest]:
        return [request for request in self.requests if request.method == method and request.path == path]

    # --- behaviour ------------------------------------------------------------------------------

    def handle(self, request: RecordedRequest) -> tuple[int, dict]:
        if self.down:
            return 503, {}
        if request.headers.get("authorization") != f"Bearer {self.api_key}":
            return 200, {"code": 109, "message": "Authentication error: API key is invalid!", "data": False}
        route = request.path.removeprefix("/api/v1")
        match = re.fullmatch(r"/datasets/([0-9a-f]+)/(documents|chunks)", route)
        with self._lock:
            if route == "/datasets":
                return self._datasets(request)
            if match and match.group(1) not in self.datasets:
                return 200, {"code": 102, "message": f"You don't own the dataset {match.group(1)}."}
            if match and match.group(2) == "documents":
                return self._documents(request, match.group(1))
            if match and request.method == "POST":
                return self._parse(request, match.group(1))
            if route == "/retrieval" and request.method == "POST":
                return self._retrieval(request)
        return 404, {"code": 404, "message": "Not found"}

    def _datasets(self, request):
        if request.method == "POST":
            name = (request.json or {}).get("name", "")
            if not name:
                return 200, {"code": 101, "message": "`name` is not empty!"}
            if any(dataset["name"] == name for dataset in self.datasets.values()):
                return 200, {"code": 102, "message": "Duplicated dataset name in creating dataset."}
            dataset = {
                "id": uuid.uuid4().hex,
                "name": name,
                **{k: v for k, v in request.json.items() if k != "name"},
            }
            self.datasets[dataset["id"]] = dataset
            return 200, {"code": 0, "data": dataset}
        if request.method == "GET":
            datasets = list(self.datasets.values())
            if "name" in request.query:
                datasets = [d for d in datasets if d["name"] == request.query["name"][0]]
                if not datasets:
                    return 200, {"code": 102, "message": "The dataset doesn't exist"}
            size = int(request.query.get("page_size", ["30"])[0])
            return 200, {"code": 0, "data": datasets[:size]}
        if request.method == "DELETE":
            ids = (request.json or {}).get("ids") or list(self.datasets)  # v0.14.1: no ids means all
            for dataset_id in ids:
                if dataset_id not in self.datasets:
                    return 200, {"code": 102, "message": f"You don't own the dataset {dataset_id}"}
            for dataset_id in ids:
                del self.datasets[dataset_id]
                for document_id in [d.id for d in self.documents.values() if d.dataset_id == dataset_id]:
                    del self.documents[document_id]
            return 200, {"code": 0}
        return 405, {"code": 405, "message": "Method not allowed"}

    def _documents(self, request, dataset_id):
        if request.method == "POST":
            if not request.files:
                return 200, {"code": 101, "message": "No file part!"}
            created = []
            for _, filename, _, content in request.files:
                document = FakeDocument(
                    id=uuid.uuid4().hex, dataset_id=dataset_id, name=filename, content=content
                )
                self.documents[document.id] = document
                created.append(
                    {"id": document.id, "name": filename, "dataset_id": dataset_id, "run": "UNSTART"}
                )
            return 200, {"code": 0, "data": created}
        if request.method == "GET":
            wanted = request.query.get("id", [None])[0]
            documents = [d for d in self.documents.values() if d.dataset_id == dataset_id]
            if wanted:
                documents = [d for d in documents if d.id == wanted]
                if not documents:
                    return 200, {"code": 102, "message": f"You don't own the document {wanted}."}
            docs = [self._status(document) for document in documents]
            return 200, {"code": 0, "data": {"docs": docs, "total": len(docs)}}
        if request.method == "DELETE":
            ids = (request.json or {}).get("ids") or [  # v0.14.1: no ids means every document of the dataset
                d.id for d in self.documents.values() if d.dataset_id == dataset_id
            ]
            for document_id in ids:
                if document_id not in self.documents:
                    return 200, {"code": 102, "message": f"Document not found: {document_id}"}
            for document_id in ids:
                del self.documents[document_id]
            return 200, {"code": 0}
        return 405, {"code": 405, "message": "Method not allowed"}

    def _status(self, document: FakeDocument) -> dict:
        if document.run == "RUNNING":
            document.reads_while_running += 1
            if document.reads_while_running >= self.polls_to_finish:
                if self.fail_parsing:
                    document.run, document.progress = "FAIL", -1.0
                    document.message = "Page(1~100000001): [ERROR]Internal server error while chunking"
                else:
                    document.run, document.progress = "DONE", 1.0
                    document.chunk_count = max(1, len(_paragraphs(document.content)))
            else:
                document.progress = round(document.reads_while_running / self.polls_to_finish, 2)
        return {
            "id": document.id,
            "name": document.name,
            "knowledgebase_id": document.dataset_id,
            "run": document.run,
            "progress": document.progress,
            "progress_msg": document.message,
            "chunk_count": document.chunk_count,
            "size": len(document.content),
        }

    def _parse(self, request, dataset_id):
        document_ids = (request.json or {}).get("document_ids")
        if not document_ids:
            return 200, {"code": 102, "message": "`document_ids` is required"}
        for document_id in document_ids:
            document = self.documents.get(document_id)
            if document is None or document.dataset_id != dataset_id:
                return 200, {"code": 102, "message": f"You don't own the document {document_id}."}
            if document.progress != 0:
                return 200, {"code": 102, "message": "Can't stop parsing document with progress at 0 or 100"}
            document.run, document.reads_while_running = "RUNNING", 0
        return 200, {"code": 0}

    def _retrieval(self, request):
        body = request.json or {}
        dataset_ids = body.get("dataset_ids")
        if not dataset_ids:
            return 200, {"code": 102, "message": "`datasets` is required."}
        question = set(WORD.findall(str(body.get("question", "")).lower()))
        chunks = []
        for document in self.documents.values():
            if document.dataset_id not in dataset_ids or document.run != "DONE":
                continue
            for index, paragraph in enumerate(_paragraphs(document.content)):
                words = set(WORD.findall(paragraph.lower()))
                score = len(question & words) / max(1, len(question))
                if score >= float(body.get("similarity_threshold", 0.2)):
                    chunks.append(
                        {
                            "id": f"{document.id}-{index}",
                            "content": paragraph,
                            "document_id": document.id,
                            "document_keyword": document.name,
                            self.chunk_dataset_key: document.dataset_id,
                            "similarity": score,
                            "term_similarity": score,
                            "vector_similarity": score,
                        }
                    )
        chunks.sort(key=lambda chunk: -chunk["similarity"])
        chunks = chunks[: int(body.get("page_size", 30))]
        return 200, {"code": 0, "data": {"chunks": chunks, "doc_aggs": [], "total": len(chunks)}}

    # --- HTTP plumbing --------------------------------------------------------------------------

    def _handler_class(self):
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def _serve(self):
                parts = urlsplit(self.path)
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length) if length else b""
                request = RecordedRequest(
                    method=self.command,
                    path=parts.path,
                    query=parse_qs(parts.query),
                    headers={key.lower(): value for key, value in self.headers.items()},
                )
                content_type = self.headers.get("Content-Type", "")
                if content_type.startswith("application/json") and raw:
                    request.json = json.loads(raw)
                elif content_type.startswith("multipart/form-data"):
                    request.files = _multipart_files(content_type, raw)
                fake.requests.append(request)
                status, body = fake.handle(request)
                payload = (
                    json.dumps(body).encode() if status != 503 else b"<html>503 Service Unavailable</html>"
                )
                self.send_response(status)
                self.send_header("Content-Type", "application/json" if status != 503 else "text/html")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            do_GET = do_POST = do_DELETE = do_PUT = _serve

        return Handler


def _multipart_files(content_type: str, raw: bytes) -> list:
    message = BytesParser(policy=HTTP).parsebytes(f"Content-Type: {content_type}\r\n\r\n".encode() + raw)
    files = []
    for part in message.iter_parts():
        filename = part.get_filename()
        if filename is not None:
            files.append(
                (
                    part.get_param("name", header="content-disposition"),
                    filename,
                    part.get_content_type(),
                    part.get_payload(decode=True),
                )
            )
    return files


def _paragraphs(content: bytes) -> list[str]:
    text = content.decode("utf-8", errors="replace")
    return [paragraph.strip() for paragraph in re.split(r"\n\s*\n", text) if paragraph.strip()]
