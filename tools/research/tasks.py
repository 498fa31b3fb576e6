"""The unit of research work an executor runs: one group of symbols × one fold (or the
whole sample), a few Numba kernel calls on NumPy arrays.

- A **fold task** computes every parameter set's signal over the whole series (signals
  only look back), sweeps the training window (``tools.backtest.sweep``, validated),
  keeps each symbol's best set by the objective, and backtests it on the test window
  (``run_arrays``, validated, with its trade list).
- The **whole-sample task** (fold ``FULL_SAMPLE``) runs every set over all bars keeping
  the equity curves (``grid_equity``), and from them the deflated Sharpe of the best set
  and the PBO by CSCV; then it backtests the best set with its trade list.

Tasks are pure functions of their inputs, so the same inputs give bit-identical
outputs in this process or on any worker (the parallel loops inside write disjoint rows).
"""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np
import numpy.typing as npt

from tools.backtest import BacktestConfig, BacktestResult, BacktestValidationError, run_arrays
from tools.backtest.sweep import METRIC_NAMES, sweep
from tools.research.folds import (
    TEST_START,
    TEST_STOP,
    TRAIN_START,
    TRAIN_STOP,
    make_folds,
    window_bounds,
)
from tools.research.grid import G_INVALID, GRID_METRICS, BarArrays, grid_equity, grid_signals
from tools.research.stats import (
    ReturnMoments,
    deflated_sharpe,
    expected_max_sharpe,
    pbo_cscv,
    probabilistic_sharpe,
    return_moments,
    trials_variance,
)
from tools.strategies import ParamValue

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]

FULL_SAMPLE = -1
OBJECTIVES = ("sharpe", "sortino", "total_return", "cagr")


class ResearchSpec(NamedTuple):
    """What every task of one run shares."""

    strategy: str
    param_sets: tuple[dict[str, ParamValue], ...]
    config: BacktestConfig
    objective: str
    n_folds: int
    mode: str
    train: int | None
    test: int | None
    cscv_blocks: int


class SymbolGroup(NamedTuple):
    """Symbols with the same number of bars, run together in one task."""

    bars: tuple[BarArrays, ...]


class FoldOutcome(NamedTuple):
    symbol: str
    fold: int
    bounds: IntArray  # train_start, train_stop, test_start, test_stop
    best: int  # index into param_sets
    in_sample: FloatArray  # the best set's training-window metrics (METRIC_NAMES)
    oos: BacktestResult  # the best set on the test window


class FullOutcome(NamedTuple):
    symbol: str
    metrics: FloatArray  # [P, len(GRID_METRICS)] over the whole sample
    best: int
    moments: ReturnMoments  # of the best set's returns
    trials_variance: float  # of the per-period Sharpe ratios of all sets
    expected_max_sharpe: float  # per period
    deflated_sharpe: float
    probabilistic_sharpe: float  # of the best set against 0
    pbo: float  # NaN with a single set
    pbo_combinations: int
    prob_oos_loss: float
    best_run: BacktestResult


class GroupOutcome(NamedTuple):
    folds: list[FoldOutcome]
    full: list[FullOutcome]


def best_index(values: FloatArray) -> int:
    """Index of the largest value, the first on ties; NaN (undefined) never wins. All NaN:
    the first set (deterministic)."""
    clean = np.where(np.isnan(values), -np.inf, values)
    return int(np.argmax(clean))


def _atr(bars: BarArrays, config: BacktestConfig) -> FloatArray:
    if not config.pyramid_levels:
        return np.full(bars.n_bars, np.nan)
    from tools.indicators import atr

    out: FloatArray = atr(bars.high, bars.low, bars.close, 14)
    return out


def run_group_task(group: SymbolGroup, task: tuple[ResearchSpec, int]) -> GroupOutcome:
    """Run one fold (``task[1]`` >= 0) or the whole sample (``FULL_SAMPLE``) for every
    symbol of ``group``."""
    spec, fold = task
    signals = [grid_signals(spec.strategy, b, spec.param_sets) for b in group.bars]
    atrs = [_atr(b, spec.config) for b in group.bars]
    if fold == FULL_SAMPLE:
        full = [
            _full_sample(b, s, a, spec) for b, s, a in zip(group.bars, signals, atrs, strict=True)
        ]
        return GroupOutcome([], full)
    return GroupOutcome(_fold(group, signals, atrs, spec, fold), [])


