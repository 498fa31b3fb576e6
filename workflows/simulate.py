"""Historical simulation: the full agent graph once per trading day, with the paper broker.

For each XNYS session in the range (and in the data), ``CycleService.run(day)``:
the broker is fed that day's bar first, so orders placed on the previous session fill at
this session's open; then the agents run on a point-in-time view that ends at ``day``.
Nothing an agent sees on day D depends on bars after D (``PointInTimeMarket`` raises on
any attempt; ``tests/integration/test_simulate*.py`` checks decisions do not change when
later bars do).

Cycle ids are ``sim-<name>-<day>``: re-running a simulation with the same name after a
crash skips finished days and resumes the interrupted one from its checkpoint.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

from core.ports import MarketData
from workflows.report import drawdown_series, write_simulation_report
from workflows.service import CycleService

DayHook = Callable[[dict[str, Any]], None]


def trading_sessions(market: MarketData, symbols: list[str], start: date, end: date) -> list[date]:
    """XNYS sessions in ``[start, end]`` on which the data has a bar for some symbol."""
    import exchange_calendars as xcals
    import pandas as pd

    in_data: set[date] = set()
    for symbol in symbols:
        stamps = market.bars(symbol, start=start, end=end).timestamps
        in_data |= {d.item() for d in stamps.astype("datetime64[D]")}
    if not in_data:
        return []
    # The calendar spans only the days with data: its default bounds (about a year ahead
    # of today) would refuse a range beyond them.
    lo, hi = pd.Timestamp(min(in_data)), pd.Timestamp(max(in_data))
    calendar = xcals.get_calendar("XNYS", start=lo - pd.Timedelta(days=7), end=hi)
    sessions = {s.date() for s in calendar.sessions_in_range(lo, hi)}
    return sorted(sessions & in_data)


@dataclass
class SimulationResult:
    name: str
    start: date
    end: date
    days: list[dict[str, Any]] = field(default_factory=list)
    report: str = ""

    def facts(self, starting_cash: float) -> dict[str, Any]:
        equity = [float(d["equity"]) for d in self.days if d.get("equity") is not None]
        final = equity[-1] if equity else starting_cash
        dd = drawdown_series([starting_cash, *equity])
        return {
            "period": f"{self.start} .. {self.end}",
            "sessions": len(self.days),
            "starting cash": round(starting_cash, 2),
            "final equity": round(final, 2),
            "return %": round(100 * (final / starting_cash - 1), 3),
            "max drawdown %": round(100 * max(dd, default=0.0), 3),
            "orders": sum(len(d["orders"]) for d in self.days),
            "fills": sum(d["fills"] for d in self.days),
            "rejections": sum(len(d["rejected"]) for d in self.days),
            "halted days": sum(1 for d in self.days if d["status"] == "halted"),
            "LLM calls": sum(d["llm"]["calls"] for d in self.days),
            "LLM cost USD": round(sum(d["llm"]["cost_usd"] for d in self.days), 4),
            "LLM fallbacks": sum(d["llm"]["fallbacks"] for d in self.days),
        }

    def as_dict(self, starting_cash: float) -> dict[str, Any]:
        return {
            "name": self.name,
            "from": self.start.isoformat(),
            "to": self.end.isoformat(),
            "summary": self.facts(starting_cash),
            "report": self.report,
            "days": self.days,
        }


async def simulate(
    service: CycleService,
    name: str,
    start: date,
    end: date,
    starting_cash: float,
    on_day: DayHook | None = None,
) -> SimulationResult:
    if end < start:
        raise ValueError(f"--to {end} is before --from {start}")
    days = trading_sessions(service.market, service.universe, start, end)
    result = SimulationResult(name=name, start=start, end=end)
    for day in days:
        summary = await service.run(day, cycle_id=f"sim-{name}-{day.isoformat()}")
        result.days.append(summary)
        if on_day is not None:
            on_day(summary)
    for day_summary in result.days:  # orders as they ended, not as they stood that evening
        for row in day_summary["orders"]:
            final = service.store.order(row["order_id"])
            if final is not None:
                row["status"] = final.status.value
    report = write_simulation_report(
        service.reports_dir, name, result.facts(starting_cash), result.days
    )
    result.report = str(report)
    return result


def reports_dir(state_dir: Path) -> Path:
    return state_dir / "reports"
