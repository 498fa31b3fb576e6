"""An operator runs two real cycles (22 agents, offline, shipped bars) through the
service that ``make_operator_service`` wires, then reads what they did: status, positions
from the paper account, orders, P&L, the report and the explanation of the order."""

from __future__ import annotations

from pathlib import Path

from adapters.factories import make_operator_service, make_store
from config.settings import load_settings
from core.notifications import CycleFinished, Notification
from workflows.operator import Caller, DenialCode, Platform
from workflows.operator_views import (
    CycleRunView,
    ExplainView,
    PnlView,
    PositionsView,
    ReportView,
    StatusView,
)
from workflows.operators import Role


class Recorder:
    def __init__(self) -> None:
        self.sent: list[Notification] = []

    def notify(self, notification: Notification) -> None:
        self.sent.append(notification)


async def test_cycle_run_then_reads_when_trader_on_the_console_then_real_results(
    tmp_path: Path,
) -> None:
    settings = load_settings(
        state_dir=tmp_path / "var", universe={"symbols": ["AAPL", "GOOG", "IBM", "MSFT"]}
    )
    store = make_store(settings)
    notes = Recorder()
    service = make_operator_service(settings, store, notifier=notes)
    service.registry.enrol("tom", Role.TRADER, actor="test")
    tom = Caller(platform=Platform.CONSOLE, user_id="tom")
    try:
        first = await service.run_text(tom, "cycle run 2013-02-27")
        assert first.ok, first.message
        assert isinstance(first.data, CycleRunView) and first.data.cycle.orders >= 1
        order_ref = first.data.summary["orders"][0]["client_ref"]
        second = await service.run_text(tom, "cycle run 2013-02-28")  # fills at the open
        assert second.ok, second.message
        finished = [n.cycle_id for n in notes.sent if isinstance(n, CycleFinished)]
        assert finished == ["cycle-2013-02-27", "cycle-2013-02-28"]  # each announced once

        status = (await service.run_text(tom, "status")).data
        assert isinstance(status, StatusView) and status.equity is not None
        assert status.last_cycle is not None and status.last_cycle.cycle_id == "cycle-2013-02-28"
        assert status.pnl_date == "2013-02-28"

        positions = (await service.run_text(tom, "positions")).data
        assert isinstance(positions, PositionsView) and positions.source == "paper"
        assert positions.rows and positions.equity == status.equity

        pnl = (await service.run_text(tom, "pnl 5")).data
        assert isinstance(pnl, PnlView) and [r.date for r in pnl.rows] == [
            "2013-02-27",
            "2013-02-28",
        ]

        report = (await service.run_text(tom, "report 2013-02-27")).data
        assert isinstance(report, ReportView) and Path(report.path).exists()

        why = (await service.run_text(tom, f"explain {order_ref}")).data
        assert isinstance(why, ExplainView) and why.cycle_id == "cycle-2013-02-27"
        assert [n["kind"] for n in why.explanation["chain"]][:2] == [
            "order_update",
            "order_intent",
        ]

        outside = await service.run_text(tom, "cycle run 2031-01-01")
        assert outside.code is DenialCode.COMMAND_FAILED
        assert "outside the market data" in outside.message
        assert service.control.audit.verify().ok
    finally:
        store.close()
