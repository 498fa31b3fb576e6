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
5. Per-bar sanity bound (``bar_bounds``): a bar's equity return cannot exceed what
   the positions that can exist during the bar can earn or lose between the prices the bar
   allows, plus the most commission its orders can cost; a return beyond that is an
   accounting error, however plausible it looks. The kernel-side checks of sweeps call the
   same function.
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
    CFG_SLIPPAGE_BPS,
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
from tools.costs import BPS, COMMISSION_PER_SHARE, COMMISSION_PERCENT, commission_kernel

FloatArray = npt.NDArray[np.float64]
SignalArray = npt.NDArray[np.int8]

LEDGER_RTOL = 1e-9
BOUND_RTOL = 1e-9  # floating-point slack on the per-bar bound (relative, then absolute)
BOUND_ATOL = 1e-12
ORDERS_PER_BAR = 4  # per symbol: exit at the open, entry, stop exit or add, ruin liquidation

# Rows of ``bar_ratios`` (each [S, T]), with hi = max(high, open, close) and lo = min(low,
# open, close) of bar t and P the close of bar t-1: the prices a bound needs, without
# slippage (applied per run, so one table serves every configuration of a sweep).
R_HIGH_PREV = 0  # hi / P
R_LOW_PREV = 1  # lo / P
R_HIGH_OPEN = 2  # hi / open
R_LOW_OPEN = 3  # lo / open
R_RANGE = 4  # hi / lo
R_GAP = 5  # |open / P - 1|
R_LOW = 6  # lo
N_RATIOS = 7


class BacktestValidationError(QuorumError):
    """The simulation produced an impossible result; ``problems`` says which check failed."""

    def __init__(self, message: str, problems: list[str]) -> None:
        super().__init__(f"{message}: {'; '.join(problems)}")
        self.problems = problems


