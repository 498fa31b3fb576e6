"""Self-checks of a backtest's outputs: an impossible result is an error, never a report.

The operators' previous engine reported returns of "billions of %". Every run of ours is
checked against facts the kernel cannot fake:

1. Every equity value and trade field is finite.
2. Long-only runs cannot lose more than they own: equity ≤ 0 (ruin) is impossible there.
3. Ledger identity: final equity = starting cash + Σ net pnl of all trades (open trades
   marked at the last close), recomputed here from the trade records.
4. Path replay (runs without pyramiding): the equity at every close is rebuilt from the
   trade records and the close prices alone, commissions recomputed from the cost model,
   and must match the kernel's curve.
5. Per-bar sanity bound: a bar's equity return cannot exceed the portfolio's exposure times
   the largest price range any symbol had in that bar (plus a cost allowance); a return
   beyond that is an accounting error, however plausible it looks.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
from numba import njit

from core.errors import QuorumError
from tools.backtest.kernel import (
    CFG_ALLOW_SHORT,
    CFG_CASH,
    CFG_COMM_KIND,
    CFG_COMM_MAX_PCT,
    CFG_COMM_MIN,
    CFG_COMM_RATE,
    CFG_PYR_FRACTION,
    CFG_PYR_LEVELS,
    CFG_SIZE_FRACTION,
    EXIT_OPEN_AT_END,
    STATUS_RUINED,
    TR_ENTRY_BAR,
    TR_ENTRY_PRICE,
    TR_EXIT_BAR,
    TR_EXIT_REASON,
    TR_PNL,
    TR_SIDE,
    TR_SIZE,
    TR_SYMBOL,
    TR_TRANCHES,
)
from tools.costs import commission_kernel

FloatArray = npt.NDArray[np.float64]

LEDGER_RTOL = 1e-9
COST_ALLOWANCE = 0.01  # per-bar return slack for commission and slippage


class BacktestValidationError(QuorumError):
    """The simulation produced an impossible result; ``problems`` says which check failed."""

    def __init__(self, message: str, problems: list[str]) -> None:
        super().__init__(f"{message}: {'; '.join(problems)}")
        self.problems = problems


def validate_run(
    high: FloatArray,
    low: FloatArray,
    close: FloatArray,
    cfg: FloatArray,
    equity: FloatArray,
    exposure: FloatArray,
    trades: FloatArray,
    status: int,
) -> None:
    """Raise ``BacktestValidationError`` listing every broken invariant of one run.

    The checks run first in one compiled pass (``run_is_consistent``); only a run that
    fails them goes through the detailed pass below, which names every broken check.
    """
    planned = float(cfg[CFG_SIZE_FRACTION]) * (
        1.0 + float(cfg[CFG_PYR_LEVELS]) * float(cfg[CFG_PYR_FRACTION])
    )
    trades_c = np.ascontiguousarray(trades)
    if run_is_consistent(high, low, close, cfg, equity, exposure, trades_c, status, planned):
        return
    problems: list[str] = []
    cash0 = float(cfg[CFG_CASH])
    if not np.all(np.isfinite(equity)):
        problems.append(f"equity: non-finite value at bar {int(np.argmin(np.isfinite(equity)))}")
    if trades.size and not np.all(np.isfinite(trades)):
        problems.append("trades: non-finite field")
    if problems:
        raise BacktestValidationError("impossible backtest output", problems)

    long_only = cfg[CFG_ALLOW_SHORT] == 0.0
    if long_only and (status == STATUS_RUINED or np.any(equity <= 0.0)):
        problems.append(
            f"equity <= 0 ({float(equity.min()):.6g}) in a long-only run without leverage"
        )

    scale = max(cash0, float(np.max(np.abs(equity))) if equity.size else cash0)
    final_from_trades = cash0 + float(trades[:, TR_PNL].sum())
    if equity.size and abs(final_from_trades - equity[-1]) > LEDGER_RTOL * scale:
        problems.append(
            f"ledger: final equity {equity[-1]:.10g} != cash + Σ trade pnl {final_from_trades:.10g}"
        )

    if equity.size and not np.any(trades[:, TR_TRANCHES] > 1.0):
        replay: FloatArray = replay_equity(close, cfg, np.ascontiguousarray(trades))
        bad = np.flatnonzero(np.abs(replay - equity) > LEDGER_RTOL * scale * 10)
        if bad.size:
            t = int(bad[0])
            problems.append(
                f"replay: equity at bar {t} is {equity[t]:.10g}, trades and prices give "
                f"{replay[t]:.10g}"
            )

    problems.extend(_bar_return_bound(high, low, close, cfg, equity, exposure))
    if problems:
        raise BacktestValidationError("impossible backtest output", problems)


@njit(cache=True)
def run_is_consistent(
    high: FloatArray,
    low: FloatArray,
    close: FloatArray,
    cfg: FloatArray,
    equity: FloatArray,
    exposure: FloatArray,
    trades: FloatArray,
    status: int,
    planned: float,
) -> bool:
    """All checks of ``validate_run`` in one compiled pass: True when the run is sound."""
    n_bar = equity.shape[0]
    cash0 = cfg[CFG_CASH]
    scale = cash0
    for t in range(n_bar):
        if not np.isfinite(equity[t]):
            return False
        scale = max(scale, abs(equity[t]))
    total_pnl = 0.0
    pyramided = False
    for k in range(trades.shape[0]):
        for j in range(trades.shape[1]):
            if not np.isfinite(trades[k, j]):
                return False
        total_pnl += trades[k, TR_PNL]
        pyramided = pyramided or trades[k, TR_TRANCHES] > 1.0
    if cfg[CFG_ALLOW_SHORT] == 0.0:
        if status == STATUS_RUINED:
            return False
        for t in range(n_bar):
            if equity[t] <= 0.0:
                return False
    if n_bar == 0:
        return True
    if abs(cash0 + total_pnl - equity[-1]) > LEDGER_RTOL * scale:
        return False
    if not pyramided:
        replay = replay_equity(close, cfg, trades)
        for t in range(n_bar):
            if abs(replay[t] - equity[t]) > LEDGER_RTOL * scale * 10:
                return False
    bad, _, _ = first_bar_beyond_bound(high, low, close, equity, exposure, planned)
    return bool(bad < 0)


@njit(cache=True)
def replay_equity(close: FloatArray, cfg: FloatArray, trades: FloatArray) -> FloatArray:
    """Equity at every close rebuilt from trade records and closes (single-tranche trades).

    Deliberately a different computation from the simulation: no cash, no bar loop over
    orders, just each trade's realised pnl from its exit bar on and its mark-to-market
    (entry commission recomputed from the cost model) while it is open.
    """
    n_bar = close.shape[1]
    realized = np.zeros(n_bar)
    unrealized = np.zeros(n_bar)
    kind = int(cfg[CFG_COMM_KIND])
    rate, cmin, cmax = cfg[CFG_COMM_RATE], cfg[CFG_COMM_MIN], cfg[CFG_COMM_MAX_PCT]
    for k in range(trades.shape[0]):
        s = int(trades[k, TR_SYMBOL])
        side = trades[k, TR_SIDE]
        entry = int(trades[k, TR_ENTRY_BAR])
        size = trades[k, TR_SIZE]
        entry_px = trades[k, TR_ENTRY_PRICE]
        entry_fee = commission_kernel(kind, size, entry_px, rate, cmin, cmax)
        still_open = int(trades[k, TR_EXIT_REASON]) == EXIT_OPEN_AT_END
        end = n_bar if still_open else int(trades[k, TR_EXIT_BAR])
        for t in range(entry, end):
            unrealized[t] += side * (close[s, t] - entry_px) * size - entry_fee
        if not still_open:
            realized[end] += trades[k, TR_PNL]
    out: FloatArray = cfg[CFG_CASH] + np.cumsum(realized) + unrealized
    return out


@njit(cache=True)
def first_bar_beyond_bound(
    high: FloatArray,
    low: FloatArray,
    close: FloatArray,
    equity: FloatArray,
    exposure: FloatArray,
    planned: float,
) -> tuple[int, float, float]:
    """First bar whose |equity return| exceeds exposure × the largest price range of any
    symbol in that bar (gap from the previous close included) plus the cost allowance:
    ``(bar, return, bound)``, or ``(-1, 0, 0)`` when every bar is within bounds."""
    n_sym, n_bar = close.shape
    for t in range(1, n_bar):
        if not equity[t - 1] > 0.0:
            continue
        move = 0.0
        for s in range(n_sym):
            top = max(high[s, t], close[s, t - 1])
            bottom = min(low[s, t], close[s, t - 1])
            move = max(move, top / bottom - 1.0)
        leverage = max(exposure[t - 1], exposure[t], planned)
        # A position can grow with the price it is marked at; allow one bar of that growth.
        bound = leverage * move * (1.0 + move) + COST_ALLOWANCE
        ret = abs(equity[t] / equity[t - 1] - 1.0)
        if ret > bound:
            return t, ret, bound
    return -1, 0.0, 0.0


def _bar_return_bound(
    high: FloatArray,
    low: FloatArray,
    close: FloatArray,
    cfg: FloatArray,
    equity: FloatArray,
    exposure: FloatArray,
) -> list[str]:
    planned = float(cfg[CFG_SIZE_FRACTION]) * (
        1.0 + float(cfg[CFG_PYR_LEVELS]) * float(cfg[CFG_PYR_FRACTION])
    )
    t, ret, bound = first_bar_beyond_bound(high, low, close, equity, exposure, planned)
    if t < 0:
        return []
    return [
        f"bar {t}: equity return {ret:.4g} exceeds the sanity bound {bound:.4g} "
        f"(exposure × largest price range of the bar)"
    ]
