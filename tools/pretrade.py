"""The pre-trade check: every order intent passes here before it may reach a broker.

``pretrade_check`` is the Numba kernel (arrays and scalars in, one ``Verdict`` code per
order out); ``check_orders`` is the typed wrapper the risk desk calls with a
``Portfolio`` and ``OrderIntent``s and gets ``Denial``s back.

Rules, checked in the order of ``core.risk.Verdict``; an order gets OK or the FIRST rule
it breaks:

1. TRADING_HALTED — the state is HALTED: every order is refused.
2. MAX_DRAWDOWN_BREACHED — (peak - equity) / peak >= max_drawdown (or equity <= 0):
   every order is refused and the returned state is HALTED (the kill switch).
3. DAILY_LOSS_LIMIT — (day start - equity) / day start >= daily_loss_limit: orders that
   grow exposure are refused; reductions still pass so losses can be cut.
4. REDUCING_ONLY — the state is REDUCING and the order grows exposure.
5. INVALID_QUANTITY — a zero quantity.
6. FAT_FINGER_PRICE — |price / last - 1| > fat_finger_band, or no valid last price or
   order price (non-finite or <= 0, unknown symbol id).
7. NOTIONAL_CAP_EXCEEDED — |quantity| * price > max_order_notional.
8. POSITION_CAP_EXCEEDED — growing order whose resulting |position value| exceeds
   max_position_weight * resulting equity.
9. MAX_OPEN_POSITIONS — a growing order opening a new position when max_open_positions
   are already open.
10. GROSS_EXPOSURE_EXCEEDED — growing order whose resulting gross exposure exceeds
    max_gross_exposure * resulting equity.

"Grows exposure" means the resulting |position| is larger, or the order flips the sign
(closing a long and opening a short is an entry). Everything else is a reduction (or a
no-op). Rules 1–2 and 5–7 apply to every order; 3, 4 and 8–10 only to growing orders, so
an oversized position can always be cut.

Orders are checked in sequence against a simulated portfolio: an approved order is
applied as ``core.portfolio.apply_fill`` would apply it (filled at its price, the symbol
then marked at that price; commissions ignored), so two orders that together break a cap
are caught. The circuit breakers (rules 2–3) are evaluated once, on the real state at the
start of the batch. Denied orders change nothing.

Trading state codes for the kernel: ACTIVE = 0, REDUCING = 1, HALTED = 2 (see
``TRADING_STATE_CODES``); any other code is treated as HALTED (fail safe).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import NamedTuple

import numpy as np
from numba import njit
from numpy.typing import NDArray

from core.orders import OrderIntent
from core.portfolio import Portfolio
from core.risk import VERDICT_CODES, Denial, DenialCode, RiskLimits, TradingState, Verdict

STATE_ACTIVE = 0
STATE_REDUCING = 1
STATE_HALTED = 2

TRADING_STATE_CODES: dict[TradingState, int] = {
    TradingState.ACTIVE: STATE_ACTIVE,
    TradingState.REDUCING: STATE_REDUCING,
    TradingState.HALTED: STATE_HALTED,
}
TRADING_STATES_BY_CODE: dict[int, TradingState] = {v: k for k, v in TRADING_STATE_CODES.items()}

# Plain ints: kernels read module globals as compile-time constants.
_OK = int(Verdict.OK)
_HALTED = int(Verdict.TRADING_HALTED)
_DRAWDOWN = int(Verdict.MAX_DRAWDOWN_BREACHED)
_DAILY_LOSS = int(Verdict.DAILY_LOSS_LIMIT)
_REDUCING = int(Verdict.REDUCING_ONLY)
_QUANTITY = int(Verdict.INVALID_QUANTITY)
_FAT_FINGER = int(Verdict.FAT_FINGER_PRICE)
_NOTIONAL = int(Verdict.NOTIONAL_CAP_EXCEEDED)
_POSITION_CAP = int(Verdict.POSITION_CAP_EXCEEDED)
_OPEN_POSITIONS = int(Verdict.MAX_OPEN_POSITIONS)
_GROSS = int(Verdict.GROSS_EXPOSURE_EXCEEDED)


@njit(cache=True)
def _ratio(value: float, equity: float) -> float:
    return value / equity if equity > 0.0 else np.inf


@njit(cache=True)
def pretrade_check(
    equity: float,
    peak_equity: float,
    day_start_equity: float,
    positions: NDArray[np.int64],
    last_prices: NDArray[np.float64],
    open_positions: int,
    gross_exposure: float,
    order_symbols: NDArray[np.int64],
    order_quantities: NDArray[np.int64],
    order_prices: NDArray[np.float64],
    trading_state: int,
    max_drawdown: float,
    daily_loss_limit: float,
    max_position_weight: float,
    max_gross_exposure: float,
    max_open_positions: int,
    fat_finger_band: float,
    max_order_notional: float,
) -> tuple[NDArray[np.int8], NDArray[np.float64], int]:
    """Verdict per order, the figure that broke the rule, and the trading state after.

    ``positions`` (signed shares) and ``last_prices`` are indexed by symbol id;
    ``equity`` must equal cash + sum(positions * last_prices) and ``gross_exposure``
    sum(|positions| * last_prices). Order quantities are signed (sell < 0), prices are
    limit or reference prices. The measured figure is NaN for OK orders and otherwise,
    by rule: drawdown, daily loss fraction, resulting position, quantity, |price/last - 1|,
    notional, position weight, open positions, gross exposure / equity.
    """
    n_orders = order_symbols.shape[0]
    n_symbols = positions.shape[0]
    # Numba does not bounds-check: mismatched lengths would read past the arrays.
    if last_prices.shape[0] != n_symbols:
        raise ValueError("pretrade_check: positions and last_prices differ in length")
    if order_quantities.shape[0] != n_orders or order_prices.shape[0] != n_orders:
        raise ValueError("pretrade_check: order symbols, quantities and prices differ in length")
    verdicts = np.zeros(n_orders, dtype=np.int8)
    measures = np.full(n_orders, np.nan)

    state = trading_state
    if state != STATE_ACTIVE and state != STATE_REDUCING:  # noqa: PLR1714
        state = STATE_HALTED
    peak = max(peak_equity, equity)
    drawdown = 1.0 if equity <= 0.0 else (peak - equity) / peak
    drawdown_breached = drawdown >= max_drawdown
    daily_loss = 0.0
    if day_start_equity > 0.0:
        daily_loss = (day_start_equity - equity) / day_start_equity
    daily_breached = day_start_equity > 0.0 and daily_loss >= daily_loss_limit
    new_state = STATE_HALTED if drawdown_breached else state

    # The simulated portfolio that approved orders update.
    held = positions.copy()
    marks = last_prices.copy()
    sim_equity = equity
    sim_gross = gross_exposure
    sim_open = open_positions

    for i in range(n_orders):
        if state == STATE_HALTED:
            verdicts[i] = _HALTED
            continue
        if drawdown_breached:
            verdicts[i] = _DRAWDOWN
            measures[i] = drawdown
            continue
        sym = order_symbols[i]
        qty = order_quantities[i]
        price = order_prices[i]
        known = 0 <= sym < n_symbols
        old = held[sym] if known else 0
        new = old + qty
        grows = abs(new) > abs(old) or (old > 0 > new) or (old < 0 < new)
        if grows and daily_breached:
            verdicts[i] = _DAILY_LOSS
            measures[i] = daily_loss
            continue
        if grows and state == STATE_REDUCING:
            verdicts[i] = _REDUCING
            measures[i] = new
            continue
        if qty == 0:
            verdicts[i] = _QUANTITY
            measures[i] = qty
            continue
        last = last_prices[sym] if known else np.nan
        if not (last > 0.0 and math.isfinite(last) and price > 0.0 and math.isfinite(price)):
            verdicts[i] = _FAT_FINGER
            continue
        deviation = abs(price / last - 1.0)
        if deviation > fat_finger_band:
            verdicts[i] = _FAT_FINGER
            measures[i] = deviation
            continue
        notional = abs(qty) * price
        if notional > max_order_notional:
            verdicts[i] = _NOTIONAL
            measures[i] = notional
            continue
        # The portfolio after the fill: the symbol is re-marked at the fill price.
        mark = marks[sym]
        held_value_change = old * (price - mark) if old != 0 else 0.0
        next_equity = sim_equity + held_value_change
        old_abs_value = abs(old) * mark if old != 0 else 0.0
        next_gross = sim_gross - old_abs_value + abs(new) * price
        if grows:
            position_value = abs(new) * price
            if position_value > max_position_weight * next_equity:
                verdicts[i] = _POSITION_CAP
                measures[i] = _ratio(position_value, next_equity)
                continue
            if old == 0 and sim_open >= max_open_positions:
                verdicts[i] = _OPEN_POSITIONS
                measures[i] = sim_open
                continue
            if next_gross > max_gross_exposure * next_equity:
                verdicts[i] = _GROSS
                measures[i] = _ratio(next_gross, next_equity)
                continue
        held[sym] = new
        marks[sym] = price
        sim_equity = next_equity
        sim_gross = next_gross
        if old == 0:
            sim_open += 1
        elif new == 0:
            sim_open -= 1
    return verdicts, measures, new_state


class PretradeOutcome(NamedTuple):
    """One entry per intent (``None`` = approved) and the trading state after the batch."""

    denials: list[Denial | None]
    state: TradingState

    @property
    def approved(self) -> list[bool]:
        return [d is None for d in self.denials]


def _order_price(limit: float | None, reference: float | None, stop: float | None) -> float:
    for candidate in (limit, reference, stop):
        if candidate is not None:
            return candidate
    return math.nan


def check_orders(
    portfolio: Portfolio,
    intents: Sequence[OrderIntent],
    prices: Mapping[str, float],
    limits: RiskLimits,
    state: TradingState,
) -> PretradeOutcome:
    """Check ``intents`` in order against ``portfolio`` marked at ``prices`` (last prices).

    An intent is priced at its limit price, else its reference price, else its stop
    price, else the last price (a market order). A symbol with no last price (not in
    ``prices`` and no marked position) is denied ``UNKNOWN_SYMBOL`` where the kernel says
    FAT_FINGER_PRICE.
    """
    marked = portfolio.mark({s: p for s, p in prices.items() if s in portfolio.positions})
    symbols = sorted(set(marked.positions) | {intent.symbol for intent in intents})
    index = {symbol: k for k, symbol in enumerate(symbols)}
    last = np.full(len(symbols), np.nan)
    held = np.zeros(len(symbols), dtype=np.int64)
    for symbol, k in index.items():
        position = marked.positions.get(symbol)
        if symbol in prices:
            last[k] = float(prices[symbol])
        elif position is not None and position.last_price > 0:
            last[k] = position.last_price
        held[k] = 0 if position is None else position.quantity
    order_symbols = np.array([index[i.symbol] for i in intents], dtype=np.int64)
    order_quantities = np.array([i.side.sign * i.quantity for i in intents], dtype=np.int64)
    order_prices = np.array(
        [_order_price(i.limit_price, i.reference_price, i.stop_price) for i in intents],
        dtype=np.float64,
    )
    market = np.isnan(order_prices)
    order_prices[market] = last[order_symbols[market]]

    verdicts, measures, state_code = pretrade_check(
        marked.equity,
        marked.peak_equity,
        marked.day_start_equity,
        held,
        last,
        len(marked.open_positions),
        marked.gross_exposure,
        order_symbols,
        order_quantities,
        order_prices,
        TRADING_STATE_CODES[state],
        limits.max_drawdown,
        limits.daily_loss_limit,
        limits.max_position_weight,
        limits.max_gross_exposure,
        limits.max_open_positions,
        limits.fat_finger_band,
        limits.max_order_notional,
    )
    denials: list[Denial | None] = []
    for k, intent in enumerate(intents):
        verdict = Verdict(int(verdicts[k]))
        if verdict is Verdict.OK:
            denials.append(None)
            continue
        denials.append(
            _denial(
                verdict,
                intent,
                float(measures[k]),
                float(order_prices[k]),
                float(last[order_symbols[k]]),
                limits,
                state,
            )
        )
    return PretradeOutcome(denials, TRADING_STATES_BY_CODE[int(state_code)])


def _denial(
    verdict: Verdict,
    intent: OrderIntent,
    measure: float,
    price: float,
    last: float,
    limits: RiskLimits,
    state: TradingState,
) -> Denial:
    """The kernel's code and figure as a ``Denial`` with readable key=value context."""
    context: dict[str, str | int | float] = {
        "symbol": intent.symbol,
        "side": intent.side.value,
        "quantity": intent.quantity,
    }
    code = VERDICT_CODES[verdict]
    assert code is not None  # only OK maps to None
    if verdict is Verdict.TRADING_HALTED:
        context["state"] = state.value
    elif verdict is Verdict.MAX_DRAWDOWN_BREACHED:
        context |= {"drawdown": measure, "limit": limits.max_drawdown}
    elif verdict is Verdict.DAILY_LOSS_LIMIT:
        context |= {"daily_loss": measure, "limit": limits.daily_loss_limit}
    elif verdict is Verdict.REDUCING_ONLY:
        context |= {"state": state.value, "resulting_position": int(measure)}
    elif verdict is Verdict.FAT_FINGER_PRICE:
        if not math.isfinite(last) or last <= 0:
            code = DenialCode.UNKNOWN_SYMBOL
            context["reason"] = "no_last_price"
        else:
            context |= {"price": price, "last": last, "band": limits.fat_finger_band}
            if math.isfinite(measure):
                context["deviation"] = measure
    elif verdict is Verdict.NOTIONAL_CAP_EXCEEDED:
        context |= {"notional": measure, "limit": limits.max_order_notional}
    elif verdict is Verdict.POSITION_CAP_EXCEEDED:
        context |= {"weight": measure, "limit": limits.max_position_weight}
    elif verdict is Verdict.MAX_OPEN_POSITIONS:
        context |= {"open_positions": int(measure), "limit": limits.max_open_positions}
    elif verdict is Verdict.GROSS_EXPOSURE_EXCEEDED:
        context |= {"gross": measure, "limit": limits.max_gross_exposure}
    return Denial(code=code, context=context)
