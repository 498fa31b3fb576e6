"""Crafted bad files of every kind the validator knows, and the layouts it accepts."""

from __future__ import annotations

import gzip
import io
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from adapters.cli.main import app
from adapters.marketdata.files import FileMarketData, load_bars, validate_file
from adapters.marketdata.validation import Rule, ValidationOptions
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
    # a file that is not there needs a human (exit 2), before any file is read
    missing = runner.invoke(app, ["data", "validate", str(good), str(tmp_path / "nope.csv")])
    assert missing.exit_code == 2 and missing.stdout == ""
    assert missing.stderr == f"error: {tmp_path / 'nope.csv'}: no such file\n"
    folder = runner.invoke(app, ["data", "validate", str(tmp_path), "--json"])
    assert folder.exit_code == 2
    assert folder.stderr == f"error: {tmp_path}: not a file (a folder?)\n"


def _dated_frame() -> pd.DataFrame:
    return pd.read_csv(io.StringIO(GOOD), parse_dates=["Date"])


def test_leading_unnamed_index_column_that_is_the_date_becomes_the_timestamp(
    tmp_path: Path,
) -> None:
    path = tmp_path / "IDX.csv"
    _dated_frame().set_index("Date").rename_axis(None).to_csv(path)
    assert path.read_text().startswith(",Open,")  # what pandas writes for an unnamed index
    report, bars = validate_file(path)
    assert report.ok, report.errors
    assert bars is not None and len(bars) == 3
    assert bars.timestamps[0] == np.datetime64("2020-01-02T00:00", "ns")


def test_leading_index_column_without_dates_is_dropped_not_taken_for_the_date(
    tmp_path: Path,
) -> None:
    path = _write(tmp_path, ",Open,High,Low,Close,Volume\n0,10,11,9,10.5,1\n")
    assert _rules(path) == [(None, "timestamp", Rule.MISSING_COLUMN)]


@pytest.mark.parametrize("index_name", ["Date", None])
def test_parquet_with_a_date_index_named_or_not_is_accepted(
    tmp_path: Path, index_name: str | None
) -> None:
    path = tmp_path / "P.parquet"
    _dated_frame().set_index("Date").rename_axis(index_name).to_parquet(path)
    report, bars = validate_file(path)
    assert report.ok, report.errors
    assert bars is not None and bars.timestamps[-1] == np.datetime64("2020-01-06", "ns")


def test_parquet_tz_aware_dates_are_normalised_to_utc(tmp_path: Path) -> None:
    frame = _dated_frame()
    frame["Date"] = frame["Date"].dt.tz_localize("America/New_York")
    frame.to_parquet(tmp_path / "TZ.parquet")
    report, bars = validate_file(tmp_path / "TZ.parquet")
    assert report.ok and bars is not None
    assert bars.timestamps[0] == np.datetime64("2020-01-02T05:00", "ns")


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        ({"Close": [10.5, np.nan, 11.5]}, (2, "close", Rule.MISSING_VALUE)),
        ({"Close": [10.5, np.inf, 11.5]}, (2, "close", Rule.NOT_NUMERIC)),
        ({"Close": ["10.5", "abc", "11.5"]}, (2, "close", Rule.NOT_NUMERIC)),
        ({"Low": [9.0, 12.0, 10.5]}, (2, "high", Rule.HIGH_BELOW_LOW)),
        ({"Open": [10.0, 0.0, 11.0]}, (2, "open", Rule.NON_POSITIVE_PRICE)),
        (
            {"Date": pd.to_datetime(["2020-01-02", "2020-01-02", "2020-01-06"])},
            (2, "timestamp", Rule.DUPLICATE_TIMESTAMP),
        ),
        (
            {"Date": pd.to_datetime(["2020-01-03", "2020-01-02", "2020-01-06"])},
            (2, "timestamp", Rule.UNSORTED_TIMESTAMP),
        ),
    ],
)
def test_parquet_bad_row_is_named_by_its_1_based_row(
    tmp_path: Path, change: dict[str, object], expected: tuple[int, str, Rule]
) -> None:
    frame = _dated_frame().assign(**change)
    frame.to_parquet(tmp_path / "BAD.parquet")
    assert expected in _rules(tmp_path / "BAD.parquet")


