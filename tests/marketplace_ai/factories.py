"""Factories and sample files for knowledge tests. PDF and DOCX files are made here, at test time."""

import io

import factory

from marketplace_ai.models import KnowledgeBase, KnowledgeDocument
from tests.marketplace.factories import OrganizationFactory


class KnowledgeBaseFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = KnowledgeBase

    organization = factory.SubFactory(OrganizationFactory)
    name = factory.Sequence(lambda n: f"Knowledge {n}")
    chunk_token_count = 64
    chunk_overlap_tokens = 8


class KnowledgeDocumentFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = KnowledgeDocument

    knowledge_base = factory.SubFactory(KnowledgeBaseFactory)
    name = factory.Sequence(lambda n: f"document-{n}.txt")
    source = "file"
    mime_type = "text/plain"
    content_sha256 = factory.Sequence(lambda n: f"{n:064x}")


def make_pdf(lines: list[str]) -> bytes:
    """A small, valid one-page PDF whose text layer holds `lines` (Helvetica), with a correct xref table."""
    stream_lines = ["BT", "/F1 12 Tf", "14 TL", "72 740 Td"]
    for line in lines:
        escaped = line.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)")
        stream_lines.append(f"({escaped}) Tj T*")
    stream_lines.append("ET")
    stream = "\n".join(stream_lines).encode("latin-1")
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Resources << /Font << /F1 4 0 R >> >> "
        b"/Contents 5 0 R >>",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding /WinAnsiEncoding >>",
        b"<< /Length " + str(len(stream)).encode() + b" >>\nstream\n" + stream + b"\nendstream",
    ]
    output = io.BytesIO()
    output.write(b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(output.tell())
        output.write(f"{number} 0 obj\n".encode() + body + b"\nendobj\n")
    xref = output.tell()
    output.write(f"xref\n0 {len(objects) + 1}\n0000000000 65535 f \n".encode())
    for offset in offsets:
        output.write(f"{offset:010d} 00000 n \n".encode())
    output.write(f"trailer\n<< /Size {len(objects) + 1} /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n".encode())
    return output.getvalue()


def make_docx(paragraphs: list[str], *, table: list[list[str]] | None = None) -> bytes:
    import docx

    document = docx.Document()
    for paragraph in paragraphs:
        document.add_paragraph(paragraph)
    if table:
        grid = document.add_table(rows=len(table), cols=len(table[0]))
        for row_index, row in enumerate(table):
            for column, value in enumerate(row):
                grid.cell(row_index, column).text = value
    output = io.BytesIO()
    document.save(output)
    return output.getvalue()


# A Windows executable's first bytes: "MZ", the DOS stub, NUL padding.
EXE_BYTES = (
    b"MZ\x90\x00\x03\x00\x00\x00\x04\x00\x00\x00\xff\xff\x00\x00"
    + b"\x00" * 48
    + b"This program cannot be run"
)
