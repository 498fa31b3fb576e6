"""Monte Carlo robustness of a backtest: how lucky was the path it happened to take?

Two resamplings, both seeded and reproducible (same seed, same inputs → same arrays):

- **Daily returns bootstrap**: draw ``horizon`` returns with replacement from the observed
  per-bar returns (``block`` > 1 draws circular blocks, keeping short-range
  autocorrelation) and compound them.
- **Trade-order resampling**: replay the trades' returns on equity in a shuffled order
  (``replace=False``: a permutation, the final equity is unchanged and only the drawdown
  varies) or drawn with replacement (``replace=True``: both vary).

Each gives arrays of final equity and max drawdown (positive fraction of peak), one value
per path; ``summarize`` turns them into percentiles. Kernels are serial on purpose: NumPy's
random state inside Numba is per thread, so a parallel loop would not be reproducible.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
from numba import njit
from pydantic import BaseModel, ConfigDict

from tools.backtest import BacktestResult

FloatArray = npt.NDArray[np.float64]

PERCENTILES = (5.0, 25.0, 50.0, 75.0, 95.0)


@njit(cache=True)
def bootstrap_returns_kernel(
    returns: FloatArray, n_paths: int, horizon: int, block: int, start: float, seed: int
) -> tuple[FloatArray, FloatArray]:
    np.random.seed(seed)
    n = returns.shape[0]
    final = np.empty(n_paths)
    mdd = np.empty(n_paths)
    for p in range(n_paths):
        equity = start
        peak = start
        worst = 0.0
        t = 0
        while t < horizon:
            i = np.random.randint(0, n)
            for k in range(block):
                if t >= horizon:
                    break
                equity *= 1.0 + returns[(i + k) % n]
                peak = max(peak, equity)
                worst = max(worst, 1.0 - equity / peak)
                t += 1
        final[p] = equity
        mdd[p] = worst
    return final, mdd


@njit(cache=True)
def resample_trades_kernel(
    trade_returns: FloatArray, n_paths: int, start: float, seed: int, replace: bool
) -> tuple[FloatArray, FloatArray]:
    np.random.seed(seed)
    n = trade_returns.shape[0]
    final = np.empty(n_paths)
    mdd = np.empty(n_paths)
    order = np.arange(n)
    for p in range(n_paths):
        if replace:
            for i in range(n):
                order[i] = np.random.randint(0, n)
        else:
            for i in range(n):
                order[i] = i
            for i in range(n - 1, 0, -1):  # Fisher-Yates
                j = np.random.randint(0, i + 1)
                order[i], order[j] = order[j], order[i]
        equity = start
        peak = start
        worst = 0.0
        for i in range(n):
            equity *= 1.0 + trade_returns[order[i]]
            peak = max(peak, equity)
            worst = max(worst, 1.0 - equity / peak)
        final[p] = equity
        mdd[p] = worst
    return final, mdd


class Distribution(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    mean: float
    percentiles: dict[str, float]  # "p5" .. "p95"


class MonteCarloSummary(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    n_paths: int
    seed: int
    start_equity: float
    final_equity: Distribution
    max_drawdown: Distribution
    probability_of_loss: float


def _check_returns(name: str, values: npt.ArrayLike) -> FloatArray:
    arr = np.ascontiguousarray(values, dtype=np.float64)
    if arr.ndim != 1 or arr.size == 0:
        raise ValueError(f"{name}: need a non-empty 1-D array")
    if not np.all(np.isfinite(arr)) or np.any(arr <= -1.0):
        raise ValueError(f"{name}: every value must be finite and > -1 (a loss above 100 %)")
    return arr


def _check_seed(seed: int) -> int:
    """Numba seeds a 32-bit Mersenne Twister: a seed outside [0, 2**32) would silently
    wrap onto another seed's paths (-1 and 2**32 - 1 give the same draws)."""
    if not 0 <= int(seed) < 2**32:
        raise ValueError(f"seed must be in [0, 2**32), got {seed}")
    return int(seed)


def bootstrap_returns(
    returns: npt.ArrayLike,
    *,
    n_paths: int = 10_000,
    horizon: int | None = None,
    block: int = 1,
    start_equity: float = 1.0,
    seed: int = 0,
) -> tuple[FloatArray, FloatArray]:
    """``(final_equity[n_paths], max_drawdown[n_paths])`` from bootstrapped bar returns."""
    arr = _check_returns("returns", returns)
    if n_paths < 1 or block < 1 or start_equity <= 0:
        raise ValueError("n_paths and block must be >= 1, start_equity > 0")
    h = arr.size if horizon is None else int(horizon)
    if h < 1:
        raise ValueError(f"horizon must be >= 1 bar, got {horizon}")
    out: tuple[FloatArray, FloatArray] = bootstrap_returns_kernel(
        arr, int(n_paths), h, int(block), float(start_equity), _check_seed(seed)
    )
    return out


def resample_trades(
    trade_returns: npt.ArrayLike,
    *,
    n_paths: int = 10_000,
    replace: bool = False,
    start_equity: float = 1.0,
    seed: int = 0,
) -> tuple[FloatArray, FloatArray]:
    """``(final_equity, max_drawdown)`` over shuffled (or resampled) trade sequences.

    ``trade_returns`` are each trade's return on the equity it was taken with.
    """
    arr = _check_returns("trade_returns", trade_returns)
    if n_paths < 1 or start_equity <= 0:
        raise ValueError("n_paths must be >= 1, start_equity > 0")
    out: tuple[FloatArray, FloatArray] = resample_trades_kernel(
        arr, int(n_paths), float(start_equity), _check_seed(seed), bool(replace)
    )
    return out


def trade_returns_on_equity(result: BacktestResult, start_equity: float) -> FloatArray:
    """Each trade's net pnl over the equity at the close before its entry (the capital it
    was sized from); trades that overlap in time are treated as if sequential."""
    before = np.concatenate(([start_equity], result.equity))
    return np.array([t.pnl / before[t.entry_bar] for t in result.trades], dtype=np.float64)


def _distribution(values: FloatArray) -> Distribution:
    pct = np.percentile(values, PERCENTILES)
    return Distribution(
        mean=float(values.mean()),
        percentiles={f"p{q:g}": float(v) for q, v in zip(PERCENTILES, pct, strict=True)},
    )


def summarize(
    final_equity: FloatArray, max_drawdown: FloatArray, *, start_equity: float, seed: int
) -> MonteCarloSummary:
    return MonteCarloSummary(
        n_paths=int(final_equity.size),
        seed=seed,
        start_equity=start_equity,
        final_equity=_distribution(final_equity),
        max_drawdown=_distribution(max_drawdown),
        probability_of_loss=float(np.mean(final_equity < start_equity)),
    )
