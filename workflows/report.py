"""Cycle and simulation reports: Markdown and self-contained HTML (charts embedded as
base64 PNG), written under ``<state_dir>/reports/``.

Inputs are plain data (the summary dict, the equity curve, the messages), so a report can
be re-rendered from the journal without re-running anything.
"""

from __future__ import annotations

import base64
import html
import io
from collections.abc import Sequence
from datetime import date
from pathlib import Path
from typing import Any

import numpy as np

from core.messages import Envelope, Note, RiskVerdict, TradeIdeaPayload

EquityPoint = tuple[date, float]
Section = tuple[str, Sequence[dict[str, Any]], Sequence[str]]


def drawdown_series(equity: Sequence[float]) -> list[float]:
    """Fraction below the running peak at each point (0 at a new high)."""
    values = np.asarray(equity, dtype=np.float64)
    if values.size == 0:
        return []
    peak = np.maximum.accumulate(values)
    return [float(x) for x in np.where(peak > 0, (peak - values) / peak, 0.0)]


def chart_png(curve: Sequence[EquityPoint], title: str) -> bytes:
    """Equity (top) and drawdown (bottom) as one PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    days = [d for d, _ in curve]
    equity = [e for _, e in curve]
    fig, (top, bottom) = plt.subplots(
        2, 1, figsize=(8, 4.5), sharex=True, gridspec_kw={"height_ratios": [2, 1]}
    )
    top.plot(days, equity, color="#1f77b4", marker="o" if len(days) < 30 else None)
    top.set_title(title)
    top.set_ylabel("equity")
    top.grid(alpha=0.3)
    dd = [-100 * x for x in drawdown_series(equity)]
    bottom.fill_between(days, dd, 0, color="#d62728", alpha=0.4, step="post")
    bottom.set_ylabel("drawdown %")
    bottom.grid(alpha=0.3)
    fig.autofmt_xdate()
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=90)
    plt.close(fig)
    return buf.getvalue()


def decisions(messages: Sequence[Envelope]) -> list[dict[str, str]]:
    """Trade ideas and what the risk desk said about each."""
    verdicts: dict[str, list[str]] = {}
    for m in messages:
        if isinstance(m.payload, RiskVerdict):
            v = m.payload
            verdicts.setdefault(v.symbol, []).append(
                f"{v.checked_by}: " + ("ok" if v.approved else str(v.denial or "denied"))
            )
    rows = []
    for m in messages:
        if isinstance(m.payload, TradeIdeaPayload):
            idea = m.payload.idea
            rows.append(
                {
                    "symbol": idea.symbol,
                    "direction": idea.direction.value,
                    "conviction": f"{idea.conviction:.2f}",
                    "rationale": idea.rationale[:200],
                    "risk": "; ".join(verdicts.get(idea.symbol, [])) or "no verdict",
                }
            )
    return rows


def llm_fallbacks(messages: Sequence[Envelope]) -> list[dict[str, str]]:
    """Every LLM call an agent did not make or could not use for a reason other than a
    rejected answer (those are rejections): budget spent, backend unavailable."""
    return [
        {
            "agent": str(m.payload.data.get("agent", m.sender)),
            "reason": str(m.payload.data.get("reason", "")),
            "detail": str(m.payload.data.get("detail", ""))[:200],
        }
        for m in messages
        if isinstance(m.payload, Note) and m.payload.topic == "llm_fallback"
    ]


def budget_line(ledger: dict[str, Any] | None) -> str | None:
    """What the report says about the cycle's LLM budget (``None``: no budgeted LLM)."""
    if not ledger or "budget_usd" not in ledger:
        return None
    line = (
        f"${float(ledger.get('charged_usd', 0.0)):.4f} charged of"
        f" ${float(ledger['budget_usd']):.4f} per cycle"
    )
    if ledger.get("budget_exhausted"):
        line += "; EXHAUSTED: the remaining LLM agents used their offline judgement"
    return line


def _md_table(rows: Sequence[dict[str, Any]], columns: Sequence[str]) -> str:
    if not rows:
        return "_none_\n"
    head = "| " + " | ".join(columns) + " |\n|" + "---|" * len(columns) + "\n"
    body = "".join(
        "| " + " | ".join(str(r.get(c, "")).replace("|", "/") for c in columns) + " |\n"
        for r in rows
    )
    return head + body


def _html_table(rows: Sequence[dict[str, Any]], columns: Sequence[str]) -> str:
    if not rows:
        return "<p><em>none</em></p>"
    head = "".join(f"<th>{html.escape(c)}</th>" for c in columns)
    body = "".join(
        "<tr>" + "".join(f"<td>{html.escape(str(r.get(c, '')))}</td>" for c in columns) + "</tr>"
        for r in rows
    )
    return f"<table><tr>{head}</tr>{body}</table>"


