"""Pre-trade check throughput: the Numba kernel on 100,000 orders against a plain-Python
implementation of the same rules (lists and floats, no NumPy) measured in the same run.

Target: >= 1,000,000 checks/s for the kernel. The two implementations must agree on
every verdict before anything is timed. The typed wrapper (``check_orders``: pydantic
intents in, ``Denial`` objects out) is timed too, on 10,000 intents, to show where the
time goes at the boundary.
"""

from __future__ import annotations

import os

import numpy as np

from benchmarks._timing import best_of, section
from core.orders import OrderIntent, OrderSide, OrderType
from core.portfolio import Portfolio, Position
from core.risk import RiskLimits, TradingState, Verdict
from tools.pretrade import STATE_ACTIVE, STATE_HALTED, STATE_REDUCING, check_orders, pretrade_check

N_ORDERS = 100_000
N_WRAPPER = 10_000
N_SYMBOLS = 500
TARGET = 1_000_000.0
LIMITS = RiskLimits(
    max_position_weight=0.10,
    max_open_positions=50,
    max_gross_exposure=1.5,
    max_order_notional=200_000.0,
)
ACTIVE_SYMBOLS = 60  # orders concentrate on a watch list, so positions open and close


def reference_check(
    equity: float,
    peak_equity: float,
    day_start_equity: float,
    positions: list[int],
    last_prices: list[float],
    open_positions: int,
    gross_exposure: float,
    order_symbols: list[int],
    order_quantities: list[int],
    order_prices: list[float],
    state: int,
    limits: RiskLimits,
) -> list[int]:
    """The rules of ``tools.pretrade`` written as plain Python, for comparison."""
    if state not in (STATE_ACTIVE, STATE_REDUCING):
        state = STATE_HALTED
    peak = max(peak_equity, equity)
    drawdown = 1.0 if equity <= 0 else (peak - equity) / peak
    daily_loss = (day_start_equity - equity) / day_start_equity if day_start_equity > 0 else 0.0
    daily_breached = day_start_equity > 0 and daily_loss >= limits.daily_loss_limit
    held = list(positions)
    marks = list(last_prices)
    out = []
    for sym, qty, price in zip(order_symbols, order_quantities, order_prices, strict=True):
        if state == STATE_HALTED:
            out.append(Verdict.TRADING_HALTED)
            continue
        if drawdown >= limits.max_drawdown:
            out.append(Verdict.MAX_DRAWDOWN_BREACHED)
            continue
        old = held[sym]
        new = old + qty
        grows = abs(new) > abs(old) or old * new < 0
        if grows and daily_breached:
            out.append(Verdict.DAILY_LOSS_LIMIT)
            continue
        if grows and state == STATE_REDUCING:
            out.append(Verdict.REDUCING_ONLY)
            continue
        if qty == 0:
            out.append(Verdict.INVALID_QUANTITY)
            continue
        last = last_prices[sym]
        if not (last > 0 and price > 0) or abs(price / last - 1) > limits.fat_finger_band:
            out.append(Verdict.FAT_FINGER_PRICE)
            continue
        if abs(qty) * price > limits.max_order_notional:
            out.append(Verdict.NOTIONAL_CAP_EXCEEDED)
            continue
        next_equity = equity + (old * (price - marks[sym]) if old else 0.0)
        next_gross = gross_exposure - (abs(old) * marks[sym] if old else 0.0) + abs(new) * price
        if grows:
            if abs(new) * price > limits.max_position_weight * next_equity:
                out.append(Verdict.POSITION_CAP_EXCEEDED)
                continue
            if old == 0 and open_positions >= limits.max_open_positions:
                out.append(Verdict.MAX_OPEN_POSITIONS)
                continue
            if next_gross > limits.max_gross_exposure * next_equity:
                out.append(Verdict.GROSS_EXPOSURE_EXCEEDED)
                continue
        held[sym] = new
        marks[sym] = price
        equity = next_equity
        gross_exposure = next_gross
        if old == 0:
            open_positions += 1
        elif new == 0:
            open_positions -= 1
        out.append(Verdict.OK)
    return [int(v) for v in out]


def _scenario(n_orders: int) -> dict[str, np.ndarray | float | int]:
    rng = np.random.default_rng(20260101)
    last = rng.uniform(5.0, 500.0, N_SYMBOLS)
    held = np.zeros(N_SYMBOLS, dtype=np.int64)
    holders = rng.choice(ACTIVE_SYMBOLS, 30, replace=False)
    held[holders] = rng.integers(-400, 1200, 30)
    cash = 2_000_000.0
    equity = cash + float(held @ last)
    symbols = rng.integers(0, ACTIVE_SYMBOLS, n_orders)
    quantities = rng.integers(-300, 301, n_orders)
    fat = rng.random(n_orders) < 0.02  # a few oversized orders
    quantities[fat] *= 20
    prices = last[symbols] * (1.0 + rng.normal(0.0, 0.03, n_orders))  # ~10 % fat fingers
    return {
        "equity": equity,
        "peak": equity * 1.01,
        "day_start": equity * 1.005,
        "held": held,
        "last": last,
        "open": int(np.count_nonzero(held)),
        "gross": float(np.abs(held) @ last),
        "symbols": symbols.astype(np.int64),
        "quantities": quantities.astype(np.int64),
        "prices": prices,
        "cash": cash,
    }


