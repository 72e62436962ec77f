"""What a training document is (decided by its content, never by its name alone) and the text inside it.

`detect_kind` runs when a file is uploaded, so a refused file is refused at once with a reason;
`extract_text` runs in the worker. Accepted: PDF (magic bytes, read with pypdf), Word .docx (a zip holding
the Office Open XML parts, read with python-docx), and text: plain text, Markdown and HTML (decoded as
UTF-8, UTF-16 with a byte order mark, or Windows-1252; HTML reduced to its visible text).
"""

import codecs
import json
import logging
import re
import zipfile
from enum import StrEnum
from html.parser import HTMLParser
from typing import BinaryIO

from marketplace_ai.errors import DocumentRejected, DocumentUnreadable

logger = logging.getLogger(__name__)


class DocumentKind(StrEnum):
    PDF = "pdf"
    DOCX = "docx"
    HTML = "html"
    MARKDOWN = "markdown"
    TEXT = "text"
    QA = "qa"


MIME_TYPES = {
    DocumentKind.PDF: "application/pdf",
    DocumentKind.DOCX: "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    DocumentKind.HTML: "text/html",
    DocumentKind.MARKDOWN: "text/markdown",
    DocumentKind.TEXT: "text/plain",
    DocumentKind.QA: "application/json",
}
KIND_BY_MIME = {mime: kind for kind, mime in MIME_TYPES.items()}
EXTENSIONS = {
    ".pdf": DocumentKind.PDF,
    ".docx": DocumentKind.DOCX,
    ".html": DocumentKind.HTML,
    ".htm": DocumentKind.HTML,
    ".md": DocumentKind.MARKDOWN,
    ".markdown": DocumentKind.MARKDOWN,
    ".txt": DocumentKind.TEXT,
    ".text": DocumentKind.TEXT,
}
TEXT_KINDS = frozenset({DocumentKind.HTML, DocumentKind.MARKDOWN, DocumentKind.TEXT})
ACCEPTED = "PDF, Word (.docx), plain text, Markdown or HTML"

SNIFF_BYTES = 1024 * 1024
PDF_MAGIC = b"%PDF-"
ZIP_MAGIC = b"PK\x03\x04"
OLE2_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"  # legacy .doc, .xls
DOCX_REQUIRED_PARTS = frozenset({"[Content_Types].xml", "word/document.xml"})
# A .docx expands to a few times its size; far more than this is a zip bomb, not a document.
DOCX_MAX_EXPANDED_BYTES = 512 * 1024 * 1024
CONTROL_CHARACTERS = re.compile(r"[\x00-\x08\x0b\x0e-\x1f\x7f]")
HTML_SNIFF = re.compile(rb"^\s*(<!doctype\s+html|<html|<head|<body|<!--)", re.IGNORECASE)


# --- Kind detection -------------------------------------------------------------------------------


def _extension(name: str) -> str:
    dot = name.rfind(".")
    return name[dot:].lower() if dot > 0 else ""


def _is_docx(file: BinaryIO) -> bool:
    file.seek(0)
    try:
        with zipfile.ZipFile(file) as archive:
            names = set(archive.namelist())
            expanded = sum(info.file_size for info in archive.infolist())
    except (zipfile.BadZipFile, OSError, ValueError):
        return False
    finally:
        file.seek(0)
    if expanded > DOCX_MAX_EXPANDED_BYTES:
        raise DocumentRejected(
            "This Word document expands to an unreasonable size.", code="document_too_large"
        )
    return names >= DOCX_REQUIRED_PARTS


def decode_text(data: bytes, *, final: bool = True) -> str:
    """Decode text bytes, or raise ValueError when they are not text (binary, NUL bytes, control codes).

    With `final=False` the bytes may end in the middle of a character (a prefix of a larger file).
    """
    if data.startswith(codecs.BOM_UTF8):
        text = codecs.getincrementaldecoder("utf-8")().decode(data[3:], final=final)
    elif data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        text = codecs.getincrementaldecoder("utf-16")().decode(data, final=final)
    else:
        if b"\x00" in data:
            raise ValueError("NUL bytes")
        try:
            text = codecs.getincrementaldecoder("utf-8")().decode(data, final=final)
        except UnicodeDecodeError:
            text = data.decode("cp1252")  # raises UnicodeDecodeError (a ValueError) for undefined bytes
    if CONTROL_CHARACTERS.search(text):
        raise ValueError("control characters")
    return text


def detect_kind(*, file: BinaryIO, name: str) -> DocumentKind:
    """The document's kind from its bytes. A name whose extension says otherwise is refused."""
    file.seek(0)
    head = file.read(SNIFF_BYTES)
    file.seek(0)
    if not head:
        raise DocumentRejected(
            "The file is empty.", code="document_empty", errors={"file": ["The file is empty."]}
        )
    extension = _extension(name)
    claimed = EXTENSIONS.get(extension)
    if extension and claimed is None:
        message = f"Files of type {extension} are not accepted. Upload a {ACCEPTED} file."
        raise DocumentRejected(message, code="unsupported_type", errors={"file": [message]})

    if head.startswith(PDF_MAGIC):
        actual = DocumentKind.PDF
    elif head.startswith(ZIP_MAGIC) and _is_docx(file):
        actual = DocumentKind.DOCX
    elif head.startswith(OLE2_MAGIC):
        message = "Old Word (.doc) and other legacy Office files are not accepted. Save the file as .docx."
        raise DocumentRejected(message, code="unsupported_type", errors={"file": [message]})
    else:
        try:
            decode_text(head, final=len(head) < SNIFF_BYTES)
        except ValueError:
            message = f"This file is not a {ACCEPTED} document."
            raise DocumentRejected(message, code="unsupported_type", errors={"file": [message]}) from None
        actual = claimed if claimed in TEXT_KINDS else None
        if actual is None:
            actual = DocumentKind.HTML if HTML_SNIFF.match(head) else DocumentKind.TEXT

    if claimed is not None and claimed != actual:
        message = f"The file is named {extension} but its content is not {_describe(claimed)}."
        raise DocumentRejected(message, code="type_mismatch", errors={"file": [message]})
    return actual


