"""quorum simulate: the 22 agents once per XNYS session, fills at the next open, and no
look-ahead (decisions up to day D do not change when every bar after D changes)."""

from __future__ import annotations

import asyncio
import json
from datetime import date
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from typer.testing import CliRunner

from adapters.cli.main import app
from adapters.marketdata.files import FileMarketData
from adapters.runtime import run_simulation
from adapters.storage.sqlite import SqliteStore
from config.settings import DATA_DIR, load_settings
from core.bars import BarSeries
from core.orders import OrderSide
from tests.unit.workflows.scripted import MemoryMarket
from workflows.simulate import trading_sessions

START, END = date(2013, 1, 2), date(2013, 1, 4)


class FutureRewritten:
    """The shipped bars, with every bar after ``cutoff`` replaced by a different path."""

    def __init__(self, cutoff: date) -> None:
        self._files = FileMarketData(DATA_DIR / "us_daily")
        self._cutoff = np.datetime64(cutoff, "ns") + np.timedelta64(1, "D")

    def symbols(self) -> list[str]:
        return self._files.symbols()

    def instrument(self, symbol: str) -> Any:
        return self._files.instrument(symbol)

    def bars(self, symbol, start=None, end=None, adjusted=True) -> BarSeries:  # type: ignore[no-untyped-def]
        s = self._files.bars(symbol, start=start, end=end, adjusted=adjusted)
        later = s.timestamps >= self._cutoff
        if not later.any():
            return s
        crash = np.where(later, 0.3, 1.0)  # a 70 % crash the day after the cutoff
        return BarSeries(
            symbol=s.symbol,
            timestamps=s.timestamps,
            open=s.open * crash,
            high=s.high * crash,
            low=s.low * crash,
            close=s.close * crash,
            volume=np.where(later, s.volume * 10, s.volume),
            adj_close=None if s.adj_close is None else s.adj_close * crash,
            adjusted=s.adjusted,
        )


def _simulate(tmp_path: Path, market: Any = None) -> Any:
    settings = load_settings(state_dir=tmp_path)
    return asyncio.run(run_simulation(settings, START, END, llm="offline", market=market))


def _decisions(result: Any) -> list[tuple[Any, ...]]:
    return [
        (
            d["date"],
            d["ideas"],
            tuple((o["symbol"], o["side"], o["qty"], o["type"]) for o in d["orders"]),
            d["fills"],
            d["equity"],
        )
        for d in result.days
    ]


def test_simulate_when_bars_after_the_last_day_change_then_decisions_do_not(
    tmp_path: Path,
) -> None:
    honest = _simulate(tmp_path / "a")
    rewritten = _simulate(tmp_path / "b", FutureRewritten(END))
    assert [d["date"] for d in honest.days] == ["2013-01-02", "2013-01-03", "2013-01-04"]
    assert any(d["orders"] for d in honest.days), "the check is only meaningful with trades"
    assert _decisions(rewritten) == _decisions(honest)
    first_day = honest.days[0]["orders"]
    assert first_day and {o["status"] for o in first_day} == {"filled"}  # at the next open

    # Orders of one session fill at the next session's open (plus slippage), never earlier.
    store = SqliteStore(tmp_path / "a" / "simulations" / f"{START}_{END}" / "quorum.db")
    market = FileMarketData(DATA_DIR / "us_daily")
    try:
        fills = store.fills()
        assert fills
        for fill in fills:
            order = store.order(fill.order_id)
            assert order is not None
            day = date.fromisoformat(fill.ts.date().isoformat())
            bars = market.bars(fill.symbol, start=day, end=day)
            open_price = float(bars.open[0])
            slip = 1 + 5e-4 if fill.side is OrderSide.BUY else 1 - 5e-4
            assert fill.price == pytest.approx(open_price * slip, rel=1e-9)
            # client_ref = q-<cycle id>-<intent hash>, cycle id = sim-<name>-<session>
            cycle_day = date.fromisoformat(order.client_ref.rsplit("-", 1)[0][-10:])
            assert cycle_day < day
    finally:
        store.close()
    assert Path(honest.report).is_file()
    assert honest.report.endswith(f"simulation-{START}_{END}.html")


