"""CLI rough edges found by acceptance walk-throughs: a missing input file is one line
naming it with exit 2 (files that need a human) and no traceback, wherever a command reads
a file; tables never cut dates or ids at 80 columns; `journal tail --cycle` on an unknown
cycle is an error that lists known cycles, not an empty success."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from adapters.cli.main import app
from adapters.storage.sqlite import SqliteStore
from core.messages import Envelope, Note
from tests.conftest import DATA_DIR
from workflows.service import CYCLES

MISSING = "no-such-dir/missing.csv"
COMMANDS = {
    "data validate": ["data", "validate", MISSING],
    "backtest --data": ["backtest", "--data", MISSING, "--strategy", "momentum"],
    "sweep --bars": [
        "sweep",
        "--strategy",
        "momentum",
        "--grid",
        "lookback=5:10",
        "--bars",
        MISSING,
    ],
    "secrets encrypt": ["secrets", "encrypt", MISSING],
    "secrets decrypt": ["secrets", "decrypt", MISSING],
    "cycle run --universe": ["cycle", "run", "--universe", MISSING],
    "simulate --universe": [
        "simulate",
        "--from",
        "2013-01-02",
        "--to",
        "2013-01-10",
        "--universe",
        MISSING,
    ],
}


@pytest.mark.parametrize("args", COMMANDS.values(), ids=COMMANDS.keys())
def test_command_when_its_input_file_is_missing_then_one_line_naming_it_and_exit_2(
    args: list[str],
) -> None:
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 2, result.output
    assert result.stderr.count("\n") == 1, result.stderr
    assert result.stderr.startswith("error: ") and MISSING in result.stderr
    assert "Traceback" not in result.output
    assert not Path("var/simulations").exists()  # refused before anything was written


def test_data_validate_when_one_of_several_files_is_missing_then_none_is_validated() -> None:
    good = str(DATA_DIR / "us_daily" / "IBM.csv.gz")
    result = CliRunner().invoke(app, ["data", "validate", good, MISSING, "--json"])
    assert result.exit_code == 2 and result.stdout == ""


def test_backtest_when_80_columns_then_every_trade_date_prints_whole(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("COLUMNS", "80")
    args = ["backtest", "--data", str(DATA_DIR / "us_daily" / "AAPL.csv.gz"),
            "--strategy", "ma_crossover", "--trailing-stop", "0.05"]  # fmt: skip
    runner = CliRunner()
    text = runner.invoke(app, args)
    trades = json.loads(runner.invoke(app, [*args, "--json"]).stdout)["trades"][-20:]
    assert text.exit_code == 0
    lines = [line for line in text.stdout.splitlines() if line.strip().startswith("long")]
    assert len(lines) == 20
    assert all(len(line) <= 80 for line in text.stdout.splitlines())
    for line, trade in zip(lines, trades, strict=True):
        assert trade["entry_time"] in line and trade["exit_time"] in line
        assert f"{trade['size']}" in line and "…" not in line


def test_backtest_when_terminal_too_narrow_then_rows_print_whole_as_plain_lines(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("COLUMNS", "50")
    args = ["backtest", "--data", str(DATA_DIR / "us_daily" / "AAPL.csv.gz"),
            "--strategy", "ma_crossover", "--trailing-stop", "0.05"]  # fmt: skip
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0
    assert "…" not in result.stdout
    assert "long  2012-12-04  75.45  2012-12-05  71.67  2588  -9,763  -5.00  trailing_stop" in (
        result.stdout
    )


def _journal(cycles: list[str]) -> None:
    store = SqliteStore(Path("var") / "quorum.db")
    for n, cycle in enumerate(cycles):
        store.append_message(Envelope(cycle_id=cycle, sender="s", payload=Note(topic="t")))
        store.put_document(CYCLES, cycle, {"cycle_id": cycle, "as_of": f"2013-02-{10 + n}"})
    store.close()


def test_journal_tail_when_cycle_unknown_then_exit_1_listing_the_newest_known_cycles() -> None:
    _journal([f"cycle-2013-02-{10 + n}" for n in range(7)])
    result = CliRunner().invoke(app, ["journal", "tail", "--cycle", "cycle-2099-01-01"])
    assert result.exit_code == 1
    assert result.stderr == (
        "error: no cycle 'cycle-2099-01-01' in the journal; known cycles: cycle-2013-02-16,"
        " cycle-2013-02-15, cycle-2013-02-14, cycle-2013-02-13, cycle-2013-02-12 and 2 more\n"
    )
    assert result.stdout == ""


def test_journal_tail_when_journal_empty_and_cycle_asked_then_says_it_is_empty() -> None:
    result = CliRunner().invoke(app, ["journal", "tail", "--cycle", "c1", "--json"])
    assert result.exit_code == 1
    assert "no cycle 'c1' in the journal (the journal is empty)" in result.stderr


def test_journal_tail_when_80_columns_then_cycle_ids_print_whole(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("COLUMNS", "80")
    _journal(["cycle-2013-02-27"])
    result = CliRunner().invoke(app, ["journal", "tail", "--cycle", "cycle-2013-02-27"])
    assert result.exit_code == 0
    assert "cycle-2013-02-27" in result.stdout and "…" not in result.stdout


def test_cycle_run_when_80_columns_then_order_ids_and_client_refs_print_whole(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("COLUMNS", "80")
    result = CliRunner().invoke(app, ["cycle", "run", "--date", "2013-02-28"])
    assert result.exit_code == 0, result.output
    store = SqliteStore(Path("var") / "quorum.db")
    try:
        doc = store.get_document(CYCLES, "cycle-2013-02-28")
    finally:
        store.close()
    assert doc is not None and doc["summary"]["orders"], "the offline desk trades that day"
    for order in doc["summary"]["orders"]:  # rich used to print `q-cycle-2013-02-28-…`
        assert order["order_id"] in result.stdout and order["client_ref"] in result.stdout
    assert "…" not in result.stdout
