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
    """Raise ``BacktestValidationError`` listing every broken invariant of one run."""
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
        replay = replay_equity(close, cfg, trades)
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


def replay_equity(close: FloatArray, cfg: FloatArray, trades: FloatArray) -> FloatArray:
    """Equity at every close rebuilt from trade records and closes (single-tranche trades)."""
    n_bar = close.shape[1]
    realized = np.zeros(n_bar)
    unrealized = np.zeros(n_bar)
    kind, rate = int(cfg[CFG_COMM_KIND]), float(cfg[CFG_COMM_RATE])
    cmin, cmax = float(cfg[CFG_COMM_MIN]), float(cfg[CFG_COMM_MAX_PCT])
    for row in trades:
        s, side = int(row[TR_SYMBOL]), float(row[TR_SIDE])
        entry, size, entry_px = int(row[TR_ENTRY_BAR]), float(row[TR_SIZE]), row[TR_ENTRY_PRICE]
        entry_fee = commission_kernel(kind, size, entry_px, rate, cmin, cmax)
        still_open = int(row[TR_EXIT_REASON]) == EXIT_OPEN_AT_END
        end = n_bar if still_open else int(row[TR_EXIT_BAR])
        unrealized[entry:end] += side * (close[s, entry:end] - entry_px) * size - entry_fee
        if not still_open:
            realized[end] += row[TR_PNL]
    return float(cfg[CFG_CASH]) + np.cumsum(realized) + unrealized


def _bar_return_bound(
    high: FloatArray,
    low: FloatArray,
    close: FloatArray,
    cfg: FloatArray,
    equity: FloatArray,
    exposure: FloatArray,
) -> list[str]:
    if equity.shape[0] < 2:
        return []
    prev_close = close[:, :-1]
    top = np.maximum(high[:, 1:], prev_close)
    bottom = np.minimum(low[:, 1:], prev_close)
    move = (top / bottom - 1.0).max(axis=0)
    planned = float(cfg[CFG_SIZE_FRACTION]) * (
        1.0 + float(cfg[CFG_PYR_LEVELS]) * float(cfg[CFG_PYR_FRACTION])
    )
    leverage = np.maximum(np.maximum(exposure[:-1], exposure[1:]), planned)
    # A position can grow with the price it is marked at; allow for one bar of that growth.
    bound = leverage * move * (1.0 + move) + COST_ALLOWANCE
    prev = equity[:-1]
    ret = np.where(prev > 0.0, np.abs(equity[1:] / np.where(prev > 0.0, prev, 1.0) - 1.0), 0.0)
    bad = np.flatnonzero(ret > bound)
    if not bad.size:
        return []
    t = int(bad[0]) + 1
    return [
        f"bar {t}: equity return {ret[t - 1]:.4g} exceeds the sanity bound {bound[t - 1]:.4g} "
        f"(exposure × largest price range of the bar)"
    ]
