"""Equity and drawdown charts as server-rendered SVG: no chart library, no JavaScript.

``line_chart`` scales a series into a ``viewBox`` (the SVG scales with its
container's width, keeping its proportions, so it fits a phone as well as a desktop),
draws the line (and for a drawdown the area under zero), and labels the first and last
dates and the range. Only numbers and
escaped text go into the markup.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from html import escape

from adapters.api.schemas import EquityHistory

WIDTH, HEIGHT = 640, 200
PAD_LEFT, PAD_RIGHT, PAD_TOP, PAD_BOTTOM = 70, 12, 12, 26


def _scale(values: Sequence[float], lo: float, hi: float) -> list[float]:
    span = hi - lo or 1.0
    inner = HEIGHT - PAD_TOP - PAD_BOTTOM
    return [PAD_TOP + inner * (1 - (v - lo) / span) for v in values]


def _xs(n: int) -> list[float]:
    inner = WIDTH - PAD_LEFT - PAD_RIGHT
    if n == 1:
        return [PAD_LEFT + inner / 2]
    return [PAD_LEFT + inner * i / (n - 1) for i in range(n)]


def line_chart(
    chart_id: str,
    title: str,
    labels: Sequence[str],
    values: Sequence[float],
    fmt: Callable[[float], str],
    *,
    area_to: float | None = None,
    css: str = "line",
) -> str:
    """An SVG line chart of ``values`` (one per label); ``area_to`` fills between the
    line and that level (the drawdown's zero)."""
    n = len(values)
    lo, hi = min(values), max(values)
    if area_to is not None:
        lo, hi = min(lo, area_to), max(hi, area_to)
    xs, ys = _xs(n), _scale(values, lo, hi)
    points = " ".join(f"{x:.1f},{y:.1f}" for x, y in zip(xs, ys, strict=True))
    parts = [
        f'<svg id="{escape(chart_id)}" class="chart {escape(css)}" role="img"'
        f' viewBox="0 0 {WIDTH} {HEIGHT}" data-points="{n}"'
        f' aria-label="{escape(title)}">',
        f"<title>{escape(title)}</title>",
        f'<line class="axis" x1="{PAD_LEFT}" y1="{HEIGHT - PAD_BOTTOM}" x2="{WIDTH - PAD_RIGHT}"'
        f' y2="{HEIGHT - PAD_BOTTOM}"/>',
    ]
    if area_to is not None:
        base = _scale([area_to], lo, hi)[0]
        parts.append(
            f'<polygon class="area" points="{xs[0]:.1f},{base:.1f} {points}'
            f' {xs[-1]:.1f},{base:.1f}"/>'
        )
    parts.append(f'<polyline class="series" fill="none" points="{points}"/>')
    if n == 1:
        parts.append(f'<circle class="series" cx="{xs[0]:.1f}" cy="{ys[0]:.1f}" r="3"/>')
    text_y = HEIGHT - 8
    parts += [
        f'<text class="label" x="{PAD_LEFT - 6}" y="{PAD_TOP + 10}" text-anchor="end">'
        f"{escape(fmt(hi))}</text>",
        f'<text class="label" x="{PAD_LEFT - 6}" y="{HEIGHT - PAD_BOTTOM}" text-anchor="end">'
        f"{escape(fmt(lo))}</text>",
        f'<text class="label" x="{PAD_LEFT}" y="{text_y}">{escape(labels[0])}</text>',
        f'<text class="label" x="{WIDTH - PAD_RIGHT}" y="{text_y}" text-anchor="end">'
        f"{escape(labels[-1])}</text>",
        "</svg>",
    ]
    return "".join(parts)


def equity_charts(history: EquityHistory) -> tuple[str, str] | None:
    """The equity chart and the drawdown chart, or None before the first cycle."""
    if not history.points:
        return None
    labels = [p.date.isoformat() for p in history.points]
    equity = line_chart(
        "equity-chart",
        f"Equity, {labels[0]} to {labels[-1]}",
        labels,
        [p.equity for p in history.points],
        lambda v: f"{v:,.0f}",
    )
    drawdown = line_chart(
        "drawdown-chart",
        f"Drawdown from the running peak (worst {history.max_drawdown:.2%})",
        labels,
        [p.drawdown for p in history.points],
        lambda v: f"{v:.1%}",
        area_to=0.0,
        css="drawdown",
    )
    return equity, drawdown
