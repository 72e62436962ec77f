"""Token-aware chunking with overlap.

Model tokenizers are not available offline (tiktoken downloads its files), so tokens are approximated with a
regular expression: a word of up to ten word characters, or one punctuation mark. Long words and numbers
count as several tokens, as they do for real tokenizers. Chunks are slices of the original text, so their
line breaks and spacing survive, and a chunk ends at a paragraph or sentence end when one is close.
"""

import re
from dataclasses import dataclass

TOKEN = re.compile(r"\w{1,10}|[^\w\s]", re.UNICODE)
SENTENCE_END = frozenset(".!?;:")
# A chunk may end this early (as a fraction of the chunk size) to finish at a paragraph or sentence end.
EARLIEST_BREAK = 0.6


@dataclass(frozen=True)
class TextChunk:
    text: str
    token_count: int


def count_tokens(text: str) -> int:
    return sum(1 for _ in TOKEN.finditer(text))


def _break_before(text: str, spans: list[tuple[int, int]], start: int, end: int) -> int:
    """Where to end the window [start, end): after a paragraph end, else a sentence end, else `end`."""
    earliest = start + max(1, int((end - start) * EARLIEST_BREAK))
    sentence_break = None
    for index in range(end - 1, earliest - 1, -1):
        gap = text[spans[index - 1][1] : spans[index][0]]
        if "\n\n" in gap or "\n\r\n" in gap:
            return index
        previous = text[spans[index - 1][0] : spans[index - 1][1]]
        if sentence_break is None and (previous in SENTENCE_END or "\n" in gap):
            sentence_break = index
    return sentence_break or end


def chunk_text(text: str, *, size: int, overlap: int) -> list[TextChunk]:
    """Chunks of at most `size` tokens; each starts `overlap` tokens before the previous one ended."""
    if size < 1:
        raise ValueError("Chunk size must be at least one token.")
    overlap = max(0, min(overlap, size // 2))
    spans = [match.span() for match in TOKEN.finditer(text)]
    chunks: list[TextChunk] = []
    start = 0
    while start < len(spans):
        end = min(start + size, len(spans))
        if end < len(spans):
            end = _break_before(text, spans, start, end)
        chunks.append(TextChunk(text=text[spans[start][0] : spans[end - 1][1]], token_count=end - start))
        if end >= len(spans):
            break
        start = max(end - overlap, start + 1)
    return chunks