def test_parquet_missing_column_empty_and_zero_byte_files_are_errors(tmp_path: Path) -> None:
    _dated_frame().drop(columns=["Volume"]).to_parquet(tmp_path / "M.parquet")
    assert _rules(tmp_path / "M.parquet") == [(None, "volume", Rule.MISSING_COLUMN)]
    _dated_frame().iloc[:0].to_parquet(tmp_path / "E.parquet")
    assert _rules(tmp_path / "E.parquet") == [(None, None, Rule.EMPTY_FILE)]
    for name in ("Z.parquet", "Z.csv", "Z.csv.gz"):
        (tmp_path / name).write_bytes(b"")
        assert _rules(tmp_path / name) == [(None, None, Rule.EMPTY_FILE)]


def test_row_numbers_count_blank_lines_and_multi_line_quoted_fields(tmp_path: Path) -> None:
    text = (
        "Date,Open,High,Low,Close,Volume\n"
        "\n"
        "2020-01-02,10,11,9,10.5,1\n"
        '2020-01-03,10,11,9,"10\n.5",1\n'
        "2020-01-06,10,9,11,10,1\n"
    )
    rules = _rules(_write(tmp_path, text))
    assert (4, "close", Rule.NOT_NUMERIC) in rules
    assert (6, "high", Rule.HIGH_BELOW_LOW) in rules


@pytest.mark.parametrize("line", ["2020-01-07,11,12,10,11,100", "2020-01-07,11,12,10,11,11,100,7"])
def test_row_with_wrong_field_count_is_named_and_rows_are_not_shifted(
    tmp_path: Path, line: str
) -> None:
    path = _write(tmp_path, GOOD + line + "\n2020-01-08,11,10,12,11,11,100\n")
    rules = _rules(path)
    assert rules[0] == (5, None, Rule.FIELD_COUNT)
    assert (6, "high", Rule.HIGH_BELOW_LOW) in rules
    assert not any(r is Rule.BAD_TIMESTAMP for _, _, r in rules)


def test_two_columns_meaning_the_same_field_are_refused(tmp_path: Path) -> None:
    path = _write(
        tmp_path, "Date,Timestamp,Open,High,Low,Close,Volume\n2020-01-02,2020-01-02,1,2,1,1,5\n"
    )
    report, bars = validate_file(path)
    assert bars is None
    assert [(e.field, e.rule) for e in report.errors] == [("timestamp", Rule.DUPLICATE_COLUMN)]
    assert "'Date'" in report.errors[0].message and "'Timestamp'" in report.errors[0].message


def test_problems_beyond_the_per_rule_limit_are_counted_not_dropped(tmp_path: Path) -> None:
    body = "".join(f"2020-02-{d:02d},10,11,9,10,-1\n" for d in range(1, 26))
    path = _write(tmp_path, "Date,Open,High,Low,Close,Volume\n" + body)
    report, _ = validate_file(path, ValidationOptions(max_problems_per_rule=3))
    listed = [e for e in report.errors if e.rule is Rule.NEGATIVE_VOLUME]
    assert [e.row for e in listed] == [2, 3, 4, None]
    assert listed[-1].message.startswith("22 more row(s)")


def test_gzip_csv_with_utf8_bom_is_accepted(tmp_path: Path) -> None:
    with gzip.open(tmp_path / "B.csv.gz", "wb") as f:
        f.write(("\ufeff" + GOOD).encode())
    assert validate_file(tmp_path / "B.csv.gz")[0].ok


def test_undecodable_file_is_unreadable_not_a_crash(tmp_path: Path) -> None:
    (tmp_path / "U.csv").write_bytes(b"\xff\xfe\x00garbage")
    assert _rules(tmp_path / "U.csv") == [(None, None, Rule.UNREADABLE)]
