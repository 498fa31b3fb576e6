"""fundamentals: a point-in-time fundamentals snapshot per symbol, and a score.

There is no network: figures come from a shipped file (``fixtures/fundamentals.sample.json``,
hand-written SAMPLE figures, labelled as such) or from the file named by
``ctx.settings["fundamentals_file"]``. An entry is visible only from its ``as_of`` date
on, so a simulated day never sees a later report. The score is a fixed, documented
rule (growth and margin are good, a high P/E and leverage are not), squashed to [-1, 1].
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from datetime import date
from functools import lru_cache
from pathlib import Path
from typing import Any

from agents.base import AgentContext, AgentSpec, Desk, Reasoning
from agents.common import setting
from core.messages import Assessment, Envelope, ToolFigures

NAME = "fundamentals"
SAMPLE_FILE = Path(__file__).resolve().parent / "fixtures" / "fundamentals.sample.json"
FIELDS = (
    "pe_ratio",
    "eps_growth_yoy",
    "revenue_growth_yoy",
    "net_margin",
    "debt_to_equity",
    "dividend_yield",
)


@lru_cache(maxsize=8)
def _load(path: Path) -> dict[str, list[dict[str, Any]]]:
    raw = json.loads(path.read_text(encoding="utf-8"))
    return {k: sorted(v, key=lambda e: e["as_of"]) for k, v in raw.items() if not k.startswith("_")}


def snapshot(table: dict[str, list[dict[str, Any]]], symbol: str, as_of: date) -> dict[str, Any] | None:
    """The latest entry published on or before ``as_of`` (no look-ahead)."""
    visible = [e for e in table.get(symbol, []) if date.fromisoformat(e["as_of"]) <= as_of]
    return visible[-1] if visible else None


def score(figures: dict[str, float]) -> float:
    """Growth and profitability up, expensive and leveraged down; tanh keeps it in [-1, 1]."""
    raw = (
        1.0 * figures.get("eps_growth_yoy", 0.0)
        + 0.8 * figures.get("revenue_growth_yoy", 0.0)
        + 1.0 * (figures.get("net_margin", 0.0) - 0.10)
        - 0.02 * (figures.get("pe_ratio", 15.0) - 15.0)
        - 0.15 * max(0.0, figures.get("debt_to_equity", 0.0) - 1.0)
    )
    return math.tanh(raw)


def run(ctx: AgentContext, inbox: Sequence[Envelope]) -> list[Envelope]:
    path = Path(setting(ctx, NAME, "fundamentals_file", SAMPLE_FILE))
    table = _load(path)
    out: list[Envelope] = []
    for symbol in ctx.universe:
        entry = snapshot(table, symbol, ctx.as_of)
        if entry is None:
            continue
        figures = {f: float(entry[f]) for f in FIELDS if f in entry}
        fig_env = ctx.message(NAME, ToolFigures(tool=NAME, symbol=symbol, figures=figures))
        value = score(figures)
        text = (
            f"{symbol} fundamentals as of {entry['as_of']} ({path.name}): "
            f"{'supportive' if value > 0.2 else 'weak' if value < -0.2 else 'neutral'}"
        )
        out += [
            fig_env,
            ctx.message(
                NAME,
                Assessment(topic=NAME, symbol=symbol, score=value, text=text, figures=figures),
                causation_id=fig_env.id,
            ),
        ]
    return out


SPEC = AgentSpec(
    name=NAME,
    desk=Desk.DATA,
    consumes=(),
    produces=("tool_figures", "assessment"),
    reasoning=Reasoning.DETERMINISTIC,
    run=run,
    description="point-in-time fundamentals snapshot per symbol (shipped sample file) and a score",
)
