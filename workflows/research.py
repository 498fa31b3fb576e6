"""Grid sweeps and walk-forward optimisation with overfitting statistics.

``walk_forward`` and ``sweep_grid`` take bars as ``BarArrays`` per symbol, a strategy of
``tools.strategies`` and a grid (parameter name → values), split the work into tasks of
a group of symbols × one fold (``tools.research.tasks``) and run them on a
``TaskExecutor``: in this process by default, or on a Dask cluster through
``adapters.compute.dask`` (this module never imports a network client). Results do not
depend on the executor or on how symbols are grouped.

Every symbol is optimised on its own (its own best parameters per fold); the number of
trials behind each deflated Sharpe is the number of parameter sets.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import numpy as np

from core.errors import ConfigurationError
from tools.backtest import BacktestConfig, Metrics
from tools.backtest import metrics as bm
from tools.backtest.sweep import METRIC_NAMES
from tools.research.folds import TEST_START, TEST_STOP, TRAIN_START, TRAIN_STOP, make_folds
from tools.research.grid import GRID_METRICS, BarArrays
from tools.research.stats import MAX_CSCV_BLOCKS, probabilistic_sharpe, return_moments
from tools.research.tasks import (
    FULL_SAMPLE,
    FoldOutcome,
    FullOutcome,
    ResearchSpec,
    SymbolGroup,
    run_group_task,
)
from workflows.research_grid import MAX_TRIALS, expand_grid, parse_grid
from workflows.research_types import (
    Curve,
    FoldResult,
    FoldSpec,
    GridSweepResult,
    InProcessExecutor,
    Objective,
    OverfitStats,
    ParamValue,
    SymbolSweep,
    SymbolWalkForward,
    TaskExecutor,
    TrialResult,
    WalkForwardResult,
)

__all__ = [
    "MAX_TRIALS",
    "check_options",
    "expand_grid",
    "group_symbols",
    "parse_grid",
    "sweep_grid",
    "walk_forward",
]

DEFAULT_SYMBOLS_PER_TASK = 4
OBJECTIVES: tuple[Objective, ...] = ("sharpe", "sortino", "total_return", "cagr")

# ---------------------------------------------------------------- runs


def _stamp(ts: np.datetime64) -> str:
    day = ts.astype("datetime64[D]")
    return str(day) if day == ts else str(ts.astype("datetime64[s]"))


def _metrics(row: np.ndarray, columns: Sequence[str]) -> Metrics:
    d = {name: float(row[columns.index(name)]) for name in bm.ALL_METRICS}
    n = int(row[columns.index("n_trades")])
    if "win_rate" in columns:
        win_rate = float(row[columns.index("win_rate")])
    else:
        win_rate = row[columns.index("n_wins")] / n if n else math.nan
    equity_final = float(row[columns.index("equity_final")])
    return Metrics(**d, win_rate=win_rate, n_trades=n, equity_final=equity_final)


def _prepare(
    bars: Mapping[str, BarArrays],
    strategy: str,
    grid: Mapping[str, Sequence[ParamValue]],
    objective: str,
    config: BacktestConfig | None,
) -> tuple[list[BarArrays], list[dict[str, ParamValue]], int, BacktestConfig]:
    if objective not in OBJECTIVES:
        raise ConfigurationError(f"objective {objective!r}; valid: {', '.join(OBJECTIVES)}")
    if not bars:
        raise ConfigurationError("no bars: give at least one symbol")
    sets, skipped = expand_grid(strategy, grid)
    checked = []
    for name, b in bars.items():
        try:
            checked.append(b._replace(symbol=name).checked())
        except ValueError as exc:
            raise ConfigurationError(str(exc)) from None
    return checked, sets, skipped, config or BacktestConfig()


def group_symbols(symbols: list[BarArrays], per_task: int | None) -> list[SymbolGroup]:
    """Tasks' data items: symbols of one length, ``per_task`` (default 4) at a time."""
    size = DEFAULT_SYMBOLS_PER_TASK if per_task is None else per_task
    if size < 1:
        raise ConfigurationError(f"symbols_per_task must be >= 1, not {size}")
    by_length: dict[int, list[BarArrays]] = {}
    for b in symbols:
        by_length.setdefault(b.n_bars, []).append(b)
    return [
        SymbolGroup(tuple(same[i : i + size]))
        for same in by_length.values()
        for i in range(0, len(same), size)
    ]


