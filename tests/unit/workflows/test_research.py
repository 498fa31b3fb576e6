"""Grid parsing, walk-forward and sweeps, checked against direct run_arrays backtests and
SciPy, and independent of the executor and of how symbols are grouped into tasks."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import pytest
from scipy import stats as sps

from core.errors import ConfigurationError
from tools.backtest import BacktestConfig, run_arrays
from tools.research.grid import BarArrays, grid_signals
from tools.research.stats import pbo_cscv
from tools.strategies import STRATEGIES
from workflows.research import expand_grid, parse_grid, sweep_grid, walk_forward
from workflows.research_types import FoldSpec

GRID = {"fast": [5, 10, 20], "slow": [30, 60]}
CFG = BacktestConfig(size_fraction=0.9, slippage_bps=5)


def synthetic(symbol: str, n: int, seed: int) -> BarArrays:
    rng = np.random.default_rng(seed)
    close = 50.0 * np.exp(np.cumsum(rng.normal(0.0004, 0.018, n)))
    open_ = close * np.exp(rng.normal(0.0, 0.006, n))
    high = np.maximum(open_, close) * (1 + np.abs(rng.normal(0, 0.006, n)))
    low = np.minimum(open_, close) * (1 - np.abs(rng.normal(0, 0.006, n)))
    ts = (np.datetime64("2010-01-04") + np.arange(n)).astype("datetime64[ns]")
    return BarArrays(symbol, ts, open_, high, low, close)


BARS = {"AAA": synthetic("AAA", 700, 1), "BBB": synthetic("BBB", 520, 2),
        "CCC": synthetic("CCC", 700, 3)}  # fmt: skip


def _run(b: BarArrays, sig: np.ndarray, lo: int, hi: int) -> Any:
    return run_arrays(b.open[lo:hi], b.high[lo:hi], b.low[lo:hi], b.close[lo:hi], sig[lo:hi],
                      CFG, symbols=[b.symbol], timestamps=b.timestamps[lo:hi])  # fmt: skip


# ---------------------------------------------------------------- grids


def test_parse_grid_when_ranges_lists_and_single_values_then_expanded_inclusive() -> None:
    g = parse_grid("ma_crossover", ["fast=5:50:5", "slow=20:200:10", "ma_type=sma,ema"])
    assert g["fast"] == list(range(5, 51, 5))
    assert g["slow"] == list(range(20, 201, 10))
    assert g["ma_type"] == ["sma", "ema"]
    quoted = parse_grid("ma_crossover", ["fast=3 slow=7:9,20"])
    assert quoted == {"fast": [3], "slow": [7, 8, 9, 20]}
    assert parse_grid("momentum", ["threshold=0:0.02:0.01"]) == {"threshold": [0.0, 0.01, 0.02]}


@pytest.mark.parametrize(
    ("token", "message"),
    [
        ("fast5", "expected name=values"),
        ("fast=", "expected name=values"),
        ("fast=5:x", "'x' is not a number"),
        ("fast=50:5", "stop 5 < start 50"),
        ("fast=5:50:0", "step must be > 0"),
        ("fast=1:2:3:4", "start:stop"),
        ("speed=5", "has no parameter 'speed'"),
        ("fast=0", "between 1 and 500"),
        ("fast=5.5:10", "whole numbers"),
        ("ma_type=sma,zzz", "one of"),
        ("fast=5,,6", "empty value"),
        ("fast=1:inf", "not a finite number"),
        ("fast=nan", "must be int"),
    ],
)
def test_parse_grid_when_token_invalid_then_one_line_error_names_token(
    token: str, message: str
) -> None:
    with pytest.raises(ConfigurationError) as info:
        parse_grid("ma_crossover", [token])
    text = str(info.value)
    assert repr(token) in text and message in text and "\n" not in text


def test_parse_grid_when_parameter_twice_or_no_token_then_error() -> None:
    with pytest.raises(ConfigurationError, match="given twice"):
        parse_grid("ma_crossover", ["fast=5", "fast=6"])
    with pytest.raises(ConfigurationError, match="at least one"):
        parse_grid("ma_crossover", [])
    with pytest.raises(ConfigurationError, match="unknown strategy"):
        parse_grid("astrology", ["fast=5"])


def test_expand_grid_when_some_combinations_invalid_then_skipped_and_counted() -> None:
    sets, skipped = expand_grid("ma_crossover", {"fast": [5, 30], "slow": [20, 40]})
    assert [(s["fast"], s["slow"]) for s in sets] == [(5, 20), (5, 40), (30, 40)]
    assert skipped == 1 and all(s["ma_type"] == "sma" for s in sets)
    with pytest.raises(ConfigurationError, match=r"no valid parameter set.*must be <"):
        expand_grid("ma_crossover", {"fast": [50], "slow": [20]})
    with pytest.raises(ConfigurationError, match="limit is 10000"):
        expand_grid("ma_crossover", {"fast": list(range(1, 201)), "slow": list(range(2, 202))})


# ---------------------------------------------------------------- walk-forward


@pytest.fixture(scope="module")
def result() -> Any:
    return walk_forward(BARS, "ma_crossover", GRID, FoldSpec(n_folds=3), config=CFG,
                        cscv_blocks=8)  # fmt: skip


def test_walk_forward_when_run_then_each_fold_picks_the_training_best_and_tests_it(
    result: Any,
) -> None:
    sets, _ = expand_grid("ma_crossover", GRID)
    for sym in result.symbols:
        b = BARS[sym.symbol]
        sig = grid_signals("ma_crossover", b, sets)
        assert [f.fold for f in sym.folds] == [1, 2, 3]
        for f in sym.folds:
            start = int(np.searchsorted(b.timestamps, np.datetime64(f.train_start)))
            stop = start + f.train_bars
            sharpes = [_run(b, sig[p], max(start - 1, 0), stop).metrics.sharpe
                       for p in range(len(sets))]  # fmt: skip
            best = int(np.argmax(np.nan_to_num(sharpes, nan=-np.inf)))
            assert f.params == sets[best]
            assert f.in_sample.sharpe == sharpes[best]
            oos = _run(b, sig[best], stop - 1, stop + f.test_bars)
            assert f.out_of_sample == oos.metrics
            assert str(b.timestamps[stop].astype("datetime64[D]")) == f.test_start


def test_walk_forward_when_run_then_test_windows_chain_from_cash(result: Any) -> None:
    for sym in result.symbols:
        growth = np.prod([1 + f.out_of_sample.total_return for f in sym.folds])
        assert sym.out_of_sample.equity_final == pytest.approx(CFG.cash * growth, rel=1e-12)
        assert sym.curve.equity[-1] == sym.out_of_sample.equity_final
        assert len(sym.curve.equity) == sum(f.test_bars for f in sym.folds) + 1
        assert sym.out_of_sample.n_trades == sum(f.out_of_sample.n_trades for f in sym.folds)
        assert sym.oos_start == sym.folds[0].test_start and sym.oos_end == sym.folds[-1].test_end
        assert 0.0 <= sym.oos_probabilistic_sharpe <= 1.0


def test_walk_forward_when_run_then_dsr_and_pbo_match_direct_recomputation(result: Any) -> None:
    sets, _ = expand_grid("ma_crossover", GRID)
    for sym in result.symbols:
        b = BARS[sym.symbol]
        sig = grid_signals("ma_crossover", b, sets)
        equity = np.array([_run(b, sig[p], 0, b.n_bars).equity for p in range(len(sets))])
        returns = equity[:, 1:] / equity[:, :-1] - 1
        srs = returns.mean(1) / returns.std(1, ddof=1)
        best = int(np.argmax(srs))
        r = returns[best]
        st = sym.full_sample
        assert st.best_params == sets[best] and st.n_trials == len(sets) == 6
        n = len(sets)
        g = np.euler_gamma
        z = (1 - g) * sps.norm.ppf(1 - 1 / n) + g * sps.norm.ppf(1 - 1 / (n * np.e))
        sr0 = np.sqrt(np.var(srs, ddof=1)) * z
        g3, g4 = sps.skew(r), sps.kurtosis(r, fisher=False)
        denom = math.sqrt(1 - g3 * srs[best] + (g4 - 1) / 4 * srs[best] ** 2)
        dsr = sps.norm.cdf((srs[best] - sr0) * math.sqrt(len(r) - 1) / denom)
        assert st.expected_max_sharpe == pytest.approx(sr0 * math.sqrt(252), rel=1e-9)
        assert st.deflated_sharpe == pytest.approx(dsr, rel=1e-9)
        assert st.sharpe == pytest.approx(srs[best] * math.sqrt(252), rel=1e-9)
        assert st.pbo == pbo_cscv(returns.T, 8).pbo and st.pbo_combinations == 70


def test_walk_forward_when_symbols_grouped_differently_or_custom_executor_then_identical(
    result: Any,
) -> None:
    calls: list[tuple[int, int]] = []

    class Recording:
        def map(
            self, fn: Callable[..., Any], data: Sequence[Any], tasks: Sequence[Any]
        ) -> list[Any]:
            calls.append((len(data), len(tasks)))
            return [fn(data[i], t) for i, t in reversed(tasks)][::-1]

    other = walk_forward(BARS, "ma_crossover", GRID, FoldSpec(n_folds=3), config=CFG,
                         cscv_blocks=8, executor=Recording(), symbols_per_task=1)  # fmt: skip
    assert calls == [(3, 3 * 4)]  # 3 groups of 1 symbol × (whole sample + 3 folds)
    assert other.model_dump_json() == result.model_dump_json()
    for a, b in zip(result.symbols, other.symbols, strict=True):
        np.testing.assert_array_equal(a.curve.equity, b.curve.equity)
        assert a.curve.trades == b.curve.trades


def test_walk_forward_when_rolling_and_total_return_objective_then_selected_by_it() -> None:
    out = walk_forward({"AAA": BARS["AAA"]}, "ma_crossover", GRID,
                       FoldSpec(n_folds=2, mode="rolling", train=200, test=150), config=CFG,
                       objective="total_return", cscv_blocks=4)  # fmt: skip
    sets, _ = expand_grid("ma_crossover", GRID)
    b = BARS["AAA"]
    sig = grid_signals("ma_crossover", b, sets)
    folds = out.symbols[0].folds
    assert [f.train_bars for f in folds] == [200, 200] and [f.test_bars for f in folds] == [150] * 2
    start = b.n_bars - 300 - 200
    rets = [_run(b, sig[p], start - 1, start + 200).metrics.total_return for p in range(6)]
    assert folds[0].params == sets[int(np.argmax(rets))]


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"folds": FoldSpec(n_folds=3, train=600)}, "BBB: 520 bars cannot hold"),
        ({"folds": FoldSpec(n_folds=3), "cscv_blocks": 300}, r"even, 2\.\.24 .* not 300"),
        ({"folds": FoldSpec(n_folds=3), "cscv_blocks": 5}, "even"),
        ({"folds": FoldSpec(n_folds=3), "symbols_per_task": 0}, "symbols_per_task must be >= 1"),
        ({"folds": FoldSpec(n_folds=3), "objective": "luck"}, "objective 'luck'"),
    ],
)
def test_walk_forward_when_inputs_do_not_fit_then_configuration_error(
    kwargs: dict[str, Any], message: str
) -> None:
    with pytest.raises(ConfigurationError, match=message):
        walk_forward(BARS, "ma_crossover", GRID, kwargs.pop("folds"), config=CFG, **kwargs)


def test_walk_forward_when_series_too_short_for_the_cscv_blocks_then_error_names_it() -> None:
    short = {"SHORT": synthetic("SHORT", 40, 4)}
    with pytest.raises(ConfigurationError, match="SHORT: 40 bars are too few for 24 CSCV blocks"):
        walk_forward(short, "ma_crossover", GRID, FoldSpec(n_folds=2), cscv_blocks=24)


def test_walk_forward_when_no_bars_then_error() -> None:
    with pytest.raises(ConfigurationError, match="no bars"):
        walk_forward({}, "ma_crossover", GRID, FoldSpec())


# ---------------------------------------------------------------- sweep


def test_sweep_grid_when_run_then_every_trial_equals_its_own_backtest() -> None:
    grid = {"period": [10, 20, 55]}
    out = sweep_grid({"CCC": BARS["CCC"]}, "breakout", grid, config=CFG, cscv_blocks=8)
    s = out.symbols[0]
    b = BARS["CCC"]
    runs = []
    for trial, period in zip(s.trials, grid["period"], strict=True):
        assert trial.params == STRATEGIES["breakout"].resolve({"period": period})
        run = _run(b, grid_signals("breakout", b, [trial.params])[0], 0, b.n_bars)
        assert trial.metrics == run.metrics
        runs.append(run)
    assert s.best == int(np.argmax([r.metrics.sharpe for r in runs]))
    np.testing.assert_array_equal(s.curve.equity, runs[s.best].equity)
    assert s.curve.trades == runs[s.best].trades
    assert out.n_trials == 3 and out.skipped_sets == 0
    assert 0.0 <= s.stats.pbo <= 1.0 and s.stats.pbo_combinations == 70


def test_sweep_grid_when_one_trial_then_no_pbo_and_dsr_is_psr() -> None:
    out = sweep_grid({"AAA": BARS["AAA"]}, "momentum", {"lookback": [20]}, config=CFG)
    st = out.symbols[0].stats
    assert st.n_trials == 1 and math.isnan(st.pbo) and st.expected_max_sharpe == 0.0
    assert st.deflated_sharpe == st.probabilistic_sharpe
