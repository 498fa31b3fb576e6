from __future__ import annotations

import pytest

from adapters.storage.sqlite import SqliteStore
from agents.reflection import proposal_author, reflection
from core.messages import Note, Rejection, RiskVerdict, StateChange, ToolFigures
from core.risk import Denial, DenialCode, TradingState
from tests.unit.agents.conftest import MakeContext


def lessons(out: list) -> list[dict]:
    return [
        m.payload.data for m in out if isinstance(m.payload, Note) and m.payload.topic == "lesson"
    ]


def test_reflection_when_halted_with_denials_and_rejections_then_lessons_stored(
    make_ctx: MakeContext, store: SqliteStore
) -> None:
    ctx = make_ctx()
    inbox = [
        ctx.message(
            "drawdown_guard", StateChange(state=TradingState.HALTED, reason="MAX_DRAWDOWN_BREACHED")
        ),
        ctx.message(
            "compliance",
            RiskVerdict(
                symbol="GOOG",
                approved=False,
                checked_by="compliance",
                denial=Denial(code=DenialCode.RESTRICTED_SYMBOL),
            ),
        ),
        ctx.message(
            "research_manager",
            Rejection(
                source="research_manager",
                denial=Denial(code=DenialCode.LLM_OUTPUT_REJECTED, context={"reason": "schema"}),
            ),
        ),
    ]
    out = reflection.run(ctx, inbox)
    topics = [d["topic"] for d in lessons(out)]
    assert topics == ["kill_switch", "denied_restricted_symbol", "llm_rejections", "no_ideas"]
    assert len(store.documents("lessons")) == 4
    assert {d["id"] for d in store.documents("lessons")} == {f"lesson:{t}" for t in topics}
    stats = next(m.payload.data for m in out if m.payload.topic == "cycle_stats")
    assert stats["halted"] and stats["denials"] == {"RESTRICTED_SYMBOL": 1}


def test_reflection_when_drawdown_above_half_the_limit_then_pressure_lesson(
    make_ctx: MakeContext,
) -> None:
    ctx = make_ctx()
    figures = ToolFigures(tool="drawdown", figures={"drawdown": 0.03, "max_drawdown_limit": 0.05})
    topics = [
        d["topic"] for d in lessons(reflection.run(ctx, [ctx.message("drawdown_guard", figures)]))
    ]
    assert "drawdown_pressure" in topics


@pytest.mark.parametrize(
    ("parameter", "change", "current", "expected"),
    [
        ("max_position_weight", "loosen", 0.30, None),  # already at the hard cap
        ("max_position_weight", "loosen", 0.20, 0.22),
        ("max_open_positions", "tighten", 10, 9),
        ("research_manager.min_conviction", "tighten", 0.2, 0.22),
    ],
)
def test_proposed_value_when_stepped_then_bounded_by_hard_caps(
    parameter: str, change: str, current: float, expected: float | None
) -> None:
    value = proposal_author.proposed_value(parameter, change, current)
    assert value == (None if expected is None else pytest.approx(expected))


def test_proposal_author_when_no_lessons_then_nothing(make_ctx: MakeContext) -> None:
    assert proposal_author.run(make_ctx(), []) == []
