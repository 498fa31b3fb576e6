from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

from adapters.marketdata.files import FileMarketData
from adapters.storage.sqlite import SqliteStore
from agents.base import AgentContext
from agents.risk import compliance, drawdown_guard, portfolio_risk, risk_manager
from core.instruments import Instrument
from core.messages import Envelope, RiskVerdict, StateChange, ToolFigures, TradeIdeaPayload
from core.orders import Fill, OrderSide
from core.portfolio import Portfolio, apply_fill
from core.risk import DenialCode, TradingState
from core.signals import Direction, TradeIdea
from tests.conftest import DATA_DIR
from tests.unit.agents.conftest import DAY, MakeContext
from tools.indicators import atr
from tools.sizing import atr_position_size


def idea(
    ctx: AgentContext, symbol: str, direction: Direction = Direction.LONG, conviction: float = 0.6
) -> Envelope:
    payload = TradeIdeaPayload(
        idea=TradeIdea(symbol=symbol, direction=direction, conviction=conviction, rationale="test")
    )
    return ctx.message("research_manager", payload)


def verdicts(out: list[Envelope]) -> dict[str, RiskVerdict]:
    return {m.payload.symbol: m.payload for m in out if isinstance(m.payload, RiskVerdict)}


def hold(store: SqliteStore, symbol: str, qty: int, price: float, cash: float = 100_000.0) -> None:
    fill = Fill(
        fill_id=f"f-{symbol}",
        order_id="o",
        client_ref="r",
        symbol=symbol,
        side=OrderSide.BUY,
        quantity=qty,
        price=price,
    )
    store.save_snapshot(apply_fill(Portfolio.open(cash), fill), "book")


# -- compliance ----------------------------------------------------------------------------
def test_compliance_when_session_day_and_symbol_allowed_then_approved(
    make_ctx: MakeContext,
) -> None:
    ctx = make_ctx()
    [env] = compliance.run(ctx, [idea(ctx, "GOOG")])
    assert env.payload.approved and env.payload.checked_by == "compliance"


@pytest.mark.parametrize(
    ("kwargs", "symbol", "code"),
    [
        ({"as_of": date(2013, 1, 26)}, "GOOG", DenialCode.MARKET_CLOSED),  # a Saturday
        ({"as_of": date(2012, 12, 25)}, "GOOG", DenialCode.MARKET_CLOSED),  # Christmas
        ({"restricted": frozenset({"GOOG"})}, "GOOG", DenialCode.RESTRICTED_SYMBOL),
        ({}, "TSLA", DenialCode.UNKNOWN_SYMBOL),
    ],
)
def test_compliance_when_rule_broken_then_denied_with_code(
    make_ctx: MakeContext, kwargs: dict, symbol: str, code: DenialCode
) -> None:
    ctx = make_ctx(**kwargs)
    [env] = compliance.run(ctx, [idea(ctx, symbol)])
    assert not env.payload.approved and env.payload.denial.code is code


def test_compliance_when_paris_listing_on_a_paris_holiday_then_market_closed(
    make_ctx: MakeContext,
) -> None:
    paris = FileMarketData(
        DATA_DIR / "us_daily", [Instrument(symbol="IBM", primary_exchange="EPA", currency="EUR")]
    )
    ctx = make_ctx(market=paris, as_of=date(2013, 5, 1))  # Labour Day: XPAR closed, XNYS open
    out = verdicts(compliance.run(ctx, [idea(ctx, "IBM"), idea(ctx, "GOOG")]))
    assert (
        out["IBM"].denial.code is DenialCode.MARKET_CLOSED
        and out["IBM"].denial.context["exchange"] == "XPAR"
    )
    assert out["GOOG"].approved


class LiveBroker:
    is_live = True


