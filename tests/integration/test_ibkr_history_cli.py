"""`quorum data fetch` through the CLI runner against the TWS simulator, and the CLI's
one-line errors (no ib_async log lines before them) as a user sees them in a terminal."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from typer.testing import CliRunner, Result

from adapters.brokers.ibkr_sim import TwsSimulator
from adapters.cli.main import app
from adapters.marketdata.cache import COLLECTION
from adapters.storage.sqlite import SqliteStore

pytestmark = pytest.mark.timeout(60)

REPO = Path(__file__).resolve().parents[2]
runner = CliRunner()


@pytest.fixture
async def sim() -> AsyncIterator[TwsSimulator]:
    simulator = await TwsSimulator().start()
    try:
        yield simulator
    finally:
        await simulator.stop()


async def invoke(*args: str) -> Result:
    """The CLI is synchronous: run it beside the simulator's loop, not on it."""
    return await asyncio.to_thread(runner.invoke, app, list(args))


def run_quorum(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "adapters.cli.main", *args],
        check=False,
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "COLUMNS": "80", **(env or {})},
    )


async def test_data_fetch_when_run_twice_then_second_run_downloads_nothing(
    sim: TwsSimulator, tmp_path: Path
) -> None:
    args = ("data", "fetch", "--symbols", "AAPL,msft", "--from", "2012-01-01",
            "--to", "2013-03-01", "--port", str(sim.port))  # fmt: skip
    first = await invoke(*args)
    assert first.exit_code == 0, first.output
    assert "AAPL: 291 bars 2012-01-03 .. 2013-03-01 (ibkr, 1 request(s))" in first.stdout
    assert "MSFT: 291 bars 2012-01-03 .. 2013-03-01 (ibkr, 1 request(s))" in first.stdout
    second = await invoke(*args, "--json")
    assert second.exit_code == 0, second.output
    rows = json.loads(second.stdout)["symbols"]
    assert [(r["symbol"], r["bars"], r["requests"]) for r in rows] == [
        ("AAPL", 291, 0),
        ("MSFT", 291, 0),
    ]
    assert sim.history.served() == 2
    store = SqliteStore(tmp_path / "var" / "quorum.db")  # the settings' store, cwd = tmp_path
    try:
        assert {d["symbol"] for d in store.documents(COLLECTION)} == {"AAPL", "MSFT"}
    finally:
        store.close()


async def test_data_fetch_when_symbol_unknown_then_named_with_code_and_exit_1(
    sim: TwsSimulator,
) -> None:
    result = await invoke("data", "fetch", "--symbols", "AAPL,ZZZZ", "--from", "2013-02-01",
                          "--to", "2013-03-01", "--port", str(sim.port), "--json")  # fmt: skip
    assert result.exit_code == 1
    rows = {r["symbol"]: r for r in json.loads(result.stdout)["symbols"]}
    assert rows["AAPL"]["ok"] and rows["AAPL"]["bars"] == 20  # February (19 sessions) + 1 March
    assert rows["ZZZZ"]["code"] == "UNKNOWN_SYMBOL" and "IB 200" in rows["ZZZZ"]["error"]


async def test_data_fetch_when_csv_provider_then_reads_the_folder_and_caches_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = tmp_path / "bars"
    folder.mkdir()
    (folder / "ACME.csv").write_text(
        "date,open,high,low,close,volume\n2020-01-02,10,11,9,10.5,1000\n"
        "2020-01-03,10.5,11.5,10,11,1200\n"
    )
    monkeypatch.setenv("QUORUM_MARKETDATA__CSV_DIR", str(folder))
    result = await invoke("data", "fetch", "--symbols", "ACME,NONE", "--from", "2020-01-01",
                          "--provider", "csv")  # fmt: skip
    assert result.exit_code == 1
    assert "ACME: 2 bars 2020-01-02 .. 2020-01-03 (csv, 0 request(s))" in result.stdout
    assert "NONE: UNKNOWN_SYMBOL" in result.stderr


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--from", "2012-13-01"), "error: --from must be YYYY-MM-DD, not '2012-13-01'"),
        (("--from", "2013-01-02", "--to", "2013-01-01"), "error: --to 2013-01-01 is before"),
        (("--from", "2013-01-02", "--provider", "yahoo"), "error: unknown --provider 'yahoo'"),
    ],
)
async def test_data_fetch_when_arguments_bad_then_one_line_error(
    args: tuple[str, ...], message: str
) -> None:
    result = await invoke("data", "fetch", "--symbols", "AAPL", *args)
    assert result.exit_code in (1, 2)
    assert result.stderr.strip().startswith(message) and len(result.stderr.splitlines()) == 1


def test_data_fetch_when_gateway_down_then_one_line_naming_host_and_port(
    unused_tcp_port: int, tmp_path: Path
) -> None:
    port = str(unused_tcp_port)
    done = run_quorum("data", "fetch", "--symbols", "AAPL", "--from", "2013-01-02",
                      "--port", port, env={"QUORUM_STATE_DIR": str(tmp_path)})  # fmt: skip
    assert done.returncode == 1
    assert done.stderr.splitlines() == [
        f"error: IBKR market data: cannot connect to TWS / IB Gateway at 127.0.0.1:{port}"
        " (connection refused); is it running with the API enabled?"
    ]


def test_broker_status_when_gateway_down_then_no_ib_async_log_line_before_the_error(
    unused_tcp_port: int, tmp_path: Path
) -> None:
    done = run_quorum("broker", "status", "--broker", "ibkr", "--port", str(unused_tcp_port),
                      "--timeout", "5", env={"QUORUM_STATE_DIR": str(tmp_path)})  # fmt: skip
    assert done.returncode == 1
    lines = done.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and "API connection" not in lines[0]
    assert f"127.0.0.1:{unused_tcp_port}" in lines[0]


def test_simulate_help_when_80_columns_then_port_line_shows_default_7497() -> None:
    done = run_quorum("ibkr", "simulate", "--help")
    assert done.returncode == 0
    port_line = next(ln for ln in done.stdout.splitlines() if ln.strip("│ ").startswith("--port"))
    assert "7497" in port_line
    assert "[default: 7497]" in done.stdout