def validate_run(
    open_: FloatArray,
    high: FloatArray,
    low: FloatArray,
    close: FloatArray,
    signal: SignalArray,
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
    trades_c = np.ascontiguousarray(trades)
    ratios = bar_ratios(open_, high, low, close)
    if run_is_consistent(ratios, signal, close, cfg, equity, exposure, trades_c, status):
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

    t, ret, bound = first_bar_beyond_bound(ratios, signal, cfg, equity, exposure)
    if t >= 0:
        problems.append(
            f"bar {t}: equity return {ret:.4g} exceeds the sanity bound {bound:.4g} (what the "
            "positions possible in that bar can move between its prices, plus costs)"
        )
    if problems:
        raise BacktestValidationError("impossible backtest output", problems)


@njit(cache=True)
def run_is_consistent(
    ratios: FloatArray,
    signal: SignalArray,
    close: FloatArray,
    cfg: FloatArray,
    equity: FloatArray,
    exposure: FloatArray,
    trades: FloatArray,
    status: int,
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
    bad, _, _ = first_bar_beyond_bound(ratios, signal, cfg, equity, exposure)
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
def bar_ratios(
    open_: FloatArray, high: FloatArray, low: FloatArray, close: FloatArray
) -> FloatArray:
    """``float64[N_RATIOS, S, T]``: the ``R_*`` price ratios of every symbol and bar (bar 0,
    which has no previous close, is left at 1 and 0)."""
    n_sym, n_bar = close.shape
    out = np.ones((N_RATIOS, n_sym, n_bar))
    for s in range(n_sym):
        out[R_GAP, s, 0] = 0.0
        for t in range(1, n_bar):
            o, prev = open_[s, t], close[s, t - 1]
            hi = max(high[s, t], o, close[s, t])
            lo = min(low[s, t], o, close[s, t])
            out[R_HIGH_PREV, s, t] = hi / prev
            out[R_LOW_PREV, s, t] = lo / prev
            out[R_HIGH_OPEN, s, t] = hi / o
            out[R_LOW_OPEN, s, t] = lo / o
            out[R_RANGE, s, t] = hi / lo
            out[R_GAP, s, t] = abs(o / prev - 1.0)
            out[R_LOW, s, t] = lo
    return out


@njit(cache=True)
def _commission_bound(
    kind: int,
    rate: float,
    cap: float,
    traded: float,
    floors: float,
    cheapest: float,
) -> float:
    """The most commission of orders worth ``traded`` in all (a fraction of equity), none
    filled below ``cheapest``; ``floors`` is their minimums (number × minimum / equity)."""
    if kind == COMMISSION_PERCENT:  # max(rate × value, minimum) per order
        return rate * traded + floors
    if kind == COMMISSION_PER_SHARE:  # min(max(rate × shares, minimum), cap × value)
        linear = rate / cheapest * traded + floors
        return min(linear, cap * traded) if cap > 0.0 else linear
    return 0.0


@njit(cache=True)
def bar_bounds(
    ratios: FloatArray,
    signal: SignalArray,
    cfg: FloatArray,
    equity: FloatArray,
    exposure: FloatArray,
) -> FloatArray:
    """``bound[t]``: the largest ``|equity[t] / equity[t-1] - 1|`` bar t can produce, given
    the equity and gross exposure the kernel reports at the previous close P,
    ``ratios = bar_ratios(...)`` of the prices, the run's ``signal`` and config ``cfg``.
    ``bound[0]`` bounds ``|equity[0] / cash - 1|``: 0 (to rounding), nothing trades on
    the first bar; bars after a ruin (equity ≤ 0) are not bounded (inf).

    Every fill of bar t (open, stop or target level, pyramid level, close for a ruin) lies
    in [lo × (1 - slip), hi × (1 + slip)] with lo = min(low, open, close) and hi =
    max(high, open, close). A leg of a position held during the bar goes from its
    reference price to a price in that range, so its pnl is at most its value at the
    reference times the largest relative move:

    - ``old``, from P, for the positions carried in (worth exposure × equity): they exit
      at the open or a stop, or are marked at the close;
    - ``new``, from the open fill, for entries at the open: only symbols whose
      ``signal[t-1]`` asks for a position, each sized on ``size_fraction`` × the equity at
      the open (at most 1 + exposure × the largest gap); long-only entries together never
      exceed the cash, hence that equity;
    - ``add``, the bar's whole range, for one pyramid tranche per symbol.

    A reversal holds both the old position (P → open) and the new one (open → close) in
    the same bar: both legs can lose (or gain), so their bounds add. Without shorts a
    single symbol holds one or the other, never both. Commission is bounded by the value
    of the orders (each leg's opening and closing fill) and one minimum per order,
    ``ORDERS_PER_BAR`` per symbol.
    """
    n_sym, n_bar = signal.shape
    slip = float(cfg[CFG_SLIPPAGE_BPS]) * BPS
    up, down = 1.0 + slip, 1.0 - slip  # a buy's and a sell's fill / price
    widen, narrow = up / down, down / up
    allow_short = cfg[CFG_ALLOW_SHORT] != 0.0
    fraction, pyramid = float(cfg[CFG_SIZE_FRACTION]), float(cfg[CFG_PYR_FRACTION])
    if cfg[CFG_PYR_LEVELS] == 0.0:
        pyramid = 0.0
    kind, rate = int(cfg[CFG_COMM_KIND]), float(cfg[CFG_COMM_RATE])
    minimum, cap = float(cfg[CFG_COMM_MIN]), float(cfg[CFG_COMM_MAX_PCT])
    out = np.full(n_bar, np.inf)
    if n_bar:
        out[0] = BOUND_ATOL
    for t in range(1, n_bar):
        if not equity[t - 1] > 0.0:
            continue
        old = new = add = gap = 0.0
        cheapest = np.inf
        entering = 0
        for s in range(n_sym):
            rise = ratios[R_HIGH_PREV, s, t] * up - 1.0
            old = max(old, rise, 1.0 - ratios[R_LOW_PREV, s, t] * down)
            add = max(add, ratios[R_RANGE, s, t] * widen - 1.0)
            gap = max(gap, ratios[R_GAP, s, t])
            cheapest = min(cheapest, ratios[R_LOW, s, t] * down)
            if signal[s, t - 1] > 0 or (signal[s, t - 1] < 0 and allow_short):
                entering += 1
                rise = ratios[R_HIGH_OPEN, s, t] * widen - 1.0
                new = max(new, rise, 1.0 - ratios[R_LOW_OPEN, s, t] * narrow)
        held = exposure[t - 1]
        sized_on = 1.0 + held * gap  # equity at the open / equity at P, at most
        entries = entering * fraction
        if not allow_short:
            entries = min(entries, 1.0)
        entries *= sized_on
        adds = n_sym * pyramid * sized_on
        if allow_short or n_sym > 1:
            moves = held * old + entries * new
            traded = held * (1.0 + old) + entries * (2.0 + new)
        else:
            moves = max(held * old, entries * new)
            traded = max(held * (1.0 + old), entries * (2.0 + new))
        moves += adds * add
        traded += adds * (2.0 + add)
        floors = ORDERS_PER_BAR * n_sym * minimum / equity[t - 1]
        fees = _commission_bound(kind, rate, cap, traded, floors, cheapest)
        out[t] = (moves + fees) * (1.0 + BOUND_RTOL) + BOUND_ATOL
    return out


@njit(cache=True)
def first_bar_beyond_bound(
    ratios: FloatArray,
    signal: SignalArray,
    cfg: FloatArray,
    equity: FloatArray,
    exposure: FloatArray,
) -> tuple[int, float, float]:
    """First bar whose |equity return| exceeds its ``bar_bounds`` (bar 0's return is taken
    from the starting cash): ``(bar, return, bound)``, or ``(-1, 0, 0)`` when every bar is
    within bounds."""
    bounds = bar_bounds(ratios, signal, cfg, equity, exposure)
    previous = cfg[CFG_CASH]
    for t in range(equity.shape[0]):
        ret = abs(equity[t] / previous - 1.0)
        if ret > bounds[t]:
            return t, ret, bounds[t]
        previous = equity[t]
    return -1, 0.0, 0.0