@pytest.mark.parametrize(
    ("settings", "approved"),
    [({}, False), ({"mode": "live"}, False), ({"mode": "live", "live_confirmed": True}, True)],
)
def test_compliance_when_broker_is_live_then_needs_live_mode_and_confirmation(
    make_ctx: MakeContext, settings: dict, approved: bool
) -> None:
    ctx = make_ctx(broker=LiveBroker(), settings=settings)
    [env] = compliance.run(ctx, [idea(ctx, "GOOG")])
    assert env.payload.approved is approved
    if not approved:
        assert env.payload.denial.code is DenialCode.LIVE_NOT_CONFIRMED


# -- drawdown guard ----------------------------------------------------------------------------
def test_drawdown_guard_when_below_peak_by_more_than_limit_then_halts(
    make_ctx: MakeContext, store: SqliteStore
) -> None:
    store.save_snapshot(
        Portfolio(cash=94_000.0, peak_equity=100_000.0, day_start_equity=94_000.0), "book"
    )
    figures, change = drawdown_guard.run(make_ctx(), [])
    assert figures.payload.figures["drawdown"] == pytest.approx(0.06)
    assert isinstance(change.payload, StateChange) and change.payload.state is TradingState.HALTED
    assert change.payload.reason.startswith("MAX_DRAWDOWN_BREACHED")


def test_drawdown_guard_when_day_loss_beyond_limit_then_reducing(
    make_ctx: MakeContext, store: SqliteStore
) -> None:
    store.save_snapshot(Portfolio.open(100_000.0), "book")
    assert len(drawdown_guard.run(make_ctx(as_of=date(2013, 1, 23)), [])) == 1
    store.save_snapshot(
        Portfolio(cash=97_500.0, peak_equity=100_000.0, day_start_equity=100_000.0), "book"
    )
    figures, change = drawdown_guard.run(make_ctx(as_of=DAY), [])
    assert figures.payload.figures["daily_loss"] == pytest.approx(0.025)
    assert (
        change.payload.state is TradingState.REDUCING
        and "DAILY_LOSS_LIMIT" in change.payload.reason
    )


def test_drawdown_guard_when_healthy_or_already_halted_then_figures_only(
    make_ctx: MakeContext,
) -> None:
    assert [m.kind for m in drawdown_guard.run(make_ctx(), [])] == ["tool_figures"]
    assert [
        m.kind for m in drawdown_guard.run(make_ctx(trading_state=TradingState.HALTED), [])
    ] == ["tool_figures"]


# -- portfolio risk ----------------------------------------------------------------------------
def test_portfolio_risk_when_entry_is_modest_then_approved_with_var_figures(
    make_ctx: MakeContext,
) -> None:
    ctx = make_ctx()
    out = portfolio_risk.run(ctx, [idea(ctx, "MSFT")])
    figures = next(m.payload.figures for m in out if isinstance(m.payload, ToolFigures))
    assert 0 < figures["var_95"] <= figures["cvar_95"] and figures["assumed_weight"] == 0.15
    assert verdicts(out)["MSFT"].approved


def test_portfolio_risk_when_var_above_setting_then_agent_veto(make_ctx: MakeContext) -> None:
    ctx = make_ctx(settings={"max_var_95": 0.0001})
    out = verdicts(portfolio_risk.run(ctx, [idea(ctx, "MSFT")]))
    assert (
        out["MSFT"].denial.code is DenialCode.AGENT_VETO
        and out["MSFT"].denial.context["check"] == "var_95"
    )


def test_portfolio_risk_when_exit_then_approved_without_stress(
    make_ctx: MakeContext, store: SqliteStore
) -> None:
    hold(store, "AAPL", 100, 60.0)
    ctx = make_ctx(settings={"max_var_95": 0.0})
    out = portfolio_risk.run(ctx, [idea(ctx, "AAPL", Direction.FLAT)])
    assert [m.kind for m in out] == ["risk_verdict"] and out[0].payload.approved


