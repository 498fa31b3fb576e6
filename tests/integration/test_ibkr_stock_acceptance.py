"""Issue 11 the way a new user (or a held-out check) runs it: `quorum ibkr simulate` with its
defaults (a 1,000,000 USD paper account), IBKR historical bars as the only market data on
a fresh state dir with nothing fetched beforehand, then `quorum cycle run` / `quorum
daemon --once` as processes, and a stock ib_async client looking at what reached the
broker."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from ib_async import IB, Stock

from tests.conftest import REPO_ROOT
from tests.fixtures.simulate_process import simulate_process

pytestmark = pytest.mark.timeout(400)

QUORUM = [sys.executable, "-m", "adapters.cli.main"]


@pytest.fixture(scope="module")
def simulator() -> Iterator[dict[str, Any]]:
    with simulate_process() as (_, info):
        yield info


def quorum(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*QUORUM, *args], cwd=REPO_ROOT, env=env, text=True,
                          capture_output=True, timeout=300, check=False)  # fmt: skip


def fresh_env(tmp_path: Path, port: int, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("QUORUM_", "PYTHONDONT"))}
    env.update({
        "QUORUM_STATE_DIR": str(tmp_path / "var"),
        "QUORUM_MASTER_KEY_FILE": str(tmp_path / "no-such.key"),
        "QUORUM_MARKETDATA__PROVIDERS": '["ibkr"]',
        "QUORUM_BROKER__IBKR__PORT": str(port),
        **extra,
    })  # fmt: skip
    return env


def test_cycle_on_default_simulator_when_fresh_cache_then_stock_client_sees_stp_per_position(
    simulator: dict[str, Any], tmp_path: Path
) -> None:
    env = fresh_env(tmp_path, simulator["port"], QUORUM_BROKER__KIND="ibkr")
    ran = quorum(env, "cycle", "run", "--date", "2013-02-27", "--json")
    assert ran.returncode == 0, ran.stderr[-3000:]
    summary = json.loads(ran.stdout)
    assert summary["rejected"] == []  # not NOTIONAL_CAP_EXCEEDED: sized within the cap
    assert [o["status"] for o in summary["orders"]] == ["filled"] * len(summary["orders"]) != []

    ib = IB()
    ib.connect("127.0.0.1", simulator["port"], clientId=77, timeout=10)
    try:
        positions = {p.contract.symbol: p.position for p in ib.positions()}
        trades = ib.reqAllOpenOrders()
    finally:
        ib.disconnect()
    assert positions, "the cycle opened a position"
    for symbol, qty in positions.items():
        stops = [t for t in trades if t.contract.symbol == symbol and t.order.orderType == "STP"]
        assert sum(t.order.totalQuantity for t in stops) == abs(qty), symbol
        assert all(t.order.tif == "GTC" and t.order.action == "SELL" for t in stops)
        assert all(t.orderStatus.status == "Submitted" for t in stops)


def test_daemon_once_for_a_past_session_when_nothing_fetched_then_it_fetches_and_runs(
    simulator: dict[str, Any], tmp_path: Path
) -> None:
    env = fresh_env(tmp_path, simulator["port"])  # the paper broker; bars from the simulator
    ran = quorum(env, "daemon", "--once", "--session", "2013-03-01", "--json")
    assert ran.returncode == 0, ran.stderr[-3000:]
    event = json.loads(ran.stdout)
    assert (event["kind"], event["session"], event["detail"]) == ("ran", "2013-03-01", "completed")


def test_stock_client_when_it_asks_for_the_latest_daily_bars_then_the_simulator_serves_them(
    simulator: dict[str, Any],
) -> None:
    # ib_async's own example: endDateTime='' (now). The simulator's now is its market's,
    # the last shipped session; it used to answer 162 "no data" (today is past the files).
    ib = IB()
    ib.connect("127.0.0.1", simulator["port"], clientId=78, timeout=10)
    try:
        bars = ib.reqHistoricalData(Stock("AAPL", "SMART", "USD"), endDateTime="",
                                    durationStr="30 D", barSizeSetting="1 day",
                                    whatToShow="TRADES", useRTH=True, formatDate=1)  # fmt: skip
    finally:
        ib.disconnect()
    assert len(bars) == 21  # the sessions of 2013-01-31 .. 2013-03-01
    assert str(bars[-1].date) == "2013-03-01"
    assert bars[-1].close == simulator["market_prices"]["AAPL"]  # what a market order pays


def test_daemon_once_when_ibkr_cache_empty_and_no_session_then_says_how_to_get_older_bars(
    simulator: dict[str, Any], tmp_path: Path
) -> None:
    # No session named: the provider's default window is the last two years up to today,
    # where the simulator (shipped history to 2013-03-01) has nothing.
    ran = quorum(fresh_env(tmp_path, simulator["port"]), "daemon", "--once")
    assert ran.returncode == 2
    last = ran.stderr.strip().splitlines()[-1]
    assert last.startswith("error: no bars at all for AAPL, MSFT, IBM, GOOG")
    assert "--session" in last and "quorum data fetch --from" in last