ORDER_COLUMNS = ("symbol", "side", "qty", "type", "status", "client_ref")
IDEA_COLUMNS = ("symbol", "direction", "conviction", "risk", "rationale")
REJECT_COLUMNS = ("source", "reason")
FALLBACK_COLUMNS = ("agent", "reason", "detail")
DAY_COLUMNS = ("date", "status", "ideas", "orders", "fills", "equity", "llm_calls")

_CSS = (
    "body{font-family:sans-serif;max-width:960px;margin:2em auto;color:#222}"
    "table{border-collapse:collapse;margin:.5em 0 1.5em}td,th{border:1px solid #ccc;"
    "padding:3px 8px;font-size:13px;text-align:left}th{background:#f3f3f3}"
)


def _write(
    out_dir: Path,
    stem: str,
    title: str,
    facts: dict[str, Any],
    sections: list[Section],
    curve: Sequence[EquityPoint],
) -> Path:
    out_dir.mkdir(parents=True, exist_ok=True)
    png = chart_png(curve, title) if curve else b""
    md = [f"# {title}\n"]
    md += [f"- **{k}**: {v}" for k, v in facts.items()]
    md.append("")
    if png:
        (out_dir / f"{stem}.png").write_bytes(png)
        md.append(f"![equity and drawdown]({stem}.png)\n")
    for heading, rows, columns in sections:
        md.append(f"## {heading}\n\n" + _md_table(rows, columns))
    (out_dir / f"{stem}.md").write_text("\n".join(md))
    facts_html = "".join(
        f"<li><b>{html.escape(k)}</b>: {html.escape(str(v))}</li>" for k, v in facts.items()
    )
    img = (
        f'<img alt="equity and drawdown" src="data:image/png;base64,'
        f'{base64.b64encode(png).decode()}">'
        if png
        else ""
    )
    parts = "".join(
        f"<h2>{html.escape(h)}</h2>{_html_table(rows, cols)}" for h, rows, cols in sections
    )
    page = (
        f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title>"
        f"<style>{_CSS}</style></head><body><h1>{html.escape(title)}</h1><ul>{facts_html}</ul>"
        f"{img}{parts}</body></html>"
    )
    path = out_dir / f"{stem}.html"
    path.write_text(page)
    return path


def cycle_report_stem(cycle_id: str) -> str:
    return cycle_id if cycle_id.startswith("cycle-") else f"cycle-{cycle_id}"


def write_cycle_report(
    out_dir: Path,
    summary: dict[str, Any],
    messages: Sequence[Envelope],
    curve: Sequence[EquityPoint],
    ledger: dict[str, Any] | None = None,
) -> Path:
    """``<out_dir>/cycle-<id>.{md,html,png}``; returns the HTML path. ``ledger``: the
    reasoner's per-cycle ledger summary (budget, whether it was exhausted)."""
    stem = cycle_report_stem(summary["cycle_id"])
    llm = summary.get("llm", {})
    facts = {
        "cycle": summary["cycle_id"],
        "date": summary["date"],
        "status": summary["status"],
        "equity": summary.get("equity"),
        "trade ideas": summary["ideas"],
        "orders": len(summary["orders"]),
        "fills": summary["fills"],
        "LLM": f"{llm.get('calls', 0)} calls, {llm.get('tokens', 0)} tokens, "
        f"${llm.get('cost_usd', 0.0):.4f}, {llm.get('fallbacks', 0)} fallbacks",
    }
    budget = budget_line(ledger)
    if budget is not None:
        facts["LLM budget"] = budget
    sections: list[Section] = [
        ("Decisions", decisions(messages), IDEA_COLUMNS),
        ("Orders", summary["orders"], ORDER_COLUMNS),
        ("Rejections", summary["rejected"], REJECT_COLUMNS),
        ("LLM fallbacks", llm_fallbacks(messages), FALLBACK_COLUMNS),
    ]
    title = f"Quorum cycle {summary['cycle_id']}"
    return _write(out_dir, stem, title, facts, sections, curve)


def write_simulation_report(
    out_dir: Path, name: str, facts: dict[str, Any], days: Sequence[dict[str, Any]]
) -> Path:
    """``<out_dir>/simulation-<name>.{md,html,png}`` from the per-day summaries."""
    curve = [(date.fromisoformat(d["date"]), float(d["equity"])) for d in days if d.get("equity")]
    day_rows = [
        {
            "date": d["date"],
            "status": d["status"],
            "ideas": d["ideas"],
            "orders": len(d["orders"]),
            "fills": d["fills"],
            "equity": d["equity"],
            "llm_calls": d["llm"]["calls"],
        }
        for d in days
    ]
    orders = [{**o, "date": d["date"]} for d in days for o in d["orders"]]
    rejected = [{**r, "date": d["date"]} for d in days for r in d["rejected"]]
    sections: list[Section] = [
        ("Days", day_rows, DAY_COLUMNS),
        ("Orders", orders, ("date", *ORDER_COLUMNS)),
        ("Rejections", rejected, ("date", *REJECT_COLUMNS)),
    ]
    return _write(
        out_dir, f"simulation-{name}", f"Quorum simulation {name}", facts, sections, curve
    )