# -- risk manager --------------------------------------------------------------------------------
def test_risk_manager_when_entry_then_atr_size_from_tools_and_approved(
    make_ctx: MakeContext, market: FileMarketData
) -> None:
    ctx = make_ctx()
    out = risk_manager.run(ctx, [idea(ctx, "MSFT")])
    sizing = next(m.payload.figures for m in out if isinstance(m.payload, ToolFigures))
    bars = market.bars("MSFT", start=date(2011, 7, 24), end=DAY)
    atr14 = atr(bars.high, bars.low, bars.close, 14)[-1]
    expected = atr_position_size(100_000.0, 100_000.0, bars.close[-1], atr14, 0.01, 2.0, 0.30)
    assert sizing["quantity"] == expected > 0 and verdicts(out)["MSFT"].approved


def test_risk_manager_when_account_large_then_entry_sized_within_the_notional_cap(
    make_ctx: MakeContext, store: SqliteStore
) -> None:
    # An IBKR paper account (and `quorum ibkr simulate`) starts at 1,000,000: the ATR
    # size of a low-volatility day there, or of any day on a larger account, is over
    # max_order_notional (250,000), and such an entry was always denied
    # NOTIONAL_CAP_EXCEEDED, so no position was ever opened.
    store.save_snapshot(Portfolio.open(2_000_000.0), "book")
    ctx = make_ctx()
    out = risk_manager.run(ctx, [idea(ctx, "GOOG")])
    sizing = next(m.payload.figures for m in out if isinstance(m.payload, ToolFigures))
    price, cap = sizing["reference_price"], ctx.limits.max_order_notional
    uncapped = atr_position_size(2e6, 2e6, price, sizing["atr_14"], 0.01, 2.0, 0.30)
    assert uncapped * price > cap  # the case: volatility sizing alone breaks the cap
    assert sizing["quantity"] * price <= cap < (sizing["quantity"] + 1) * price
    assert verdicts(out)["GOOG"].approved


def test_risk_manager_when_state_reducing_then_entries_denied_exits_pass(
    make_ctx: MakeContext, store: SqliteStore
) -> None:
    hold(store, "AAPL", 100, 60.0)
    ctx = make_ctx(trading_state=TradingState.REDUCING)
    out = verdicts(risk_manager.run(ctx, [idea(ctx, "MSFT"), idea(ctx, "AAPL", Direction.FLAT)]))
    assert out["MSFT"].denial.code is DenialCode.REDUCING_ONLY
    assert out["AAPL"].approved


def test_risk_manager_when_size_rounds_to_zero_then_invalid_quantity(
    make_ctx: MakeContext, store: SqliteStore
) -> None:
    store.save_snapshot(Portfolio.open(50.0), "book")  # not enough for one GOOG share
    ctx = make_ctx()
    out = verdicts(risk_manager.run(ctx, [idea(ctx, "GOOG")]))
    assert out["GOOG"].denial.code is DenialCode.INVALID_QUANTITY


def test_risk_manager_when_halted_then_every_idea_denied(make_ctx: MakeContext) -> None:
    ctx = make_ctx(trading_state=TradingState.HALTED)
    out = verdicts(risk_manager.run(ctx, [idea(ctx, "GOOG"), idea(ctx, "IBM")]))
    assert {v.denial.code for v in out.values()} == {DenialCode.TRADING_HALTED}


def test_risk_manager_when_drawdown_breached_then_announces_halt(
    make_ctx: MakeContext, store: SqliteStore
) -> None:
    store.save_snapshot(
        Portfolio(cash=90_000.0, peak_equity=100_000.0, day_start_equity=90_000.0), "book"
    )
    ctx = make_ctx()
    out = risk_manager.run(ctx, [idea(ctx, "GOOG")])
    assert verdicts(out)["GOOG"].denial.code is DenialCode.MAX_DRAWDOWN_BREACHED
    assert any(
        isinstance(m.payload, StateChange) and m.payload.state is TradingState.HALTED for m in out
    )


def test_risk_desk_when_no_ideas_then_silent(make_ctx: MakeContext, tmp_path: Path) -> None:
    ctx = make_ctx()
    assert risk_manager.run(ctx, []) == portfolio_risk.run(ctx, []) == compliance.run(ctx, []) == []
