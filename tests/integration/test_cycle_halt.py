"""The graph's conditional edges with the real agents (22 registry agents, shipped bars).

Halt: an agents' book that has fallen 9 % from its peak. The real ``drawdown_guard`` must
halt the cycle at the risk gate: the report is written, no order reaches the broker, the
``state_change`` is journaled. The control run (same day, no drawdown) trades, so the halt
is what stopped the orders. No intent: a day the desk does not trade skips execution."""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Any

from adapters.runtime import cycle_service
from config.settings import load_settings
from core.messages import StateChange, TradeIdeaPayload
from core.portfolio import Portfolio
from core.risk import TradingState
from workflows.service import BOOK_LABEL

DAY = date(2013, 2, 27)
UNIVERSE = ["AAPL", "GOOG", "IBM", "MSFT"]
STARTING_CASH = 100_000.0


async def _cycle(tmp_path: Path, peak_equity: float | None) -> dict[str, Any]:
    settings = load_settings(state_dir=tmp_path / "var", universe={"symbols": UNIVERSE})
    async with cycle_service(settings, llm="offline") as service:
        if peak_equity is not None:
            # The book as a previous reconciliation left it: flat, 100k cash, peak 110k.
            book = Portfolio.open(STARTING_CASH).model_copy(update={"peak_equity": peak_equity})
            service.store.save_snapshot(book, BOOK_LABEL)
        summary = await service.run(DAY)
        messages = service.store.messages_by_cycle(summary["cycle_id"])
        assert service.broker is not None
        return {
            "summary": summary,
            "messages": messages,
            "orders_in_store": service.store.orders(),
            "open_at_broker": await service.broker.open_orders(),
            "steps": (await service.app.aget_state(_thread(summary["cycle_id"]))).values["steps"],
        }


def _thread(cycle_id: str) -> Any:
    return {"configurable": {"thread_id": cycle_id}}


async def test_cycle_when_book_is_9pct_below_peak_then_real_drawdown_guard_halts_without_orders(
    tmp_path: Path,
) -> None:
    run = await _cycle(tmp_path, peak_equity=110_000.0)
    summary = run["summary"]
    assert summary["status"] == "halted"
    assert summary["orders"] == []
    assert run["orders_in_store"] == [] and run["open_at_broker"] == []
    steps = run["steps"]
    assert steps[-2:] == ["risk_gate", "report"]
    assert "portfolio_manager" not in steps and "execution" not in steps
    assert "risk:drawdown_guard" in steps

    changes = [m for m in run["messages"] if isinstance(m.payload, StateChange)]
    assert {m.payload.state for m in changes} == {TradingState.HALTED}
    # The pre-trade kernel (risk_manager, sizing the day's ideas) sees the drawdown too;
    # the guard is the circuit breaker that must fire whatever the ideas are.
    guard = [m for m in changes if m.sender == "drawdown_guard"]
    assert len(guard) == 1
    assert "MAX_DRAWDOWN_BREACHED" in guard[0].payload.reason
    assert guard[0].causation_id is not None  # points at the drawdown figures
    figures = next(m for m in run["messages"] if m.id == guard[0].causation_id)
    assert figures.payload.figures["drawdown"] >= 0.05

    report_notes = [
        m.payload.data
        for m in run["messages"]
        if m.kind == "note" and m.payload.topic == "cycle_report"
    ]
    assert len(report_notes) == 1 and report_notes[0]["status"] == "halted"
    assert "MAX_DRAWDOWN_BREACHED" in report_notes[0]["halt_reason"]
    assert Path(summary["report"]).is_file()
    markdown = Path(summary["report"]).with_suffix(".md").read_text()
    assert "halted" in markdown


async def test_cycle_when_book_at_its_peak_then_same_day_trades(tmp_path: Path) -> None:
    run = await _cycle(tmp_path, peak_equity=None)
    summary = run["summary"]
    assert summary["status"] == "completed"
    assert any(isinstance(m.payload, TradeIdeaPayload) for m in run["messages"])
    assert summary["orders"], "without a drawdown the desk trades on this day"
    assert not any(isinstance(m.payload, StateChange) for m in run["messages"])


async def test_cycle_when_real_desk_has_no_order_intent_then_execution_is_skipped(
    tmp_path: Path,
) -> None:
    # 2013-01-10, AAPL + MSFT, offline: shortlisted on weak readings, nothing to trade.
    settings = load_settings(state_dir=tmp_path / "var", universe={"symbols": ["AAPL", "MSFT"]})
    async with cycle_service(settings, llm="offline") as service:
        summary = await service.run(date(2013, 1, 10))
        steps = (await service.app.aget_state(_thread(summary["cycle_id"]))).values["steps"]
        orders = service.store.orders()
    assert summary["status"] == "completed"
    assert summary["orders"] == [] and orders == []
    assert "research_manager" in steps and "portfolio_manager" in steps
    assert "execution" not in steps
    assert steps[steps.index("portfolio_manager") + 1] == "reconciliation"
