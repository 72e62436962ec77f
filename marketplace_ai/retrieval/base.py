from dataclasses import dataclass
from uuid import UUID


@dataclass(frozen=True)
class RetrievedChunk:
    """A passage found for a question: its text, a score (higher is better) and where it comes from."""

    text: str
    score: float
    document_uuid: UUID
    document_name: str
