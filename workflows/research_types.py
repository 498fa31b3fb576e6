"""Typed results of grid sweeps and walk-forward runs, and the executor port they run on.

Sharpe ratios in these models are annualised (``periods_per_year`` of the config);
returns, drawdowns and probabilities are fractions. The curves and trade lists that the
tearsheet draws are kept on the models but left out of ``model_dump`` / JSON.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Literal, Protocol, TypeVar

import numpy as np
import numpy.typing as npt
from pydantic import BaseModel, ConfigDict, Field

from tools.backtest import BacktestConfig, Metrics, Trade

ParamValue = int | float | str
Objective = Literal["sharpe", "sortino", "total_return", "cagr"]

D = TypeVar("D")
T = TypeVar("T")
R = TypeVar("R")


class TaskExecutor(Protocol):
    """Runs ``fn(data[i], task)`` for every ``(i, task)`` and returns the results in task
    order. ``data`` items are large and shared by many tasks (an executor may ship each
    one to its workers once); tasks are small."""

    def map(
        self, fn: Callable[[D, T], R], data: Sequence[D], tasks: Sequence[tuple[int, T]]
    ) -> list[R]: ...


class InProcessExecutor:
    """The default: every task in this process, one after another (the kernels inside
    still use every core through Numba's parallel loops)."""

    def map(
        self, fn: Callable[[D, T], R], data: Sequence[D], tasks: Sequence[tuple[int, T]]
    ) -> list[R]:
        return [fn(data[i], task) for i, task in tasks]


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", arbitrary_types_allowed=True)


class FoldSpec(_Frozen):
    """``n_folds`` test windows of ``test`` bars; training windows of ``train`` bars
    (rolling) or growing from the first one (anchored). See ``tools.research.folds``."""

    n_folds: int = Field(default=5, ge=1, le=100)
    mode: Literal["anchored", "rolling"] = "anchored"
    train: int | None = Field(default=None, ge=2)
    test: int | None = Field(default=None, ge=2)


class OverfitStats(_Frozen):
    """The whole-sample grid: the best set by the objective and how much to trust it."""

    n_trials: int
    best_params: dict[str, ParamValue]
    sharpe: float  # the best set's, annualised
    trials_sharpe_std: float  # standard deviation of the trials' Sharpe, annualised
    expected_max_sharpe: float  # SR0: the best Sharpe N unskilled trials would show
    deflated_sharpe: float  # DSR: PSR against SR0, P(true Sharpe > SR0), N trials
    probabilistic_sharpe: float  # P(true Sharpe > 0) for one trial (PSR)
    skew: float
    kurtosis: float  # not excess: 3 for normal returns
    n_obs: int  # returns behind the Sharpe
    pbo: float  # probability of backtest overfitting (CSCV); NaN with one trial
    pbo_blocks: int
    pbo_combinations: int
    prob_oos_loss: float  # share of CSCV splits whose in-sample winner lost out of sample


class TrialResult(_Frozen):
    params: dict[str, ParamValue]
    metrics: Metrics


class FoldResult(_Frozen):
    fold: int  # 1-based
    train_start: str
    train_end: str
    train_bars: int
    test_start: str
    test_end: str
    test_bars: int
    params: dict[str, ParamValue]  # best on the training window
    in_sample: Metrics
    out_of_sample: Metrics  # those parameters on the test window


class Curve(_Frozen):
    """An equity curve with its timestamps and trades, for the tearsheet."""

    timestamps: npt.NDArray[np.datetime64]
    equity: npt.NDArray[np.float64]
    trades: list[Trade]


class SymbolSweep(_Frozen):
    symbol: str
    bars: int
    start: str
    end: str
    best: int  # index into trials
    trials: list[TrialResult]  # every parameter set, in grid order
    stats: OverfitStats
    curve: Curve = Field(exclude=True)  # the best set over the whole sample


class SymbolWalkForward(_Frozen):
    symbol: str
    bars: int
    folds: list[FoldResult]
    oos_start: str
    oos_end: str
    out_of_sample: Metrics  # the test windows chained (each starts from cash)
    oos_probabilistic_sharpe: float  # PSR of the chained test returns against 0
    full_sample: OverfitStats
    curve: Curve = Field(exclude=True)  # the chained test windows


class GridSweepResult(_Frozen):
    strategy: str
    objective: Objective
    grid: dict[str, list[ParamValue]]
    n_trials: int
    skipped_sets: int  # grid combinations the strategy rejects (e.g. fast >= slow)
    config: BacktestConfig
    symbols: list[SymbolSweep]


class WalkForwardResult(_Frozen):
    strategy: str
    objective: Objective
    grid: dict[str, list[ParamValue]]
    n_trials: int
    skipped_sets: int
    folds: FoldSpec
    config: BacktestConfig
    symbols: list[SymbolWalkForward]
