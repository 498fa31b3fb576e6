from __future__ import annotations

from collections.abc import Callable

import pytest
from hypothesis import given
from hypothesis import strategies as st

from adapters.chat.split import (
    CLOSE,
    DISCORD_MESSAGE_LIMIT,
    MIN_LIMIT,
    Piece,
    is_fence,
    split_message,
    split_texts,
)


def slack_like(s: str) -> str:
    return s.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def identity(s: str) -> str:
    return s


FENCES = ["```", "```text", "```py", "   ```"]
plain = st.text(alphabet="ab <&>`|-#\t", max_size=40)
long_line = st.text(alphabet="xy<&", min_size=100, max_size=900)
lines = st.lists(st.one_of(plain, plain, st.sampled_from(FENCES), long_line), max_size=60)
texts = st.builds(lambda ls, end: "\n".join(ls) + end, lines, st.sampled_from(["", "\n"]))


def fence_state_after(text: str) -> bool:
    """True when a code block is still open at the end of ``text``."""
    open_ = False
    for line in text.split("\n"):
        if is_fence(line):
            open_ = not open_
    return open_


def check(text: str, limit: int, escape: Callable[[str], str]) -> list[Piece]:
    pieces = split_message(text, limit, escape=escape)
    assert "".join(p.body for p in pieces) == text  # nothing lost, nothing added
    for i, p in enumerate(pieces):
        assert p.text == p.head + p.body + p.tail
        assert len(escape(p.text)) <= limit, (i, len(escape(p.text)))
        assert p.body
        assert p.head == "" or (p.head.endswith("\n") and is_fence(p.head[:-1]))
        assert p.tail in ("", CLOSE, "\n" + CLOSE)
        assert not fence_state_after(p.text), f"piece {i} leaves a code block open"
        # the head reopens exactly the block the previous piece closed
        if i:
            assert bool(p.head) == bool(pieces[i - 1].tail)
    # a break inside a line only when that line could not fit in a piece of its own
    for i, p in enumerate(pieces[:-1]):
        if not p.body.endswith("\n"):
            start = text.rfind("\n", 0, sum(len(q.body) for q in pieces[: i + 1])) + 1
            end = text.find("\n", start)
            line = text[start : end + 1 if end >= 0 else len(text)]
            nxt = pieces[i + 1]
            assert len(escape(line)) + len(nxt.head) + (4 if nxt.head else 0) > limit
    return pieces


@given(texts, st.integers(MIN_LIMIT, 400), st.sampled_from([identity, slack_like]))
def test_split_when_any_text_then_no_piece_over_limit_and_bodies_join_to_text(
    text: str, limit: int, escape: Callable[[str], str]
) -> None:
    check(text, limit, escape)


@given(texts)
def test_split_when_discord_limit_then_every_piece_within_2000(text: str) -> None:
    check(text * 20, DISCORD_MESSAGE_LIMIT, identity)


def test_split_when_table_in_code_block_spans_pieces_then_each_piece_reopens_and_closes() -> None:
    rows = "\n".join(f"AAPL  {i:4d}  190.00" for i in range(100))
    text = f"positions\n```text\n{rows}\n```\ndone"
    pieces = check(text, 600, identity)
    assert len(pieces) >= 4
    assert pieces[0].head == "" and pieces[0].tail == CLOSE
    assert all(p.head == "```text\n" for p in pieces[1:])
    assert pieces[-1].tail == "" and pieces[-1].body.endswith("```\ndone")


def test_split_when_line_longer_than_limit_then_split_hard_inside_it() -> None:
    text = "short\n" + "z" * 1000 + "\nend"
    pieces = check(text, 300, identity)
    assert pieces[0].body == "short\n"
    assert [len(p.body) for p in pieces[1:4]] == [300, 300, 300]


def test_split_when_escape_inflates_characters_then_escaped_length_counts() -> None:
    text = "<" * 500
    pieces = check(text, 200, slack_like)
    assert [len(p.body) for p in pieces] == [50] * 10  # "&lt;" is four characters


def test_split_when_piece_would_end_on_opening_fence_then_fence_moves_to_next_piece() -> None:
    text = "a" * 120 + "\n```py\n" + "print(1)\n" * 3 + "```\n"
    pieces = check(text, 130, identity)
    assert pieces[0].body == "a" * 120 + "\n" and pieces[0].tail == ""
    assert pieces[1].body.startswith("```py\n")


def test_split_when_text_fits_then_one_piece_unchanged() -> None:
    assert split_message("hello\nworld", 2000) == [Piece(body="hello\nworld")]


def test_split_when_empty_then_no_pieces() -> None:
    assert split_message("", 2000) == []
    assert split_texts("\n\n", 2000) == []


def test_split_when_limit_below_minimum_then_value_error() -> None:
    with pytest.raises(ValueError, match="below the minimum"):
        split_message("x", MIN_LIMIT - 1)
