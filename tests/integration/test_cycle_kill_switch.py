"""The operator's kill switch with the real 22 agents on the shipped bars.

Engaged before the cycle: the cycle goes straight to its report and sends nothing.
Engaged while the cycle runs (after the desks decided, before execution): the execution
desk refuses every intent with TRADING_HALTED, nothing reaches the broker, and the
state change is journaled. The control run (2013-02-27, nothing engaged) trades."""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Any

from adapters.factories import make_control
from adapters.runtime import cycle_service
from config.settings import load_settings
from core.messages import Rejection, StateChange
from core.risk import DenialCode, TradingState

DAY = date(2013, 2, 27)
UNIVERSE = ["AAPL", "GOOG", "IBM", "MSFT"]


async def _run(tmp_path: Path, *, before: bool, during: bool) -> dict[str, Any]:
    settings = load_settings(state_dir=tmp_path / "var", universe={"symbols": UNIVERSE})
    async with cycle_service(settings, llm="offline") as service:
        control = make_control(settings, service.store)
        if before:
            control.engage_kill_switch("operator drill", "ops")
        calls = 0

        def probe() -> TradingState:
            # first read: the cycle opens; second: right before execution
            nonlocal calls
            calls += 1
            if during and calls == 2:
                control.engage_kill_switch("engaged mid-cycle", "ops")
            return control.effective()

        service.trading_probe = probe
        summary = await service.run(DAY)
        assert service.broker is not None
        return {
            "summary": summary,
            "messages": service.store.messages_by_cycle(summary["cycle_id"]),
            "broker_orders": await service.broker.open_orders(),
            "stored_orders": service.store.orders(),
        }


async def test_control_run_without_kill_switch_places_orders(tmp_path: Path) -> None:
    run = await _run(tmp_path, before=False, during=False)
    assert run["summary"]["status"] == "completed"
    assert run["stored_orders"], "the control day must trade, or the other tests prove nothing"


async def test_kill_switch_engaged_before_the_cycle_sends_nothing(tmp_path: Path) -> None:
    run = await _run(tmp_path, before=True, during=False)
    assert run["summary"]["status"] == "halted"
    assert run["stored_orders"] == [] and run["broker_orders"] == []


async def test_kill_switch_engaged_mid_cycle_stops_orders_before_the_broker(
    tmp_path: Path,
) -> None:
    run = await _run(tmp_path, before=False, during=True)
    summary, messages = run["summary"], run["messages"]
    assert summary["status"] == "halted"
    assert run["stored_orders"] == [] and run["broker_orders"] == []
    changes = [m.payload for m in messages if isinstance(m.payload, StateChange)]
    assert any(c.state is TradingState.HALTED and "during the cycle" in c.reason for c in changes)
    refused = [
        m.payload
        for m in messages
        if isinstance(m.payload, Rejection) and m.payload.denial.code is DenialCode.TRADING_HALTED
    ]
    assert refused, "each intent must be refused with TRADING_HALTED, not silently dropped"
