"""Crafted bad files of every kind the validator knows, and the layouts it accepts."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from adapters.cli.main import app
from adapters.marketdata.files import FileMarketData, load_bars, validate_file
from adapters.marketdata.validation import Rule
from core.errors import DataValidationError

DATA = Path(__file__).resolve().parents[4] / "data" / "us_daily"
GOOD = (
    "Date,Open,High,Low,Close,Adj Close,Volume\n"
    "2020-01-02,10,11,9,10.5,10.4,1000\n"
    "2020-01-03,10.5,11.5,10,11,10.9,1200\n"
    "2020-01-06,11,12,10.5,11.5,11.4,900\n"
)


def _write(tmp_path: Path, text: str, name: str = "X.csv") -> Path:
    p = tmp_path / name
    p.write_text(text)
    return p


def _rules(path: Path) -> list[tuple[int | None, str | None, Rule]]:
    report, bars = validate_file(path)
    assert (bars is None) == (not report.ok)
    return [(e.row, e.field, e.rule) for e in report.errors]


def test_yahoo_layout_is_accepted(tmp_path: Path) -> None:
    report, bars = validate_file(_write(tmp_path, GOOD))
    assert report.ok and report.rows == 3 and bars is not None
    assert bars.symbol == "X"
    np.testing.assert_allclose(bars.close, [10.5, 11, 11.5])
    assert bars.timestamps[0] == np.datetime64("2020-01-02T00:00", "ns")


def test_any_column_order_leading_index_and_utc_offsets_are_accepted(tmp_path: Path) -> None:
    text = (
        ",volume,close,low,high,open,timestamp\n"
        "0,1000,10.5,9,11,10,2020-01-02T14:30:00-05:00\n"
        "1,1200,11,10,11.5,10.5,2020-01-03T19:30:00Z\n"
    )
    report, bars = validate_file(_write(tmp_path, text))
    assert report.ok, report.errors
    assert bars is not None
    assert bars.timestamps[0] == np.datetime64("2020-01-02T19:30", "ns")  # normalised to UTC
    assert bars.adj_close is None


def test_parquet_and_gzip_are_accepted(tmp_path: Path) -> None:
    frame = pd.read_csv(_write(tmp_path, GOOD))
    frame.to_parquet(tmp_path / "Y.parquet")
    assert validate_file(tmp_path / "Y.parquet")[0].ok
    with gzip.open(tmp_path / "Z.csv.gz", "wt") as f:
        f.write(GOOD)
    assert validate_file(tmp_path / "Z.csv.gz")[1].symbol == "Z"  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ("2020-01-07,11,12,10,nan,11,100", (5, "close", Rule.NOT_NUMERIC)),
        ("2020-01-07,11,12,10,abc,11,100", (5, "close", Rule.NOT_NUMERIC)),
        ("2020-01-07,11,12,10,,11,100", (5, "close", Rule.MISSING_VALUE)),
        ("2020-01-07,-1,12,-2,11,11,100", (5, "open", Rule.NON_POSITIVE_PRICE)),
        ("2020-01-07,11,10,12,11,11,100", (5, "high", Rule.HIGH_BELOW_LOW)),
        ("2020-01-07,13,12,10,11,11,100", (5, "open", Rule.OPEN_OUTSIDE_RANGE)),
        ("2020-01-07,11,12,10,9,11,100", (5, "close", Rule.CLOSE_OUTSIDE_RANGE)),
        ("2020-01-06,11,12,10,11,11,100", (5, "timestamp", Rule.DUPLICATE_TIMESTAMP)),
        ("2020-01-01,11,12,10,11,11,100", (5, "timestamp", Rule.UNSORTED_TIMESTAMP)),
        ("yesterday,11,12,10,11,11,100", (5, "timestamp", Rule.BAD_TIMESTAMP)),
        ("2020-01-07,11,12,10,11,11,-5", (5, "volume", Rule.NEGATIVE_VOLUME)),
    ],
)
def test_bad_row_is_named_by_file_row_field_and_rule(
    tmp_path: Path, line: str, expected: tuple[int, str, Rule]
) -> None:
    path = _write(tmp_path, GOOD + line + "\n")
    assert expected in _rules(path)
    with pytest.raises(DataValidationError) as err:
        load_bars(path)
    assert any(f"{path}:{expected[0]}" in p for p in err.value.problems)


def test_missing_column_is_named(tmp_path: Path) -> None:
    path = _write(tmp_path, "Date,Open,High,Low,Volume\n2020-01-02,1,2,0.5,10\n")
    assert (None, "close", Rule.MISSING_COLUMN) in _rules(path)


@pytest.mark.parametrize("text", ["", "Date,Open,High,Low,Close,Volume\n"])
def test_empty_file_is_an_error(tmp_path: Path, text: str) -> None:
    assert [r for _, _, r in _rules(_write(tmp_path, text))] == [Rule.EMPTY_FILE]


def test_zero_volume_and_jumps_are_warnings_not_errors(tmp_path: Path) -> None:
    text = GOOD + "2020-01-07,11,12,5,5.5,5.4,0\n"
    report, bars = validate_file(_write(tmp_path, text))
    assert report.ok and bars is not None
    assert {w.rule for w in report.warnings} == {Rule.ZERO_VOLUME, Rule.PRICE_JUMP}
    assert all(w.row == 5 for w in report.warnings)


def test_shipped_data_is_valid_and_aapl_split_shows_only_in_unadjusted_prices() -> None:
    market = FileMarketData(DATA)
    assert market.symbols() == ["AAPL", "GOOG", "IBM", "MSFT"]
    raw = market.bars("AAPL", adjusted=False)
    adj = market.bars("AAPL")
    i = int(np.searchsorted(raw.timestamps, np.datetime64("2005-02-28", "ns")))
    assert raw.close[i] / raw.close[i - 1] < 0.6  # the 2:1 split looks like a crash
    assert 0.9 < adj.close[i] / adj.close[i - 1] < 1.1  # not in the adjusted view
    window = market.bars(
        "IBM", start=pd.Timestamp("2013-01-02").date(), end=pd.Timestamp("2013-01-31").date()
    )
    assert len(window) == 21  # January 2013: 23 weekdays less New Year and MLK day
    assert str(window.timestamps[0])[:10] == "2013-01-02"
    assert str(window.timestamps[-1])[:10] == "2013-01-31"


def test_cli_validate_json_and_exit_codes(tmp_path: Path) -> None:
    good = _write(tmp_path, GOOD, "G.csv")
    bad = _write(tmp_path, GOOD + "2020-01-07,11,10,12,11,11,100\n", "B.csv")
    runner = CliRunner()
    ok = runner.invoke(app, ["data", "validate", str(good), "--json"])
    assert ok.exit_code == 0
    assert json.loads(ok.stdout) == {
        "file": str(good),
        "ok": True,
        "rows": 3,
        "errors": [],
        "warnings": [],
    }
    res = runner.invoke(app, ["data", "validate", str(good), str(bad), "--json"])
    assert res.exit_code == 1
    reports = [json.loads(line) for line in res.stdout.splitlines()]
    assert [r["ok"] for r in reports] == [True, False]
    assert reports[1]["errors"][0] == {
        "row": 5,
        "field": "high",
        "rule": "high_below_low",
        "message": "high 10.0 < low 12.0",
    }
    missing = runner.invoke(app, ["data", "validate", str(tmp_path / "nope.csv")])
    assert missing.exit_code == 1 and "no such file" in missing.stdout
