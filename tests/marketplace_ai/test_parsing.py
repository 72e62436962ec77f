"""Documents are recognised by their content: magic bytes, zip structure, text decoding."""

import io

import pytest

from marketplace_ai.errors import DocumentRejected, DocumentUnreadable
from marketplace_ai.parsing import DocumentKind, detect_kind, extract_text, html_to_text
from tests.marketplace_ai.factories import EXE_BYTES, make_docx, make_pdf


def _detect(data: bytes, name: str) -> DocumentKind:
    return detect_kind(file=io.BytesIO(data), name=name)


def test_pdf_is_recognised_and_its_text_extracted():
    data = make_pdf(["Refunds are accepted within 30 days.", "Keep your receipt."])

    kind = _detect(data, "policy.pdf")

    assert kind == DocumentKind.PDF
    assert (
        extract_text(file=io.BytesIO(data), kind=kind)
        == "Refunds are accepted within 30 days.\nKeep your receipt."
    )


def test_docx_is_recognised_by_its_zip_parts_and_its_paragraphs_and_tables_read():
    data = make_docx(["Opening hours", "We open at nine."], table=[["Day", "Hours"], ["Monday", "9-17"]])

    kind = _detect(data, "hours.docx")

    assert kind == DocumentKind.DOCX
    assert extract_text(file=io.BytesIO(data), kind=kind) == (
        "Opening hours\n\nWe open at nine.\n\nDay | Hours\n\nMonday | 9-17"
    )


@pytest.mark.parametrize(
    ("name", "data", "kind"),
    [
        ("notes.txt", b"Plain notes\nline two", DocumentKind.TEXT),
        ("readme.md", "# Title\n\nCaf\u00e9 menu".encode(), DocumentKind.MARKDOWN),
        ("page.html", b"<p>Hello</p>", DocumentKind.HTML),
        ("no-extension", b"<!DOCTYPE html><html><body>Hi</body></html>", DocumentKind.HTML),
        ("no-extension", b"just words", DocumentKind.TEXT),
        ("windows.txt", "Caf\u00e9 cr\u00e8me".encode("cp1252"), DocumentKind.TEXT),
        ("utf16.txt", "Hello".encode("utf-16"), DocumentKind.TEXT),
    ],
)
def test_text_kinds_are_decoded(name, data, kind):
    assert _detect(data, name) == kind


def test_html_text_leaves_out_scripts_styles_and_head():
    html = (
        "<html><head><title>Help</title><style>p{color:red}</style></head><body>"
        "<script>alert('x')</script><h1>Returns</h1><p>Send it back within <b>30</b> days.</p>"
        "<noscript>Enable JS</noscript></body></html>"
    )

    assert html_to_text(html) == ("Help", "Returns\n\nSend it back within 30 days.")


@pytest.mark.parametrize(
    ("name", "data", "code"),
    [
        ("invoice.pdf", EXE_BYTES, "unsupported_type"),  # an .exe named .pdf
        ("setup.exe", EXE_BYTES, "unsupported_type"),
        ("report.pdf", b"just some text, not a PDF", "type_mismatch"),
        ("notes.txt", make_pdf(["hello"]), "type_mismatch"),
        ("letter.docx", make_pdf(["hello"]), "type_mismatch"),
        ("sheet.csv", b"a,b\n1,2", "unsupported_type"),
        ("legacy.doc", b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 100, "unsupported_type"),
        ("empty.txt", b"", "document_empty"),
    ],
)
def test_files_that_are_not_what_we_accept_are_refused(name, data, code):
    with pytest.raises(DocumentRejected) as raised:
        _detect(data, name)

    assert raised.value.code == code
    assert list(raised.value.errors) == ["file"]


def test_a_zip_that_is_not_a_word_document_is_refused():
    import zipfile

    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("xl/workbook.xml", "<workbook/>")

    with pytest.raises(DocumentRejected) as raised:
        _detect(buffer.getvalue(), "book.docx")

    assert (
        raised.value.detail == "This file is not a PDF, Word (.docx), plain text, Markdown or HTML document."
    )


def test_a_pdf_without_text_is_unreadable():
    data = make_pdf([])

    with pytest.raises(DocumentUnreadable) as raised:
        extract_text(file=io.BytesIO(data), kind=DocumentKind.PDF)

    assert raised.value.detail.startswith("No text was found in this PDF.")


def test_a_damaged_pdf_is_unreadable():
    with pytest.raises(DocumentUnreadable) as raised:
        extract_text(file=io.BytesIO(b"%PDF-1.4\ngarbage without objects"), kind=DocumentKind.PDF)

    assert raised.value.detail == "This PDF is damaged and cannot be read."