def test_trading_sessions_skip_exchange_holidays() -> None:
    market = MemoryMarket(["AAPL"], "2013-01-01", 20)
    sessions = trading_sessions(market, ["AAPL"], date(2013, 1, 1), date(2013, 1, 25))
    assert date(2013, 1, 1) not in sessions  # New Year's Day
    assert date(2013, 1, 21) not in sessions  # Martin Luther King Jr. Day
    assert sessions[0] == date(2013, 1, 2)


def test_demo_cli_when_short_range_then_prints_summary_and_writes_report(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("QUORUM_STATE_DIR", str(tmp_path / "var"))
    args = ["demo", "--from", "2013-02-27", "--to", "2013-03-01", "--json"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["summary"]["sessions"] == 3
    assert data["summary"]["LLM calls"] == 0  # offline backend
    assert Path(data["report"]).is_file()
    again = CliRunner().invoke(app, args)  # the demo always starts fresh
    assert json.loads(again.stdout)["summary"] == data["summary"]


def test_simulate_cli_when_to_before_from_then_clear_error(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["simulate", "--from", "2013-02-01", "--to", "2013-01-01"])
    assert result.exit_code != 0
    assert "before --from" in result.output


@pytest.mark.parametrize("span", [("2030-01-01", "2030-02-01"), ("1990-01-01", "1990-02-01")])
def test_simulate_cli_when_no_session_with_data_then_clear_error_and_nothing_written(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, span: tuple[str, str]
) -> None:
    monkeypatch.setenv("QUORUM_STATE_DIR", str(tmp_path / "var"))
    result = CliRunner().invoke(app, ["simulate", "--from", span[0], "--to", span[1]])
    assert result.exit_code != 0
    assert "no trading session with bars between" in result.output
    assert "covers 2000-03-01 .. 2013-03-01" in result.output
    assert not (tmp_path / "var" / "simulations").exists()


def test_trading_sessions_when_range_runs_past_the_data_then_stops_at_the_last_bar() -> None:
    market = MemoryMarket(["AAPL"], "2013-01-02", 20)
    sessions = trading_sessions(market, ["AAPL"], date(2013, 1, 2), date(2031, 1, 1))
    assert len(sessions) == 19  # 20 business days, one of them a holiday (MLK day)
    assert trading_sessions(market, ["AAPL"], date(2030, 1, 1), date(2031, 1, 1)) == []


def test_simulate_when_rerun_with_same_name_then_finished_days_are_read_back_not_rerun(
    tmp_path: Path,
) -> None:
    settings = load_settings(state_dir=tmp_path)

    def run(end: date) -> Any:
        return asyncio.run(run_simulation(settings, START, end, llm="offline", name="s"))

    first = run(date(2013, 1, 3))
    store = SqliteStore(tmp_path / "simulations" / "s" / "quorum.db")
    try:
        journal_before = {
            d["cycle_id"]: len(store.messages_by_cycle(d["cycle_id"])) for d in first.days
        }
        orders_before = len(store.orders())
    finally:
        store.close()
    again = run(END)  # one more session: the first two are finished cycles
    assert [d["date"] for d in again.days] == ["2013-01-02", "2013-01-03", "2013-01-04"]
    assert _decisions(again)[:2] == _decisions(first)
    store = SqliteStore(tmp_path / "simulations" / "s" / "quorum.db")
    try:
        for cycle_id, size in journal_before.items():
            assert len(store.messages_by_cycle(cycle_id)) == size  # nothing ran again
        assert len(store.orders()) == orders_before + len(again.days[2]["orders"])
    finally:
        store.close()


def test_simulate_cli_when_llm_backend_unknown_then_clear_error_and_nothing_written(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("QUORUM_STATE_DIR", str(tmp_path / "var"))
    args = ["simulate", "--from", "2013-01-02", "--to", "2013-01-04", "--llm", "gpt"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code != 0
    assert "unknown LLM backend 'gpt'" in result.output
    assert not (tmp_path / "var").exists()