def check_options(cscv_blocks: int, symbols_per_task: int | None) -> None:
    """The bounds of the options that need no data: callers check them before reading
    bars or starting a cluster (the runs check them again)."""
    if cscv_blocks < 2 or cscv_blocks % 2 or cscv_blocks > MAX_CSCV_BLOCKS:
        raise ConfigurationError(
            f"CSCV blocks must be even, 2..{MAX_CSCV_BLOCKS} (C(S, S/2) splits), not {cscv_blocks}"
        )
    if symbols_per_task is not None and symbols_per_task < 1:
        raise ConfigurationError(f"symbols_per_task must be >= 1, not {symbols_per_task}")


def _check_cscv(symbols: list[BarArrays], blocks: int) -> None:
    check_options(blocks, None)
    for b in symbols:
        if (b.n_bars - 1) // blocks < 2:
            raise ConfigurationError(
                f"{b.symbol}: {b.n_bars} bars are too few for {blocks} CSCV blocks "
                f"(need {2 * blocks + 1})"
            )


def _overfit(
    full: FullOutcome, sets: list[dict[str, ParamValue]], blocks: int, ppy: float
) -> OverfitStats:
    scale = math.sqrt(ppy)
    return OverfitStats(
        n_trials=len(sets),
        best_params=sets[full.best],
        sharpe=full.moments.sharpe * scale,
        trials_sharpe_std=math.sqrt(full.trials_variance) * scale,
        expected_max_sharpe=full.expected_max_sharpe * scale,
        deflated_sharpe=full.deflated_sharpe,
        probabilistic_sharpe=full.probabilistic_sharpe,
        skew=full.moments.skew,
        kurtosis=full.moments.kurtosis,
        n_obs=full.moments.n_obs,
        pbo=full.pbo,
        pbo_blocks=blocks,
        pbo_combinations=full.pbo_combinations,
        prob_oos_loss=full.prob_oos_loss,
    )


def _run(
    symbols: list[BarArrays],
    spec: ResearchSpec,
    folds: Sequence[int],
    executor: TaskExecutor | None,
    per_task: int | None,
) -> tuple[dict[str, list[FoldOutcome]], dict[str, FullOutcome]]:
    groups = group_symbols(symbols, per_task)
    # Longest first (the whole sample with its CSCV, then the longest training windows),
    # so that no long task starts last on a cluster; the order changes no result.
    order = sorted(folds, key=lambda k: (k != FULL_SAMPLE, -k))
    tasks = [(g, (spec, k)) for k in order for g in range(len(groups))]
    outcomes = (executor or InProcessExecutor()).map(run_group_task, groups, tasks)
    by_fold: dict[str, list[FoldOutcome]] = {b.symbol: [] for b in symbols}
    full: dict[str, FullOutcome] = {}
    for out in outcomes:
        for f in out.folds:
            by_fold[f.symbol].append(f)
        for s in out.full:
            full[s.symbol] = s
    for fold_list in by_fold.values():
        fold_list.sort(key=lambda f: f.fold)
    return by_fold, full


def sweep_grid(
    bars: Mapping[str, BarArrays],
    strategy: str,
    grid: Mapping[str, Sequence[ParamValue]],
    *,
    config: BacktestConfig | None = None,
    objective: Objective = "sharpe",
    cscv_blocks: int = 16,
    executor: TaskExecutor | None = None,
    symbols_per_task: int | None = None,
) -> GridSweepResult:
    """Every parameter set over each symbol's whole sample: metrics per set, the best by
    ``objective``, its deflated Sharpe and the PBO of picking it (CSCV, ``cscv_blocks``)."""
    symbols, sets, skipped, cfg = _prepare(bars, strategy, grid, objective, config)
    _check_cscv(symbols, cscv_blocks)
    spec = ResearchSpec(strategy, tuple(sets), cfg, objective, 1, "anchored", None, None,
                        cscv_blocks)  # fmt: skip
    _, full = _run(symbols, spec, [FULL_SAMPLE], executor, symbols_per_task)
    out = []
    for b in symbols:
        f = full[b.symbol]
        run = f.best_run
        out.append(
            SymbolSweep(
                symbol=b.symbol,
                bars=b.n_bars,
                start=_stamp(b.timestamps[0]),
                end=_stamp(b.timestamps[-1]),
                best=f.best,
                trials=[
                    TrialResult(params=p, metrics=_metrics(row, GRID_METRICS))
                    for p, row in zip(sets, f.metrics, strict=True)
                ],
                stats=_overfit(f, sets, cscv_blocks, cfg.periods_per_year),
                curve=Curve(timestamps=run.timestamps, equity=run.equity, trades=run.trades),
            )
        )
    return GridSweepResult(
        strategy=strategy, objective=objective, grid={k: list(v) for k, v in grid.items()},
        n_trials=len(sets), skipped_sets=skipped, config=cfg, symbols=out,
    )  # fmt: skip


