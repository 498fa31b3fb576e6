"""Equity and drawdown charts as server-rendered SVG: no chart library, no JavaScript.

``line_chart`` scales a series into a ``viewBox`` that stretches to its box (the full
width of a phone or a desktop, a fixed height), draws the line (and for a drawdown the
area under zero) with strokes that do not stretch, and puts the range and the first and
last dates beside it as HTML. Only numbers and escaped text go into the markup.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from html import escape

from adapters.api.schemas import EquityHistory

WIDTH, HEIGHT = 1000, 240  # the viewBox; the CSS box stretches it (preserveAspectRatio none)
PAD = 6  # keeps the line's extremes off the frame


def _scale(values: Sequence[float], lo: float, hi: float) -> list[float]:
    span = hi - lo or 1.0
    return [PAD + (HEIGHT - 2 * PAD) * (1 - (v - lo) / span) for v in values]


def _xs(n: int) -> list[float]:
    if n == 1:
        return [WIDTH / 2]
    return [PAD + (WIDTH - 2 * PAD) * i / (n - 1) for i in range(n)]


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
    """A line chart of ``values`` (one per label): the SVG draws the geometry, stretched
    to its box, and the range and first/last dates are HTML around it (text in a
    stretched SVG would be distorted). ``area_to`` fills between the line and that level
    (the drawdown's zero)."""
    n = len(values)
    lo, hi = min(values), max(values)
    if area_to is not None:
        lo, hi = min(lo, area_to), max(hi, area_to)
    xs, ys = _xs(n), _scale(values, lo, hi)
    points = " ".join(f"{x:.1f},{y:.1f}" for x, y in zip(xs, ys, strict=True))
    svg = [
        f'<svg id="{escape(chart_id)}" class="chart {escape(css)}" role="img"'
        f' viewBox="0 0 {WIDTH} {HEIGHT}" preserveAspectRatio="none" data-points="{n}"'
        f' aria-label="{escape(title)}">',
        f"<title>{escape(title)}</title>",
    ]
    if area_to is not None:
        base = _scale([area_to], lo, hi)[0]
        svg.append(
            f'<polygon class="area" points="{xs[0]:.1f},{base:.1f} {points}'
            f' {xs[-1]:.1f},{base:.1f}"/>'
        )
    svg.append(f'<polyline class="series" fill="none" points="{points}"/>')
    if n == 1:
        svg.append(
            f'<line class="series" x1="{xs[0] - 4:.1f}" y1="{ys[0]:.1f}" x2="{xs[0] + 4:.1f}"'
            f' y2="{ys[0]:.1f}"/>'
        )
    svg.append("</svg>")
    return (
        '<div class="chart-frame">'
        f'<div class="y-labels"><span>{escape(fmt(hi))}</span><span>{escape(fmt(lo))}</span></div>'
        + "".join(svg)
        + f'<div class="x-labels"><span>{escape(labels[0])}</span>'
        f"<span>{escape(labels[-1])}</span></div></div>"
    )


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
