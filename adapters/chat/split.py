"""Split a long reply into pieces that each fit one platform message and each render.

Rules, in order:
- pieces break at line boundaries: as many whole lines as fit go into a piece;
- a line longer than the limit on its own is split hard, inside the line;
- a code block (a fence line ```` ``` ```` or ```` ```lang ````) still open at the end of a
  piece is closed there (``tail``) and reopened with the same fence line at the start of the
  next one (``head``), so every piece is a well-formed message.

Exactness: each ``Piece`` keeps its ``body``, an unmodified slice of the input, and the
concatenation of every body is the input (``"".join(p.body for p in pieces) == text``);
``piece.text`` (what is sent) is ``head + body + tail``, nothing else added.

Sizes are measured after an optional per-character ``escape`` (Slack's ``&`` → ``&amp;``,
``<`` → ``&lt;``, ``>`` → ``&gt;``): ``len(escape(piece.text)) <= limit`` for every piece.
``escape`` must work character by character (``escape(a + b) == escape(a) + escape(b)``)
and leave fence lines unchanged. Lengths are Python ``str`` lengths (code points).

Limits: Discord 2,000 characters of ``content`` per message; Slack 3,000 characters of
``text`` per section block (adapters/chat/slack_blocks.py packs sections into messages).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

DISCORD_MESSAGE_LIMIT = 2_000
SLACK_SECTION_LIMIT = 3_000
MIN_LIMIT = 128  # a fence head, a fence line and a tail always fit in a fresh piece
FENCE = re.compile(r"^ {0,3}```[A-Za-z0-9_+.#-]{0,24}[ \t]{0,8}$")
CLOSE = "```"


@dataclass(frozen=True)
class Piece:
    body: str  # a slice of the input, unchanged
    head: str = ""  # the fence line (with its newline) reopening a code block, or ""
    tail: str = ""  # the closing fence of a code block the body leaves open, or ""

    @property
    def text(self) -> str:
        return self.head + self.body + self.tail


def is_fence(line: str) -> bool:
    """A line (without its newline) that opens or closes a code block."""
    return FENCE.match(line) is not None


def _identity(s: str) -> str:
    return s


def _tail_for(body: str) -> str:
    return CLOSE if body.endswith("\n") or not body else "\n" + CLOSE


class _Packer:
    def __init__(self, limit: int, escape: Callable[[str], str]) -> None:
        self.limit = limit
        self.escape = escape
        self.pieces: list[Piece] = []
        self.head = ""  # fence reopened at the start of the current piece
        self.body: list[str] = []
        self.used = 0  # cost of head + body so far
        self.open_fence: str | None = None  # the fence line of the block open at this point

    def cost(self, s: str) -> int:
        return len(self.escape(s))

    def _fits(self, extra: str, open_after: str | None) -> bool:
        tail = _tail_for(extra) if open_after is not None else ""
        return self.used + self.cost(extra) + self.cost(tail) <= self.limit

    def flush(self) -> None:
        if not self.body:
            return
        body = "".join(self.body)
        tail = _tail_for(body) if self.open_fence is not None else ""
        self.pieces.append(Piece(body=body, head=self.head, tail=tail))
        self.head = self.open_fence + "\n" if self.open_fence is not None else ""
        self.body = []
        self.used = self.cost(self.head)

    def add(self, chunk: str, open_after: str | None) -> None:
        self.body.append(chunk)
        self.used += self.cost(chunk)
        self.open_fence = open_after

    def line(self, line: str) -> None:
        bare = line.removesuffix("\n")
        open_after = self.open_fence
        if is_fence(bare):
            open_after = None if self.open_fence is not None else bare
        if self._fits(line, open_after):
            self.add(line, open_after)
            return
        if self.body:
            self._flush_moving_opening_fence()
            if self._fits(line, open_after):
                self.add(line, open_after)
                return
        self.hard(line)

    def _flush_moving_opening_fence(self) -> None:
        """Flush; a piece never ends on the fence that opens its last block (that would
        send an empty code block): the fence moves on to the next piece."""
        last = self.body[-1]
        if len(self.body) > 1 and self.open_fence is not None and last == self.open_fence + "\n":
            self.body.pop()
            self.used -= self.cost(last)
            self.open_fence = None  # the state before that fence: no block open
            self.flush()
            self.add(last, last.removesuffix("\n"))
            return
        self.flush()

    def hard(self, line: str) -> None:
        """A line that fits in no piece on its own (never a fence: those are short)."""
        start = 0
        while start < len(line):
            reserve = self.cost("\n" + CLOSE) if self.open_fence is not None else 0
            room = self.limit - self.used - reserve
            end, spent = start, 0
            while end < len(line):  # per character: escape may weigh them unequally
                weight = self.cost(line[end])
                if spent + weight > room:
                    break
                spent += weight
                end += 1
            if end == start:
                if not self.body:
                    raise ValueError(f"limit {self.limit} is too small for one character")
                self.flush()
                continue
            self.add(line[start:end], self.open_fence)
            start = end
            if start < len(line):
                self.flush()


def _lines(text: str) -> list[str]:
    """Lines with their ``\\n`` (only ``\\n`` ends a line, as on both platforms)."""
    parts = text.split("\n")
    lines = [p + "\n" for p in parts[:-1]]
    if parts[-1]:
        lines.append(parts[-1])
    return lines


def split_message(
    text: str, limit: int, *, escape: Callable[[str], str] | None = None
) -> list[Piece]:
    """The pieces of ``text``, each within ``limit`` once escaped; ``[]`` for ``""``."""
    if limit < MIN_LIMIT:
        raise ValueError(f"limit {limit} is below the minimum of {MIN_LIMIT} characters")
    packer = _Packer(limit, escape or _identity)
    for line in _lines(text):
        packer.line(line)
    packer.flush()
    return packer.pieces


def split_texts(text: str, limit: int, *, escape: Callable[[str], str] | None = None) -> list[str]:
    """What is sent: each piece's text, escaped; pieces with nothing visible are dropped
    (platforms refuse an empty message)."""
    esc = escape or _identity
    return [esc(p.text) for p in split_message(text, limit, escape=esc) if p.text.strip()]
