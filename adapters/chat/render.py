"""Every ``CommandResult`` as plain, platform-neutral text.

Markdown-ish: a headline, ``name: value`` facts, and tables as fenced code blocks with
aligned columns (monospace everywhere: terminal, Slack, Discord). The Slack and Discord
transports reuse ``render_text`` and only split long replies and add platform touches;
the console prints it as it is.
"""

from __future__ import annotations

from collections.abc import Sequence

from workflows.operator import CommandResult, Outcome
from workflows.operator_views import Cell, ExplainView

FENCE = "```"
MAX_CELL = 60  # a wider cell is cut with an ellipsis so a table stays readable
NONE = "-"


def format_cell(value: Cell | bool) -> str:
    if value is None:
        return NONE
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:,.2f}" if abs(value) >= 1 or value == 0 else f"{value:.4g}"
    if isinstance(value, int):
        return f"{value:,}" if abs(value) >= 10_000 else str(value)
    text = str(value).replace("\n", " ")
    return text if len(text) <= MAX_CELL else text[: MAX_CELL - 1] + "…"


def _numeric(value: Cell) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def render_table(
    columns: Sequence[str], rows: Sequence[Sequence[Cell]], *, fence: bool = True
) -> str:
    """A fenced code block (``fence=False``: the bare lines, for a terminal): a header,
    a rule, one line per row; numbers right-aligned, text left-aligned, each column as
    wide as its widest cell."""
    cells = [[format_cell(v) for v in row] for row in rows]
    widths = [len(c) for c in columns]
    for row in cells:
        for i, text in enumerate(row):
            widths[i] = max(widths[i], len(text))
    right = [
        bool(rows)
        and all(_numeric(r[i]) or r[i] is None for r in rows)
        and any(_numeric(r[i]) for r in rows)
        for i in range(len(columns))
    ]

    def line(values: Sequence[str]) -> str:
        parts = [
            v.rjust(widths[i]) if right[i] else v.ljust(widths[i]) for i, v in enumerate(values)
        ]
        return "  ".join(parts).rstrip()

    body = [line(list(columns)), "  ".join("-" * w for w in widths)]
    body += [line(row) for row in cells]
    return "\n".join([FENCE, *body, FENCE] if fence else body)


def headline(result: CommandResult) -> str:
    if result.outcome is Outcome.OK:
        return f"{result.command}: {result.message}"
    return f"{result.outcome.value.upper()} {result.message}"


def render_text(result: CommandResult) -> str:
    """The whole answer: headline, facts, then the table (``(none)`` when empty)."""
    lines = [headline(result)]
    view = result.data
    if view is None:
        return lines[0]
    facts = [(k, v) for k, v in view.facts() if v is not None and v != ""]
    if facts:
        width = max(len(k) for k, _ in facts)
        lines += [f"{k.ljust(width)}  {format_cell(v)}" for k, v in facts]
    table = view.table()
    if table is not None:
        if isinstance(view, ExplainView) and table.rows:
            lines.append("causation chain (newest first):")
        lines.append(render_table(table.columns, table.rows) if table.rows else "(none)")
    return "\n".join(lines)