def _fold_result(f: FoldOutcome, ts: np.ndarray, params: dict[str, ParamValue]) -> FoldResult:
    b = f.bounds
    return FoldResult(
        fold=f.fold + 1,
        train_start=_stamp(ts[b[TRAIN_START]]),
        train_end=_stamp(ts[b[TRAIN_STOP] - 1]),
        train_bars=int(b[TRAIN_STOP] - b[TRAIN_START]),
        test_start=_stamp(ts[b[TEST_START]]),
        test_end=_stamp(ts[b[TEST_STOP] - 1]),
        test_bars=int(b[TEST_STOP] - b[TEST_START]),
        params=params,
        in_sample=_metrics(f.in_sample, METRIC_NAMES),
        out_of_sample=f.oos.metrics,
    )


def _chain(folds: list[FoldOutcome], cfg: BacktestConfig) -> tuple[Curve, Metrics, float]:
    """The test windows end to end: each window's equity relative to its base bar,
    compounded from the configured cash."""
    first = folds[0].oos
    ts = [first.timestamps[:1]]
    equity = [np.array([cfg.cash])]
    exposure = [np.zeros(1)]
    level = cfg.cash
    for f in folds:
        rel = f.oos.equity[1:] / f.oos.equity[0]
        equity.append(level * rel)
        level = float(equity[-1][-1])
        ts.append(f.oos.timestamps[1:])
        exposure.append(f.oos.exposure[1:])
    eq = np.concatenate(equity)
    values = bm.all_metrics(eq, np.concatenate(exposure), cfg.periods_per_year)
    n_trades = sum(f.oos.metrics.n_trades for f in folds)
    wins = sum(round(f.oos.metrics.win_rate * f.oos.metrics.n_trades) for f in folds if
               f.oos.metrics.n_trades)  # fmt: skip
    metrics = Metrics(
        **dict(zip(bm.ALL_METRICS, values.tolist(), strict=True)),
        win_rate=wins / n_trades if n_trades else math.nan,
        n_trades=n_trades,
        equity_final=float(eq[-1]),
    )
    m = return_moments(eq[1:] / eq[:-1] - 1.0)
    psr = float(probabilistic_sharpe(m.sharpe, 0.0, m.n_obs, m.skew, m.kurtosis))
    trades = [t for f in folds for t in f.oos.trades]
    return Curve(timestamps=np.concatenate(ts), equity=eq, trades=trades), metrics, psr


def walk_forward(
    bars: Mapping[str, BarArrays],
    strategy: str,
    grid: Mapping[str, Sequence[ParamValue]],
    folds: FoldSpec,
    *,
    config: BacktestConfig | None = None,
    objective: Objective = "sharpe",
    cscv_blocks: int = 16,
    executor: TaskExecutor | None = None,
    symbols_per_task: int | None = None,
) -> WalkForwardResult:
    """Per symbol and fold: the best parameter set on the training window by
    ``objective``, then that set on the next test window; the test windows chained;
    plus the whole-sample deflated Sharpe and PBO (as ``sweep_grid``)."""
    symbols, sets, skipped, cfg = _prepare(bars, strategy, grid, objective, config)
    _check_cscv(symbols, cscv_blocks)
    for b in symbols:
        try:
            make_folds(b.n_bars, folds.n_folds, folds.mode, folds.train, folds.test)
        except ValueError as exc:
            raise ConfigurationError(f"{b.symbol}: {exc}") from None
    spec = ResearchSpec(strategy, tuple(sets), cfg, objective, folds.n_folds, folds.mode,
                        folds.train, folds.test, cscv_blocks)  # fmt: skip
    by_fold, full = _run(
        symbols, spec, [FULL_SAMPLE, *range(folds.n_folds)], executor, symbols_per_task
    )
    out = []
    for b in symbols:
        fold_list = by_fold[b.symbol]
        curve, oos, psr = _chain(fold_list, cfg)
        out.append(
            SymbolWalkForward(
                symbol=b.symbol,
                bars=b.n_bars,
                folds=[_fold_result(f, b.timestamps, sets[f.best]) for f in fold_list],
                oos_start=_stamp(b.timestamps[fold_list[0].bounds[TEST_START]]),
                oos_end=_stamp(b.timestamps[fold_list[-1].bounds[TEST_STOP] - 1]),
                out_of_sample=oos,
                oos_probabilistic_sharpe=psr,
                full_sample=_overfit(full[b.symbol], sets, cscv_blocks, cfg.periods_per_year),
                curve=curve,
            )
        )
    return WalkForwardResult(
        strategy=strategy, objective=objective, grid={k: list(v) for k, v in grid.items()},
        n_trials=len(sets), skipped_sets=skipped, folds=folds, config=cfg, symbols=out,
    )  # fmt: skip
