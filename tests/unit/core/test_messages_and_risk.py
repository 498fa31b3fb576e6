from __future__ import annotations

import pytest
from pydantic import ValidationError

from core.messages import Envelope, Note, Rejection, TradeIdeaPayload
from core.risk import HARD_CAPS, VERDICT_CODES, Denial, DenialCode, RiskLimits, Verdict
from core.signals import Direction, TradeIdea


def _idea() -> TradeIdea:
    return TradeIdea(symbol="AAPL", direction=Direction.LONG, conviction=0.7, rationale="trend")


def test_envelope_round_trips_through_json_with_its_payload_type() -> None:
    env = Envelope(cycle_id="c1", sender="research_manager", payload=TradeIdeaPayload(idea=_idea()))
    back = Envelope.model_validate_json(env.model_dump_json())
    assert back == env
    assert back.kind == "trade_idea"
    assert isinstance(back.payload, TradeIdeaPayload)


def test_envelope_when_kind_disagrees_with_payload_then_refused() -> None:
    with pytest.raises(ValidationError):
        Envelope(cycle_id="c1", sender="x", kind="fill", payload=Note(topic="t"))


def test_envelope_is_immutable_and_reply_links_causation() -> None:
    env = Envelope(cycle_id="c1", sender="a", payload=Note(topic="t"))
    with pytest.raises(ValidationError):
        env.sender = "b"  # type: ignore[misc]
    child = env.reply("b", Note(topic="u"))
    assert child.causation_id == env.id and child.cycle_id == "c1"


def test_trade_idea_cannot_carry_a_quantity_or_price() -> None:
    with pytest.raises(ValidationError):
        TradeIdea(
            symbol="AAPL", direction=Direction.LONG, conviction=0.5, rationale="x", quantity=100
        )  # type: ignore[call-arg]
    with pytest.raises(ValidationError):
        TradeIdea(symbol="AAPL", direction=Direction.LONG, conviction=1.5, rationale="x")


def test_unknown_payload_kind_is_refused() -> None:
    raw = {"cycle_id": "c", "sender": "s", "payload": {"kind": "wire_money", "amount": 1}}
    with pytest.raises(ValidationError):
        Envelope.model_validate(raw)


def test_denial_renders_code_and_context() -> None:
    d = Denial(
        code=DenialCode.POSITION_CAP_EXCEEDED,
        context={"symbol": "AAPL", "weight": 0.41, "limit": 0.3},
    )
    assert str(d) == "POSITION_CAP_EXCEEDED: symbol=AAPL weight=0.41 limit=0.3"
    r = Rejection(source="bull_researcher", denial=d)
    assert r.denial.code is DenialCode.POSITION_CAP_EXCEEDED


def test_every_verdict_maps_to_a_denial_code() -> None:
    assert VERDICT_CODES[Verdict.OK] is None
    for v in Verdict:
        if v is not Verdict.OK:
            assert VERDICT_CODES[v] == DenialCode(v.name)


def test_risk_limits_defaults_are_the_operators_requirements() -> None:
    limits = RiskLimits()
    assert limits.max_drawdown == 0.05
    assert limits.max_position_weight == 0.30
    assert limits.orders_per_minute == 100


@pytest.mark.parametrize(
    ("field", "value"),
    [("max_drawdown", 0.06), ("max_position_weight", 0.31), ("orders_per_minute", 101)],
)
def test_risk_limits_looser_than_hard_caps_are_refused(field: str, value: float) -> None:
    with pytest.raises(ValidationError, match=field):
        RiskLimits(**{field: value})


def test_loosened_beyond_names_each_looser_limit() -> None:
    tight = RiskLimits(max_drawdown=0.03, max_position_weight=0.2)
    assert RiskLimits().loosened_beyond(tight) == ["max_drawdown", "max_position_weight"]
    assert tight.loosened_beyond(HARD_CAPS) == []