def _fold(
    group: SymbolGroup,
    signals: list[npt.NDArray[np.int8]],
    atrs: list[FloatArray],
    spec: ResearchSpec,
    fold: int,
) -> list[FoldOutcome]:
    n_bars = group.bars[0].n_bars
    bounds = make_folds(n_bars, spec.n_folds, spec.mode, spec.train, spec.test)[fold]
    lo, hi = window_bounds(int(bounds[TRAIN_START]), int(bounds[TRAIN_STOP]))

    def stack(name: str) -> FloatArray:
        return np.vstack([getattr(b, name)[lo:hi] for b in group.bars])

    sig = np.stack([s[:, lo:hi] for s in signals], axis=1)  # [P, S, T]
    atr = np.vstack([a[lo:hi] for a in atrs])
    in_sample = sweep(
        stack("open"), stack("high"), stack("low"), stack("close"), sig, spec.config,
        atr=atr if spec.config.pyramid_levels else None,
    ).metrics  # fmt: skip
    objective = METRIC_NAMES.index(spec.objective)
    t_lo, t_hi = window_bounds(int(bounds[TEST_START]), int(bounds[TEST_STOP]))
    out = []
    for s, bars in enumerate(group.bars):
        best = best_index(in_sample[:, s, objective])
        oos = run_arrays(
            bars.open[t_lo:t_hi], bars.high[t_lo:t_hi], bars.low[t_lo:t_hi],
            bars.close[t_lo:t_hi], signals[s][best, t_lo:t_hi], spec.config,
            symbols=[bars.symbol], timestamps=bars.timestamps[t_lo:t_hi],
            atr=atrs[s][t_lo:t_hi] if spec.config.pyramid_levels else None,
        )  # fmt: skip
        out.append(FoldOutcome(bars.symbol, fold, bounds, best, in_sample[best, s], oos))
    return out


def _full_sample(
    bars: BarArrays, signals: npt.NDArray[np.int8], atr: FloatArray, spec: ResearchSpec
) -> FullOutcome:
    cfg = spec.config
    equity, metrics = grid_equity(bars, signals, cfg.kernel_config(), cfg.periods_per_year, atr)
    bad = np.flatnonzero(metrics[:, G_INVALID] != 0.0)
    if bad.size:
        raise BacktestValidationError(
            "impossible grid output",
            [f"{bars.symbol}: {bad.size} parameter set(s) gave non-finite equity or ruin "
             f"in a long-only run, first: set {int(bad[0])}"],
        )  # fmt: skip
    best = best_index(metrics[:, GRID_METRICS.index(spec.objective)])
    returns = equity[:, 1:] / equity[:, :-1] - 1.0
    moments = return_moments(returns[best])
    per_period = metrics[:, GRID_METRICS.index("sharpe")] / math.sqrt(cfg.periods_per_year)
    variance = trials_variance(per_period)
    n_trials = len(spec.param_sets)
    if n_trials >= 2:
        pbo = pbo_cscv(returns.T, spec.cscv_blocks)
        pbo_value, n_comb, loss = pbo.pbo, pbo.n_combinations, pbo.prob_oos_loss
    else:
        pbo_value, n_comb, loss = float("nan"), 0, float("nan")
    sr, n_obs, skew, kurt = moments.sharpe, moments.n_obs, moments.skew, moments.kurtosis
    best_run = run_arrays(
        bars.open, bars.high, bars.low, bars.close, signals[best], cfg,
        symbols=[bars.symbol], timestamps=bars.timestamps,
        atr=atr if cfg.pyramid_levels else None,
    )  # fmt: skip
    return FullOutcome(
        symbol=bars.symbol,
        metrics=metrics,
        best=best,
        moments=moments,
        trials_variance=variance,
        expected_max_sharpe=float(expected_max_sharpe(n_trials, variance)),
        deflated_sharpe=float(deflated_sharpe(sr, n_trials, variance, n_obs, skew, kurt)),
        probabilistic_sharpe=float(probabilistic_sharpe(sr, 0.0, n_obs, skew, kurt)),
        pbo=pbo_value,
        pbo_combinations=n_comb,
        prob_oos_loss=loss,
        best_run=best_run,
    )
