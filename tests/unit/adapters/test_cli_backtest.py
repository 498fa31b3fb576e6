"""`quorum backtest` end to end through typer: every shipped file, JSON shape, errors."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from adapters.cli.main import app

DATA = sorted((Path(__file__).resolve().parents[3] / "data" / "us_daily").glob("*.csv.gz"))
KEYS = {
    "strategy", "params", "bars", "n_trades", "total_return", "cagr", "sharpe", "sortino",
    "max_drawdown", "win_rate", "exposure", "equity_final", "trades",
}  # fmt: skip
TRADE_KEYS = {
    "symbol", "side", "entry_time", "entry_price", "exit_time", "exit_price", "size", "pnl",
    "return_pct",
}  # fmt: skip


def invoke(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(app, ["backtest", *args])
    return result.exit_code, result.stdout, result.stderr


@pytest.mark.parametrize("path", DATA, ids=lambda p: p.name)
@pytest.mark.parametrize("strategy", ["ma_crossover", "momentum", "mean_reversion", "breakout"])
def test_backtest_when_shipped_file_then_json_has_exact_keys_and_consistent_values(
    path: Path, strategy: str
) -> None:
    code, out, err = invoke(
        "--data", str(path), "--strategy", strategy, "--commission-per-share", "0.005",
        "--commission-min", "1", "--slippage-bps", "5", "--json",
    )  # fmt: skip
    assert code == 0, err
    data = json.loads(out)
    assert set(data) == KEYS
    assert data["strategy"] == strategy and data["bars"] > 2000
    assert data["n_trades"] == len(data["trades"]) > 0
    assert all(set(t) == TRADE_KEYS for t in data["trades"])
    assert all(isinstance(t["size"], int) and t["size"] > 0 for t in data["trades"])
    assert {t["side"] for t in data["trades"]} <= {"long", "short"}
    pnl = sum(t["pnl"] for t in data["trades"])
    assert data["equity_final"] == pytest.approx(100_000 + pnl, rel=1e-9)
    assert data["total_return"] == pytest.approx(data["equity_final"] / 100_000 - 1)
    assert 0.0 <= data["max_drawdown"] < 1.0


def test_backtest_when_params_given_then_used_and_reported() -> None:
    code, out, _ = invoke(
        "--data", str(DATA[0]), "--strategy", "ma_crossover", "--param", "fast=5",
        "--param", "slow=60", "--param", "ma_type=ema", "--size-fraction", "0.5",
        "--cash", "50000", "--commission-pct", "0.1", "--json",
    )  # fmt: skip
    assert code == 0
    data = json.loads(out)
    assert data["params"] == {"fast": 5, "slow": 60, "ma_type": "ema"}
    first = data["trades"][0]
    assert first["size"] * first["entry_price"] <= 25_000


def test_backtest_when_table_and_plot_then_renders_and_writes_png(tmp_path: Path) -> None:
    png = tmp_path / "equity.png"
    code, out, _ = invoke("--data", str(DATA[0]), "--strategy", "breakout", "--plot", str(png))
    assert code == 0
    assert "total_return" in out and "sharpe" in out
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_backtest_when_file_invalid_then_validation_errors_and_exit_1(tmp_path: Path) -> None:
    bad = tmp_path / "BAD.csv.gz"
    with gzip.open(bad, "wt") as f:
        f.write("date,open,high,low,close,volume\n")
        f.write("2024-01-02,10,11,9,10.5,1000\n")
        f.write("2024-01-03,10,9,11,10.5,1000\n")  # high < low
        f.write("2024-01-03,10,11,9,-1,1000\n")  # duplicate date, negative close
    code, out, err = invoke("--data", str(bad), "--strategy", "momentum", "--json")
    assert code == 1
    assert out == ""
    assert "error" in err and "BAD.csv.gz" in err
    # Every problem is listed with its file, row, field and rule, not just a count.
    assert "BAD.csv.gz:3 [high] high_below_low" in err
    assert "BAD.csv.gz:4 [close] non_positive_price" in err
    assert "BAD.csv.gz:4 [timestamp] duplicate_timestamp" in err


def write_random_walk(path: Path, rows: int = 120) -> None:
    """A valid file of another shape than the shipped ones: plain CSV, no adj_close."""
    import numpy as np
    import pandas as pd

    rng = np.random.default_rng(3)
    close = 50 * np.exp(np.cumsum(rng.normal(0, 0.02, rows)))
    frame = pd.DataFrame(
        {
            "date": pd.bdate_range("2021-01-04", periods=rows).strftime("%Y-%m-%d"),
            "open": close,
            "high": close * 1.01,
            "low": close * 0.99,
            "close": close,
            "volume": rng.integers(1_000, 10_000, rows),
        }
    )
    if path.suffix == ".parquet":
        frame.to_parquet(path)
    else:
        frame.to_csv(path, index=False)


@pytest.mark.parametrize("name", ["XYZ.csv", "XYZ.parquet"])
def test_backtest_when_other_valid_file_then_accepted(tmp_path: Path, name: str) -> None:
    path = tmp_path / name
    write_random_walk(path)
    code, out, err = invoke(
        "--data", str(path), "--strategy", "ma_crossover", "--param", "fast=3",
        "--param", "slow=10", "--allow-short", "--json",
    )  # fmt: skip
    assert code == 0, err
    data = json.loads(out)
    assert data["bars"] == 120 and data["n_trades"] > 0
    assert {t["symbol"] for t in data["trades"]} == {"XYZ"}
    assert {t["side"] for t in data["trades"]} == {"long", "short"}


def test_backtest_when_file_missing_then_one_line_naming_it_and_exit_2(tmp_path: Path) -> None:
    code, _, err = invoke("--data", str(tmp_path / "nope.csv"), "--strategy", "momentum")
    assert code == 2
    assert err == f"error: --data {tmp_path / 'nope.csv'}: no such file\n"


def test_backtest_when_unknown_strategy_then_lists_valid_ones() -> None:
    code, _, err = invoke("--data", str(DATA[0]), "--strategy", "martingale")
    assert code == 2
    assert "ma_crossover" in err and "breakout" in err


def test_backtest_when_unknown_param_then_lists_valid_params() -> None:
    code, _, err = invoke("--data", str(DATA[0]), "--strategy", "momentum", "--param", "speed=3")
    assert code == 2 and "valid: lookback, threshold" in err


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--param", "fast"], "name=value"),
        (["--param", "fast=abc"], "must be int"),
        (["--commission-pct", "0.1", "--commission-per-share", "0.005"], "choose one"),
        (["--commission-min", "1"], "--commission-min needs"),
        (["--commission-pct", "0.1", "--commission-max-pct", "1"], "needs --commission-per-share"),
        (["--commission-max-pct", "1"], "needs --commission-per-share"),
        (["--size-fraction", "1.5"], "size_fraction"),
    ],
)
def test_backtest_when_options_invalid_then_clear_error(args: list[str], message: str) -> None:
    code, _, err = invoke("--data", str(DATA[0]), "--strategy", "ma_crossover", *args)
    assert code == 2 and message in err


def session_bars(path: Path, days: int = 4, per_day: int = 78) -> None:
    """5-minute bars of US sessions (14:30-20:55 UTC), ``per_day`` bars a day."""
    import numpy as np
    import pandas as pd

    stamps = [
        stamp
        for day in pd.bdate_range("2024-03-04", periods=days)
        for stamp in pd.date_range(day + pd.Timedelta("14:30:00"), periods=per_day, freq="5min")
    ]
    close = 50 * np.exp(np.cumsum(np.random.default_rng(8).normal(0, 0.002, len(stamps))))
    pd.DataFrame(
        {
            "timestamp": [s.strftime("%Y-%m-%dT%H:%M:%SZ") for s in stamps],
            "open": close,
            "high": close * 1.001,
            "low": close * 0.999,
            "close": close,
            "volume": 1_000,
        }
    ).to_csv(path, index=False)


@pytest.mark.parametrize(
    ("step", "expected"),
    [("1D", 252.0), ("B", 252.0), ("7D", 52.0), ("30D", 12.0), ("1h", 252.0 * 24)],
)
def test_infer_periods_per_year_when_bar_spacing_then_annualisation(
    step: str, expected: float
) -> None:
    import pandas as pd

    from adapters.cli.backtest import infer_periods_per_year

    stamps = pd.date_range("2020-01-01", periods=200, freq=step).to_numpy()
    assert infer_periods_per_year(stamps) == expected


def test_infer_periods_per_year_when_fewer_than_two_bars_then_daily() -> None:
    import numpy as np

    from adapters.cli.backtest import infer_periods_per_year

    assert infer_periods_per_year(np.array(["2024-01-02"], dtype="datetime64[ns]")) == 252.0


def test_backtest_when_intraday_file_then_metrics_annualised_per_session_bar(
    tmp_path: Path,
) -> None:
    from adapters.marketdata.files import load_bars
    from tools.backtest import BacktestConfig, run_bars
    from tools.strategies import signal_for

    path = tmp_path / "INTRA.csv"
    session_bars(path)
    args = ["--data", str(path), "--strategy", "ma_crossover", "--param", "fast=3"]
    code, out, err = invoke(*args, "--param", "slow=10", "--json")
    assert code == 0, err
    data = json.loads(out)
    bars = load_bars(path).adjusted_view()
    signal, _ = signal_for("ma_crossover", bars.open, bars.high, bars.low, bars.close,
                           {"fast": "3", "slow": "10"})  # fmt: skip
    expected = run_bars(bars, signal, BacktestConfig(periods_per_year=252.0 * 78)).metrics
    assert data["n_trades"] == expected.n_trades > 0
    assert data["sharpe"] == pytest.approx(expected.sharpe, rel=1e-12)
    assert data["cagr"] == pytest.approx(expected.cagr, rel=1e-12)

    code, out, _ = invoke(*args, "--param", "slow=10", "--periods-per-year", "252", "--json")
    assert code == 0
    daily = run_bars(bars, signal, BacktestConfig(periods_per_year=252.0)).metrics
    assert json.loads(out)["sharpe"] == pytest.approx(daily.sharpe, rel=1e-12)


@pytest.mark.parametrize("value", ["0", "-5", "nan", "inf"])
def test_backtest_when_periods_per_year_not_positive_finite_then_clear_error(value: str) -> None:
    code, _, err = invoke(
        "--data", str(DATA[0]), "--strategy", "momentum", "--periods-per-year", value
    )
    assert code == 2 and "--periods-per-year must be a positive number" in err
