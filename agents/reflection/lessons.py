"""Lessons as the agents remember them: versioned by cycle, scored by what followed.

A lesson is identified by its topic (``lesson:drawdown_pressure``); every cycle whose
reflection draws it again adds an occurrence (a ``lessons`` document, keyed
``<cycle_id>:<i>``, with that day's text and severity). What a cycle on day D may read is
point-in-time, so replaying an old cycle sees that day's memory and not today's:

- the lessons with an occurrence dated before D (the latest such occurrence's text);
- each one's **score**: the mean signed return, ``horizon`` sessions after the fill, of
  the filled orders whose causation chain reaches a trade idea that cited the lesson —
  counted only once those sessions have closed by D, with bars and fills up to D only.
  A buy scores the move that followed; a sell its opposite (the move it stepped out of).
  No realised outcome yet: no score.

Deterministic: the same journal, fills and bars give the same scores.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from agents.base import AgentContext
from core.messages import OrderIntentPayload, TradeIdeaPayload
from core.orders import OrderSide

LESSONS = "lessons"
DEFAULT_HORIZON = 5  # sessions after a fill over which its outcome is measured
DEFAULT_TOP = 3  # lessons an agent reads and cites


def lesson_id(topic: str) -> str:
    return f"lesson:{topic}"


@dataclass
class Lesson:
    id: str
    topic: str
    text: str
    severity: str
    seen: int  # occurrences before the reading day
    last_seen: str  # ISO date
    outcomes: list[float] = field(default_factory=list)

    @property
    def score(self) -> float | None:
        return float(np.mean(self.outcomes)) if self.outcomes else None

    def as_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "topic": self.topic,
            "text": self.text,
            "severity": self.severity,
            "seen": self.seen,
            "last_seen": self.last_seen,
            "score": None if self.score is None else round(self.score, 6),
            "decisions": len(self.outcomes),
        }


def visible_lessons(ctx: AgentContext) -> dict[str, Lesson]:
    """Lessons drawn by cycles of days before ``ctx.as_of``, by id."""
    day = ctx.as_of.isoformat()
    found: dict[str, Lesson] = {}
    docs = sorted(
        ctx.store.documents(LESSONS), key=lambda d: (str(d.get("as_of")), str(d.get("cycle_id")))
    )
    for doc in docs:
        if str(doc.get("as_of", "")) >= day or "topic" not in doc:
            continue
        lid = str(doc.get("id") or lesson_id(str(doc["topic"])))
        seen = found[lid].seen + 1 if lid in found else 1
        found[lid] = Lesson(lid, str(doc["topic"]), str(doc.get("lesson", "")),
                            str(doc.get("severity", "low")), seen, str(doc["as_of"]))  # fmt: skip
    return found


def _outcome(
    ctx: AgentContext, symbol: str, side: OrderSide, price: float, day: str, horizon: int
) -> float | None:
    """Signed return ``horizon`` sessions after ``day`` (None until they have closed)."""
    try:
        bars = ctx.market.bars(symbol, end=ctx.as_of)
    except KeyError:
        return None
    days = bars.timestamps.astype("datetime64[D]")
    start = int(np.searchsorted(days, np.datetime64(day, "D"), side="left"))
    target = start + horizon
    if target >= len(days) or price <= 0:
        return None
    move = float(bars.close[target]) / price - 1.0
    return move if side is OrderSide.BUY else -move


def score_lessons(ctx: AgentContext, lessons: dict[str, Lesson]) -> dict[str, Lesson]:
    """Attach to each lesson the realised outcomes of the decisions that cited it."""
    if not lessons:
        return lessons
    horizon = int(ctx.settings.get("lesson_horizon", DEFAULT_HORIZON))
    store = ctx.store
    citing = {  # cycles with a trade idea that cited a lesson: only their orders count
        m.cycle_id
        for m in store.messages_by_kind("trade_idea")
        if isinstance(m.payload, TradeIdeaPayload) and m.payload.idea.lessons
    }
    for intent_msg in store.messages_by_kind("order_intent"):
        payload = intent_msg.payload
        if intent_msg.cycle_id not in citing or not isinstance(payload, OrderIntentPayload):
            continue
        cited = {
            lid
            for m in store.causation_chain(intent_msg.id)
            if isinstance(m.payload, TradeIdeaPayload)
            for lid in m.payload.idea.lessons
            if lid in lessons
        }
        if not cited:
            continue
        order = store.order_by_client_ref(payload.client_ref)
        if order is None:
            continue
        for fill in store.fills(order.order_id):
            day = fill.ts.date().isoformat()
            if day > ctx.as_of.isoformat():
                continue
            outcome = _outcome(ctx, fill.symbol, fill.side, fill.price, day, horizon)
            if outcome is not None:
                for lid in cited:
                    lessons[lid].outcomes.append(outcome)
    return lessons


def ranked(lessons: Sequence[Lesson]) -> list[Lesson]:
    """Best first: proven lessons by score, then unproven ones (most often drawn, then
    most recent), then those whose decisions lost."""

    def key(lesson: Lesson) -> tuple[int, float, int, str, str]:
        score = lesson.score
        tier = 0 if score is not None and score > 0 else (1 if score is None else 2)
        return (tier, -(score or 0.0), -lesson.seen, _neg(lesson.last_seen), lesson.id)

    return sorted(lessons, key=key)


def _neg(iso: str) -> str:
    """A key that sorts later ISO dates first."""
    return "".join(chr(0x7F - ord(c)) for c in iso)


def top_lessons(ctx: AgentContext, k: int | None = None) -> list[Lesson]:
    """The ``k`` best-ranked lessons visible to this cycle, scored."""
    count = int(ctx.settings.get("lesson_top", DEFAULT_TOP) if k is None else k)
    return ranked(list(score_lessons(ctx, visible_lessons(ctx)).values()))[:count]
