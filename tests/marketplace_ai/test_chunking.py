"""Token-aware chunking: exact sizes, exact overlap, natural breaks, long words."""

import pytest

from marketplace_ai.chunking import chunk_text, count_tokens


def test_chunks_have_the_given_size_and_overlap():
    text = " ".join(f"w{index}" for index in range(1000))

    chunks = chunk_text(text, size=100, overlap=20)

    assert len(chunks) == 13
    assert [chunk.token_count for chunk in chunks] == [100] * 12 + [40]
    assert chunks[0].text.split() == [f"w{index}" for index in range(0, 100)]
    assert chunks[1].text.split() == [f"w{index}" for index in range(80, 180)]
    assert chunks[-1].text.split() == [f"w{index}" for index in range(960, 1000)]


def test_a_chunk_ends_at_a_paragraph_break_when_one_is_near():
    first = " ".join(["alpha"] * 80)
    second = " ".join(["beta"] * 80)

    chunks = chunk_text(f"{first}\n\n{second}", size=100, overlap=10)

    assert chunks[0].text == first
    assert chunks[0].token_count == 80
    assert chunks[1].text.startswith(" ".join(["alpha"] * 10) + "\n\nbeta")


def test_punctuation_and_long_words_count_as_tokens():
    assert count_tokens("Hello, world!") == 4
    assert count_tokens("internationalization") == 2  # 20 characters: two pieces of ten


def test_overlap_never_exceeds_half_a_chunk_and_short_text_is_one_chunk():
    assert [chunk.text for chunk in chunk_text("one two three", size=10, overlap=50)] == ["one two three"]
    chunks = chunk_text(" ".join(str(number) for number in range(30)), size=10, overlap=50)
    assert chunks[1].text.split()[0] == "5"  # overlap capped at 10 // 2


def test_empty_text_has_no_chunks_and_size_must_be_positive():
    assert chunk_text("   \n ", size=10, overlap=2) == []
    with pytest.raises(ValueError, match="at least one token"):
        chunk_text("text", size=0, overlap=0)
