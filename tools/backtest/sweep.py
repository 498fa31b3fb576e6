"""Parameter-grid sweeps: many backtests in one call, in parallel over parameter sets.

Each parameter set p has its own signals ``signals[p]`` (symbols × bars) and its own
configuration row ``cfgs[p]`` (stops, sizing, costs...). With ``shared_cash`` each set is
one portfolio of all symbols; without it every (set, symbol) pair is its own single-symbol
portfolio, which is what "which parameters work best on each symbol" needs. Only metrics
come back (one row per run, ``M_*`` columns): equity curves of 10,000 runs would not fit.

Validation in a sweep is the part that needs no trade list: finite equity, no ruin in a
long-only run, and the per-bar return bound. Re-run a chosen set with ``run_arrays`` for
the full ledger and replay checks.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import numpy.typing as npt
from numba import njit, prange
from pydantic import BaseModel, ConfigDict

from tools.backtest import metrics as m
from tools.backtest.engine import BacktestConfig, checked_atr, checked_prices, checked_signals
from tools.backtest.kernel import CFG_ALLOW_SHORT, N_TR, STATUS_RUINED, simulate
from tools.backtest.validate import BacktestValidationError, bar_ratios, first_bar_beyond_bound

FloatArray = npt.NDArray[np.float64]

M_TOTAL_RETURN = 0
M_CAGR = 1
M_SHARPE = 2
M_SORTINO = 3
M_MAX_DRAWDOWN = 4
M_WIN_RATE = 5
M_EXPOSURE = 6
M_N_TRADES = 7
M_EQUITY_FINAL = 8
M_RUINED = 9
M_INVALID = 10  # 1.0 when the in-kernel sanity checks failed
N_METRICS = 11
METRIC_NAMES = (
    "total_return",
    "cagr",
    "sharpe",
    "sortino",
    "max_drawdown",
    "win_rate",
    "exposure",
    "n_trades",
    "equity_final",
    "ruined",
    "invalid",
)


@njit(cache=True)
def _fill_metrics(
    row: FloatArray,
    ratios: FloatArray,
    signal: npt.NDArray[np.int8],
    equity: FloatArray,
    exposure: FloatArray,
    cfg: FloatArray,
    n_trades: int,
    n_wins: int,
    status: int,
    ppy: float,
) -> None:
    """One run's metrics, and ``M_INVALID`` set when the run fails the checks a sweep can
    make without a trade list (``ratios``: ``bar_ratios`` of the run's own prices)."""
    row[M_TOTAL_RETURN] = m.total_return(equity)
    row[M_CAGR] = m.cagr(equity, ppy)
    row[M_SHARPE] = m.sharpe(equity, ppy)
    row[M_SORTINO] = m.sortino(equity, ppy)
    row[M_MAX_DRAWDOWN] = m.max_drawdown(equity)
    row[M_WIN_RATE] = n_wins / n_trades if n_trades > 0 else np.nan
    row[M_EXPOSURE] = m.exposure_time(exposure)
    row[M_N_TRADES] = n_trades
    row[M_EQUITY_FINAL] = equity[-1]
    row[M_RUINED] = 1.0 if status == STATUS_RUINED else 0.0
    invalid = cfg[CFG_ALLOW_SHORT] == 0.0 and status == STATUS_RUINED
    for t in range(equity.shape[0]):
        invalid = invalid or not np.isfinite(equity[t])
    if not invalid:
        invalid = first_bar_beyond_bound(ratios, signal, cfg, equity, exposure)[0] >= 0
    row[M_INVALID] = 1.0 if invalid else 0.0


@njit(cache=True, parallel=True)
def sweep_kernel(
    open_: FloatArray,
    high: FloatArray,
    low: FloatArray,
    close: FloatArray,
    signals: npt.NDArray[np.int8],
    atr: FloatArray,
    cfgs: FloatArray,
    shared_cash: bool,
    ppy: float,
) -> FloatArray:
    """Metrics ``[P, N_METRICS]`` (shared cash) or ``[P, S, N_METRICS]`` flattened to
    ``[P * S, N_METRICS]`` (independent symbols) for ``signals[P, S, T]``."""
    n_set, n_sym, n_bar = signals.shape
    n_jobs = n_set if shared_cash else n_set * n_sym
    out = np.empty((n_jobs, N_METRICS))
    no_trades = np.empty((1, N_TR))
    ratios = bar_ratios(open_, high, low, close)  # once for every run
    for job_index in prange(n_jobs):
        job = np.int64(job_index)  # prange indices may be unsigned: keep p and s int64
        equity = np.empty(n_bar)
        exposure = np.empty(n_bar)
        if shared_cash:
            p = job
            n_tr, n_win, status = simulate(
                open_, high, low, close, signals[p], atr, cfgs[p], equity, exposure,
                no_trades, False,
            )  # fmt: skip
            _fill_metrics(
                out[job], ratios, signals[p], equity, exposure, cfgs[p], n_tr, n_win, status, ppy
            )
        else:
            p = job // np.int64(n_sym)
            s = job % np.int64(n_sym)
            one = slice(s, s + 1)
            n_tr, n_win, status = simulate(
                open_[one], high[one], low[one], close[one], signals[p, one], atr[one],
                cfgs[p], equity, exposure, no_trades, False,
            )  # fmt: skip
            _fill_metrics(
                out[job], ratios[:, one], signals[p, one], equity, exposure, cfgs[p], n_tr,
                n_win, status, ppy,
            )  # fmt: skip
    return out


class SweepResult(BaseModel):
    """``metrics[p, s, k]`` (independent symbols, s over symbols) or ``metrics[p, 0, k]``
    (shared cash); ``k`` indexes ``columns``."""

    model_config = ConfigDict(frozen=True, arbitrary_types_allowed=True, extra="forbid")

    metrics: FloatArray
    columns: tuple[str, ...] = METRIC_NAMES
    shared_cash: bool

    def column(self, name: str) -> FloatArray:
        out: FloatArray = self.metrics[..., self.columns.index(name)]
        return out


def sweep(
    open_: FloatArray,
    high: FloatArray,
    low: FloatArray,
    close: FloatArray,
    signals: npt.NDArray[np.int8],
    configs: BacktestConfig | Sequence[BacktestConfig],
    *,
    shared_cash: bool = False,
    atr: FloatArray | None = None,
) -> SweepResult:
    """Run ``signals[P, S, T]`` against 2-D bars ``[S, T]``; one config for all sets or one
    per set. Raises ``BacktestValidationError`` if any run fails its sanity checks."""
    o, h, lo, c = checked_prices(open_, high, low, close)
    raw = np.asarray(signals)
    if raw.ndim != 3 or raw.shape[1:] != c.shape:
        raise ValueError(f"signals must be [P, {c.shape[0]}, {c.shape[1]}], got {raw.shape}")
    sig = checked_signals(raw, raw.shape)
    n_set = sig.shape[0]
    cfg_list = [configs] * n_set if isinstance(configs, BacktestConfig) else list(configs)
    if len(cfg_list) != n_set:
        raise ValueError(f"{len(cfg_list)} configs for {n_set} signal sets")
    if any(cf.pyramid_levels for cf in cfg_list) and atr is None:
        from tools.indicators import atr as atr_fn

        atr = np.vstack([atr_fn(h[s], lo[s], c[s], 14) for s in range(c.shape[0])])
    atr_arr = checked_atr(atr, c.shape)
    cfgs = np.vstack([cf.kernel_config() for cf in cfg_list])
    ppy = cfg_list[0].periods_per_year
    if any(cf.periods_per_year != ppy for cf in cfg_list):
        raise ValueError("every config of a sweep must use the same periods_per_year")
    flat = sweep_kernel(o, h, lo, c, sig, atr_arr, cfgs, shared_cash, ppy)
    metrics = flat.reshape(n_set, 1 if shared_cash else c.shape[0], len(METRIC_NAMES))
    bad = np.argwhere(metrics[..., M_INVALID] != 0.0)
    if bad.size:
        p, s = (int(x) for x in bad[0])
        raise BacktestValidationError(
            "impossible sweep output",
            [f"{len(bad)} run(s) failed the sanity checks, first: set {p}, symbol {s}"],
        )
    return SweepResult(metrics=metrics, shared_cash=shared_cash)
