"""The backtest kernel: one portfolio of S symbols sharing cash, bar by bar.

Timing (no look-ahead by construction): ``signal[s, t]`` is computed from data up to the
close of bar t and is acted on at the **open of bar t+1**. The kernel reads ``signal[:, t-1]``
while it processes bar t; nothing of bar t is visible before its open is filled.

Order of events inside bar t:
1. Open: for every symbol whose target direction (``signal[s, t-1]``) differs from its
   position, close the position at the open (slipped against us). Then, with the cash
   freed, open new positions in symbol order: ``size_fraction`` of equity (marked at the
   open), in whole shares, commission included in that budget, never more than the cash
   (no leverage for longs).
2. Intrabar, for each open position: stop-loss / trailing stop first (pessimistic: when a
   bar touches both stop and target we assume the stop came first), then take-profit.
   A stop fills at its level, or at the open when the bar gapped through it. The trailing
   level follows the best price up to the previous bar (and the entry price), so a bar's
   own high never tightens the stop that same bar uses.
3. Pyramiding: if the position is still open and the bar reaches the next tranche level
   ``first_entry ± i·k·ATR(entry bar - 1)``, add ``pyramid_fraction`` of equity at that
   level (or the open if gapped). One tranche per bar. After an add the stop is raised to
   the position's average entry (break-even) when ``breakeven_after_add`` is set.
4. Close: equity = cash + Σ position × close. Equity ≤ 0 liquidates everything at the
   close and stops trading (status RUINED).

After a stop or take-profit exit the symbol does not re-enter in the same direction until
its signal changes: a stop would otherwise be undone at the next open.

Kernels take arrays and scalars only: configuration is a float64 vector indexed by the
``CFG_*`` constants, trades are rows of a float64 matrix indexed by the ``TR_*`` constants.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
from numba import njit

from tools.costs import (
    COMMISSION_PER_SHARE,
    COMMISSION_PERCENT,
    commission_kernel,
    slipped_price,
)

FloatArray = npt.NDArray[np.float64]
SignalArray = npt.NDArray[np.int8]

# Configuration vector layout.
CFG_CASH = 0
CFG_SIZE_FRACTION = 1
CFG_ALLOW_SHORT = 2
CFG_COMM_KIND = 3
CFG_COMM_RATE = 4
CFG_COMM_MIN = 5
CFG_COMM_MAX_PCT = 6
CFG_SLIPPAGE_BPS = 7
CFG_STOP_LOSS = 8
CFG_TAKE_PROFIT = 9
CFG_TRAILING_STOP = 10
CFG_PYR_LEVELS = 11
CFG_PYR_ATR_K = 12
CFG_PYR_FRACTION = 13
CFG_BREAKEVEN = 14
N_CFG = 15

# Trade record columns.
TR_SYMBOL = 0
TR_SIDE = 1
TR_ENTRY_BAR = 2
TR_ENTRY_PRICE = 3  # average entry fill (after slippage) over all tranches
TR_EXIT_BAR = 4
TR_EXIT_PRICE = 5  # exit fill after slippage; last close for a trade still open
TR_SIZE = 6  # shares at exit (all tranches)
TR_FEES = 7  # entry + exit commission
TR_PNL = 8  # net of fees
TR_RETURN = 9  # pnl / (entry price × size), a fraction
TR_EXIT_REASON = 10
TR_TRANCHES = 11
N_TR = 12

EXIT_SIGNAL = 0
EXIT_STOP_LOSS = 1
EXIT_TAKE_PROFIT = 2
EXIT_TRAILING_STOP = 3
EXIT_OPEN_AT_END = 4  # not closed: marked at the last close, no exit commission
EXIT_RUIN = 5

STATUS_OK = 0
STATUS_RUINED = 1


@njit(cache=True)
def entry_shares(
    budget: float, fill: float, kind: int, rate: float, minimum: float, max_pct: float
) -> float:
    """Whole shares whose cost *including commission* fits in ``budget`` (0 if none)."""
    if not (budget > 0.0) or not (fill > 0.0):
        return 0.0
    if kind == COMMISSION_PERCENT:
        # Same expression as vectorbt's buy_nb so integer floors agree exactly.
        shares = np.floor(budget / (1.0 + rate) / fill)
    elif kind == COMMISSION_PER_SHARE:
        shares = np.floor(budget / (fill + rate))
    else:
        shares = np.floor(budget / fill)
    # A minimum commission can push the cost over budget: step down (a few shares at most).
    for _ in range(1000):
        if shares <= 0.0:
            return 0.0
        cost = shares * fill + commission_kernel(kind, shares, fill, rate, minimum, max_pct)
        if cost <= budget * (1.0 + 1e-12):
            return float(shares)
        if kind != COMMISSION_PERCENT and minimum > 0.0:
            shares = min(shares - 1.0, np.floor((budget - minimum) / fill))
        else:
            shares -= 1.0
    return 0.0


@njit(cache=True)
def _record(
    trades: FloatArray,
    n: int,
    record: bool,
    symbol: int,
    side: float,
    entry_bar: int,
    cost_basis: float,
    exit_bar: int,
    exit_price: float,
    size: float,
    fees: float,
    reason: int,
    tranches: float,
) -> float:
    """Write one closed (or still open) trade; return its net pnl."""
    avg = cost_basis / size
    pnl = side * (exit_price - avg) * size - fees
    if record:
        trades[n, TR_SYMBOL] = symbol
        trades[n, TR_SIDE] = side
        trades[n, TR_ENTRY_BAR] = entry_bar
        trades[n, TR_ENTRY_PRICE] = avg
        trades[n, TR_EXIT_BAR] = exit_bar
        trades[n, TR_EXIT_PRICE] = exit_price
        trades[n, TR_SIZE] = size
        trades[n, TR_FEES] = fees
        trades[n, TR_PNL] = pnl
        trades[n, TR_RETURN] = pnl / cost_basis
        trades[n, TR_EXIT_REASON] = reason
        trades[n, TR_TRANCHES] = tranches
    return pnl


@njit(cache=True)
def simulate(
    open_: FloatArray,
    high: FloatArray,
    low: FloatArray,
    close: FloatArray,
    signal: SignalArray,
    atr: FloatArray,
    cfg: FloatArray,
    equity_out: FloatArray,
    exposure_out: FloatArray,
    trades: FloatArray,
    record: bool,
) -> tuple[int, int, int]:
    """Run one portfolio. Returns ``(n_trades, n_winning_trades, status)``.

    ``open_, high, low, close, atr``: float64[S, T]; ``signal``: int8[S, T] in {-1, 0, 1}.
    ``equity_out``: float64[T], equity at each close. ``exposure_out``: float64[T], gross
    position value / equity at each close. ``trades``: float64[≥ S·T, N_TR] when ``record``.
    """
    n_sym, n_bar = close.shape
    cash = cfg[CFG_CASH]
    fraction = cfg[CFG_SIZE_FRACTION]
    allow_short = cfg[CFG_ALLOW_SHORT] != 0.0
    kind = int(cfg[CFG_COMM_KIND])
    rate = cfg[CFG_COMM_RATE]
    cmin = cfg[CFG_COMM_MIN]
    cmax = cfg[CFG_COMM_MAX_PCT]
    bps = cfg[CFG_SLIPPAGE_BPS]
    sl = cfg[CFG_STOP_LOSS]
    tp = cfg[CFG_TAKE_PROFIT]
    trail = cfg[CFG_TRAILING_STOP]
    pyr_levels = int(cfg[CFG_PYR_LEVELS])
    pyr_k = cfg[CFG_PYR_ATR_K]
    pyr_fraction = cfg[CFG_PYR_FRACTION]
    breakeven = cfg[CFG_BREAKEVEN] != 0.0

    pos = np.zeros(n_sym)  # signed shares
    basis = np.zeros(n_sym)  # Σ shares × fill over tranches (for the average entry)
    fees = np.zeros(n_sym)  # entry commission so far
    entry_bar = np.zeros(n_sym, dtype=np.int64)
    first_fill = np.zeros(n_sym)
    atr_entry = np.zeros(n_sym)
    tranches = np.zeros(n_sym)
    extreme = np.zeros(n_sym)  # best price since entry, through the previous bar
    floor_stop = np.zeros(n_sym)  # break-even stop level, 0 when unset
    blocked = np.zeros(n_sym, dtype=np.int64)  # direction barred until the signal changes

    n_trades = 0
    n_wins = 0
    status = STATUS_OK

    for t in range(n_bar):
        if status == STATUS_RUINED:
            equity_out[t] = equity_out[t - 1]
            exposure_out[t] = 0.0
            continue
        # 1. Open: exits first (to free cash), then entries.
        if t > 0:
            for s in range(n_sym):
                target = int(signal[s, t - 1])
                if target < 0 and not allow_short:
                    target = 0
                if blocked[s] != 0 and target != blocked[s]:
                    blocked[s] = 0
                side = 1 if pos[s] > 0 else (-1 if pos[s] < 0 else 0)
                if side != 0 and side != target:  # noqa: PLR1714 (numba)
                    size = abs(pos[s])
                    px = slipped_price(open_[s, t], -side, bps)
                    fee = commission_kernel(kind, size, px, rate, cmin, cmax)
                    cash += pos[s] * px - fee
                    pnl = _record(
                        trades, n_trades, record, s, side, entry_bar[s], basis[s], t, px,
                        size, fees[s] + fee, EXIT_SIGNAL, tranches[s],
                    )  # fmt: skip
                    n_trades += 1
                    n_wins += pnl > 0.0
                    pos[s] = 0.0
            equity_open = cash
            for s in range(n_sym):
                equity_open += pos[s] * open_[s, t]
            for s in range(n_sym):
                target = int(signal[s, t - 1])
                if target < 0 and not allow_short:
                    target = 0
                if target == 0 or pos[s] != 0.0 or blocked[s] == target:
                    continue
                px = slipped_price(open_[s, t], target, bps)
                budget = fraction * equity_open
                if target > 0:
                    budget = min(budget, cash)
                size = entry_shares(budget, px, kind, rate, cmin, cmax)
                if size <= 0.0:
                    continue
                fee = commission_kernel(kind, size, px, rate, cmin, cmax)
                cash -= target * size * px + fee
                pos[s] = target * size
                basis[s] = size * px
                fees[s] = fee
                entry_bar[s] = t
                first_fill[s] = px
                atr_entry[s] = atr[s, t - 1]
                tranches[s] = 1.0
                extreme[s] = px
                floor_stop[s] = 0.0
        else:
            equity_open = cash

        # 2-3. Intrabar stops, targets and pyramiding.
        for s in range(n_sym):
            if pos[s] == 0.0:
                continue
            side = 1 if pos[s] > 0 else -1
            size = abs(pos[s])
            avg = basis[s] / size
            o = open_[s, t]
            exit_px = 0.0
            reason = -1
            if side > 0:
                stop = 0.0
                if sl > 0.0:
                    stop = avg * (1.0 - sl)
                    reason = EXIT_STOP_LOSS
                if floor_stop[s] > stop:
                    stop = floor_stop[s]
                    reason = EXIT_STOP_LOSS
                if trail > 0.0 and extreme[s] * (1.0 - trail) > stop:
                    stop = extreme[s] * (1.0 - trail)
                    reason = EXIT_TRAILING_STOP
                if reason >= 0 and o <= stop and entry_bar[s] < t:
                    exit_px = o
                elif reason >= 0 and low[s, t] <= stop:
                    exit_px = min(stop, o)
                else:
                    reason = -1
                    if tp > 0.0:
                        target_px = avg * (1.0 + tp)
                        if o >= target_px and entry_bar[s] < t:
                            exit_px, reason = o, EXIT_TAKE_PROFIT
                        elif high[s, t] >= target_px:
                            exit_px, reason = max(target_px, o), EXIT_TAKE_PROFIT
            else:
                stop = np.inf
                if sl > 0.0:
                    stop = avg * (1.0 + sl)
                    reason = EXIT_STOP_LOSS
                if floor_stop[s] > 0.0 and floor_stop[s] < stop:
                    stop = floor_stop[s]
                    reason = EXIT_STOP_LOSS
                if trail > 0.0 and extreme[s] * (1.0 + trail) < stop:
                    stop = extreme[s] * (1.0 + trail)
                    reason = EXIT_TRAILING_STOP
                if reason >= 0 and o >= stop and entry_bar[s] < t:
                    exit_px = o
                elif reason >= 0 and high[s, t] >= stop:
                    exit_px = max(stop, o)
                else:
                    reason = -1
                    if tp > 0.0:
                        target_px = avg * (1.0 - tp)
                        if o <= target_px and entry_bar[s] < t:
                            exit_px, reason = o, EXIT_TAKE_PROFIT
                        elif low[s, t] <= target_px:
                            exit_px, reason = min(target_px, o), EXIT_TAKE_PROFIT
            if reason >= 0:
                px = slipped_price(exit_px, -side, bps)
                fee = commission_kernel(kind, size, px, rate, cmin, cmax)
                cash += pos[s] * px - fee
                pnl = _record(
                    trades, n_trades, record, s, side, entry_bar[s], basis[s], t, px, size,
                    fees[s] + fee, reason, tranches[s],
                )  # fmt: skip
                n_trades += 1
                n_wins += pnl > 0.0
                pos[s] = 0.0
                blocked[s] = side
                continue
            # Pyramiding: add the next tranche when the bar reaches its level.
            if pyr_levels > 0 and tranches[s] <= pyr_levels and atr_entry[s] > 0.0:
                level = first_fill[s] + side * tranches[s] * pyr_k * atr_entry[s]
                add_px = 0.0
                if side > 0 and high[s, t] >= level:
                    add_px = o if (o >= level and entry_bar[s] < t) else level
                elif side < 0 and low[s, t] <= level:
                    add_px = o if (o <= level and entry_bar[s] < t) else level
                if add_px > 0.0:
                    px = slipped_price(add_px, side, bps)
                    budget = pyr_fraction * equity_open
                    if side > 0:
                        budget = min(budget, cash)
                    add = entry_shares(budget, px, kind, rate, cmin, cmax)
                    if add > 0.0:
                        fee = commission_kernel(kind, add, px, rate, cmin, cmax)
                        cash -= side * add * px + fee
                        pos[s] += side * add
                        basis[s] += add * px
                        fees[s] += fee
                        tranches[s] += 1.0
                        if breakeven:
                            floor_stop[s] = basis[s] / (size + add)
            # The trailing reference moves only after the bar is done.
            if side > 0:
                extreme[s] = max(extreme[s], high[s, t])
            else:
                extreme[s] = min(extreme[s], low[s, t])

        # 4. Close: mark to market.
        equity = cash
        gross = 0.0
        for s in range(n_sym):
            equity += pos[s] * close[s, t]
            gross += abs(pos[s]) * close[s, t]
        if equity <= 0.0:
            for s in range(n_sym):
                if pos[s] == 0.0:
                    continue
                side = 1 if pos[s] > 0 else -1
                size = abs(pos[s])
                px = slipped_price(close[s, t], -side, bps)
                fee = commission_kernel(kind, size, px, rate, cmin, cmax)
                cash += pos[s] * px - fee
                _record(
                    trades, n_trades, record, s, side, entry_bar[s], basis[s], t, px, size,
                    fees[s] + fee, EXIT_RUIN, tranches[s],
                )  # fmt: skip
                n_trades += 1
                pos[s] = 0.0
            equity = cash
            gross = 0.0
            status = STATUS_RUINED
        equity_out[t] = equity
        exposure_out[t] = gross / equity if equity > 0.0 else 0.0

    # Positions still open: report them marked at the last close, without exit commission.
    for s in range(n_sym):
        if pos[s] == 0.0:
            continue
        side = 1 if pos[s] > 0 else -1
        pnl = _record(
            trades, n_trades, record, s, side, entry_bar[s], basis[s], n_bar - 1,
            close[s, n_bar - 1], abs(pos[s]), fees[s], EXIT_OPEN_AT_END, tranches[s],
        )  # fmt: skip
        n_trades += 1
        n_wins += pnl > 0.0
    return n_trades, n_wins, status


def make_config(
    *,
    cash: float,
    size_fraction: float,
    allow_short: bool,
    commission_kind: int,
    commission_rate: float,
    commission_min: float,
    commission_max_pct: float,
    slippage_bps: float,
    stop_loss: float,
    take_profit: float,
    trailing_stop: float,
    pyramid_levels: int,
    pyramid_atr_k: float,
    pyramid_fraction: float,
    breakeven_after_add: bool,
) -> FloatArray:
    """The ``CFG_*`` vector from named values (the typed wrapper validates them first)."""
    cfg = np.zeros(N_CFG)
    cfg[CFG_CASH] = cash
    cfg[CFG_SIZE_FRACTION] = size_fraction
    cfg[CFG_ALLOW_SHORT] = float(allow_short)
    cfg[CFG_COMM_KIND] = commission_kind
    cfg[CFG_COMM_RATE] = commission_rate
    cfg[CFG_COMM_MIN] = commission_min
    cfg[CFG_COMM_MAX_PCT] = commission_max_pct
    cfg[CFG_SLIPPAGE_BPS] = slippage_bps
    cfg[CFG_STOP_LOSS] = stop_loss
    cfg[CFG_TAKE_PROFIT] = take_profit
    cfg[CFG_TRAILING_STOP] = trailing_stop
    cfg[CFG_PYR_LEVELS] = pyramid_levels
    cfg[CFG_PYR_ATR_K] = pyramid_atr_k
    cfg[CFG_PYR_FRACTION] = pyramid_fraction
    cfg[CFG_BREAKEVEN] = float(breakeven_after_add)
    return cfg