def _kernel(s: dict[str, np.ndarray | float | int]) -> np.ndarray:
    verdicts, _m, _state = pretrade_check(
        s["equity"], s["peak"], s["day_start"], s["held"], s["last"], s["open"], s["gross"],
        s["symbols"], s["quantities"], s["prices"], STATE_ACTIVE,
        LIMITS.max_drawdown, LIMITS.daily_loss_limit, LIMITS.max_position_weight,
        LIMITS.max_gross_exposure, LIMITS.max_open_positions, LIMITS.fat_finger_band,
        LIMITS.max_order_notional,
    )  # fmt: skip
    return np.asarray(verdicts)


def _reference(s: dict[str, np.ndarray | float | int], lists: dict[str, list]) -> list[int]:  # type: ignore[type-arg]
    return reference_check(
        float(s["equity"]), float(s["peak"]), float(s["day_start"]), lists["held"],
        lists["last"], int(s["open"]), float(s["gross"]), lists["symbols"],
        lists["quantities"], lists["prices"], STATE_ACTIVE, LIMITS,
    )  # fmt: skip


def _wrapper_inputs(
    s: dict[str, np.ndarray | float | int], n: int
) -> tuple[Portfolio, list[OrderIntent], dict[str, float]]:
    names = [f"S{k:03d}" for k in range(N_SYMBOLS)]
    last = np.asarray(s["last"])
    held = np.asarray(s["held"])
    positions = {
        names[k]: Position(symbol=names[k], quantity=int(q), avg_price=last[k], last_price=last[k])
        for k, q in enumerate(held)
        if q != 0
    }
    pf = Portfolio(cash=float(s["cash"]), positions=positions)
    pf = pf.model_copy(update={"peak_equity": s["peak"], "day_start_equity": s["day_start"]})
    intents = []
    for sym, qty, price in zip(
        np.asarray(s["symbols"])[:n],
        np.asarray(s["quantities"])[:n],
        np.asarray(s["prices"])[:n],
        strict=True,
    ):
        side = OrderSide.BUY if qty > 0 else OrderSide.SELL
        intents.append(
            OrderIntent(
                symbol=names[sym],
                side=side,
                quantity=max(abs(int(qty)), 1),
                order_type=OrderType.LIMIT,
                limit_price=float(price),
            )
        )
    return pf, intents, {names[k]: float(last[k]) for k in range(N_SYMBOLS)}


def run() -> str:
    s = _scenario(N_ORDERS)
    lists = {
        k: np.asarray(s[k]).tolist() for k in ("held", "last", "symbols", "quantities", "prices")
    }
    kernel_verdicts = _kernel(s)  # compile (or load the cache) before timing
    reference_verdicts = _reference(s, lists)
    mismatches = int(np.count_nonzero(kernel_verdicts != np.asarray(reference_verdicts)))
    if mismatches:
        raise AssertionError(f"kernel and reference disagree on {mismatches} verdicts")
    counts = np.bincount(kernel_verdicts, minlength=len(Verdict))
    mix = ", ".join(f"{Verdict(k).name} {c}" for k, c in enumerate(counts) if c)

    t_kernel = best_of(lambda: _kernel(s), repeat=7)
    t_reference = best_of(lambda: _reference(s, lists), repeat=3)
    pf, intents, prices = _wrapper_inputs(s, N_WRAPPER)
    t_wrapper = best_of(
        lambda: check_orders(pf, intents, prices, LIMITS, TradingState.ACTIVE), repeat=3
    )

    kernel_rate = N_ORDERS / t_kernel
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    rows = [
        ("Numba kernel `pretrade_check`", N_ORDERS, t_kernel),
        ("plain-Python reference (same rules)", N_ORDERS, t_reference),
        ("typed wrapper `check_orders` (pydantic in/out)", N_WRAPPER, t_wrapper),
    ]
    table = "\n".join(f"| {name} | {n:,} | {t * 1e3:.2f} | {n / t:,.0f} |" for name, n, t in rows)
    verdict = "met" if kernel_rate >= TARGET else f"MISSED by {TARGET / kernel_rate:.2f}x"
    n_open = int(s["open"])
    body = f"""
{N_SYMBOLS} symbols (orders on {ACTIVE_SYMBOLS}), {n_open} open positions at the start; orders
are checked sequentially (each approved order updates the simulated portfolio). Kernel and
reference agree on all {N_ORDERS:,} verdicts. Verdict mix: {mix}.

| implementation | orders | best time (ms) | checks/s |
|---|---:|---:|---:|
{table}

- Kernel vs plain Python: **{t_reference / t_kernel:.0f}x** faster.
- Target >= {TARGET:,.0f} checks/s: **{verdict}** ({kernel_rate:,.0f} checks/s).
- Load average (1, 5, 15 min) at the end of the run: {load} on {os.cpu_count()} cores (shared).
- The wrapper's cost is building pydantic `OrderIntent`/`Denial` objects and marking the
  portfolio, not the check itself; agents send batches of tens of orders per cycle.
"""
    return section("bench_pretrade", "Pre-trade check (100,000 orders)", body)


if __name__ == "__main__":
    print(run())