def _describe(kind: DocumentKind) -> str:
    return {
        DocumentKind.PDF: "a PDF",
        DocumentKind.DOCX: "a Word (.docx) document",
    }.get(kind, "text")


# --- Text extraction ------------------------------------------------------------------------------


class _VisibleText(HTMLParser):
    """The text a reader sees: no scripts, styles or other non-content elements; blocks on their own lines."""

    SKIPPED = frozenset({"script", "style", "noscript", "template", "svg", "iframe", "object", "head"})
    BLOCKS = frozenset(
        {
            "p",
            "div",
            "br",
            "li",
            "ul",
            "ol",
            "tr",
            "table",
            "section",
            "article",
            "header",
            "footer",
            "h1",
            "h2",
            "h3",
            "h4",
            "h5",
            "h6",
            "blockquote",
            "pre",
            "dd",
            "dt",
            "hr",
            "main",
            "nav",
            "aside",
            "figcaption",
            "form",
            "title",
        }
    )

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self.skipping = 0
        self.title = ""
        self._in_title = False

    def handle_starttag(self, tag, attrs):
        if tag == "title":
            self._in_title = True
        if tag in self.SKIPPED:
            self.skipping += 1
        elif tag in self.BLOCKS:
            self.parts.append("\n\n")

    def handle_endtag(self, tag):
        if tag == "title":
            self._in_title = False
        if tag in self.SKIPPED:
            self.skipping = max(0, self.skipping - 1)
        elif tag in self.BLOCKS:
            self.parts.append("\n\n")

    def handle_data(self, data):
        if self._in_title:
            self.title += data
        if not self.skipping:
            self.parts.append(data)


def html_to_text(html: str) -> tuple[str, str]:
    """(title, visible text) of an HTML page."""
    parser = _VisibleText()
    parser.feed(html)
    parser.close()
    return " ".join(parser.title.split()), normalize_whitespace("".join(parser.parts))


def normalize_whitespace(text: str) -> str:
    """Collapse runs of spaces, keep paragraph breaks (at most one blank line)."""
    lines = [" ".join(line.split()) for line in text.replace("\r\n", "\n").replace("\r", "\n").split("\n")]
    text = "\n".join(lines)
    return re.sub(r"\n{3,}", "\n\n", text).strip()


def _pdf_text(file: BinaryIO) -> str:
    from pypdf import PdfReader
    from pypdf.errors import PdfReadError

    try:
        reader = PdfReader(file)
        if reader.is_encrypted and not reader.decrypt(""):
            raise DocumentUnreadable("This PDF is protected with a password. Upload an unprotected copy.")
        pages = [page.extract_text() or "" for page in reader.pages]
    except DocumentUnreadable:
        raise
    except (PdfReadError, ValueError, KeyError, TypeError, AttributeError, IndexError, OSError) as error:
        logger.info("PDF not readable: %s", error)
        raise DocumentUnreadable("This PDF is damaged and cannot be read.") from error
    return "\n\n".join(normalize_whitespace(page) for page in pages)


def _docx_text(file: BinaryIO) -> str:
    import docx
    from docx.opc.exceptions import PackageNotFoundError

    try:
        document = docx.Document(file)
    except (PackageNotFoundError, zipfile.BadZipFile, KeyError, ValueError) as error:
        raise DocumentUnreadable("This Word document is damaged and cannot be read.") from error
    blocks = [paragraph.text for paragraph in document.paragraphs]
    for table in document.tables:
        for row in table.rows:
            blocks.append(" | ".join(cell.text.strip() for cell in row.cells))
    return "\n\n".join(block for block in (normalize_whitespace(b) for b in blocks) if block)


def qa_pairs_text(pairs: list[dict]) -> list[str]:
    """One passage per question and answer, so a pair is never split from its answer."""
    return [f"Question: {pair['question']}\nAnswer: {pair['answer']}" for pair in pairs]


def extract_text(*, file: BinaryIO, kind: DocumentKind) -> str:
    """The document's text; raises DocumentUnreadable when there is none to be had."""
    file.seek(0)
    if kind == DocumentKind.PDF:
        text = _pdf_text(file)
        empty_reason = (
            "No text was found in this PDF. Scanned pages (images) cannot be read; upload a text PDF."
        )
    elif kind == DocumentKind.DOCX:
        text = _docx_text(file)
        empty_reason = "This Word document contains no text."
    elif kind == DocumentKind.QA:
        text = "\n\n".join(qa_pairs_text(json.load(file)))
        empty_reason = "There are no questions and answers."
    else:
        try:
            raw = decode_text(file.read())
        except ValueError as error:
            raise DocumentUnreadable(f"This file is not readable text ({error}).") from error
        text = html_to_text(raw)[1] if kind == DocumentKind.HTML else normalize_whitespace(raw)
        empty_reason = "This document contains no text."
    if not text.strip():
        raise DocumentUnreadable(empty_reason)
    return text


def kind_of_mime_type(mime_type: str) -> DocumentKind | None:
    return KIND_BY_MIME.get(mime_type)
