"""Indicator kernels against TA-Lib (the C library, through its Python wrapper).

1. Every indicator on one 1,000,000-bar series: best-of wall time, ours / TA-Lib.
2. A panel of 500 symbols × 2,520 bars (ten years of days) with 10 indicators: one
   ``panel()`` call (parallel over symbols) against a Python loop of TA-Lib calls.

Inputs are a seeded geometric random walk with consistent OHLCV bars. Each function is
called once before timing so Numba's compilation (or cache load) is not measured.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from typing import Any

import numba
import numpy as np
import talib

import tools.indicators as ti
from benchmarks._timing import section
from tools.indicators import IndicatorSpec, panel

N_BARS = 1_000_000
PANEL_SYMBOLS = 500
PANEL_BARS = 2_520
TARGET_RATIO = 1.0
# Run-to-run spread of a ratio on this shared 2-core machine is about ±5 %: a ratio up to
# 1.05× is reported as parity, not as a miss.
NOISE = 0.05
# Why an indicator can stay above TA-Lib's time: stated next to any miss in RESULTS.md.
REASONS = {
    "mom(10)": "one subtraction per bar: both run at memory bandwidth (the same time as "
    "NumPy's own np.subtract on these arrays), so the ratio is noise around 1.0; it moves "
    "with where the allocator places the output relative to the input",
    "donchian(20) vs MAX+MIN": "the same van Herk block scans as TA-Lib's MAX and MIN (both "
    "arrays in one pass), plus a third output (the middle band) and the NaN probe the "
    "package's NaN rule needs; a monotonic deque measured 60x slower on this series",
    "willr(14)": "the same van Herk block scans as TA-Lib's WILLR, plus the NaN probe",
    "trange": "a handful of selects per bar at memory bandwidth; the ratio moves with where "
    "the allocator places the output",
}
REPEAT = 40  # best of 40: robust to bursts of load from other jobs on this machine
PANEL_REPEAT = 7


def interleaved_best(
    ours: Callable[[], Any], reference: Callable[[], Any], repeat: int
) -> tuple[float, float]:
    """Best wall times of ``ours`` and ``reference``, timed alternately.

    The machine is shared: alternating the two keeps a burst of outside load from landing
    on one side only.
    """
    best_ours = best_ref = float("inf")
    for _ in range(repeat):
        t0 = time.perf_counter()
        ours()
        t1 = time.perf_counter()
        reference()
        t2 = time.perf_counter()
        best_ours = min(best_ours, t1 - t0)
        best_ref = min(best_ref, t2 - t1)
    return best_ours, best_ref


def random_bars(shape: tuple[int, ...], seed: int) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    close = 100.0 * np.exp(np.cumsum(rng.normal(0.0, 0.01, shape), axis=-1))
    spread = np.abs(rng.normal(0.0, 0.01, shape))
    high = close * (1.0 + spread)
    low = close * (1.0 - np.abs(rng.normal(0.0, 0.01, shape)))
    volume = rng.integers(1_000, 1_000_000, shape).astype(np.float64)
    return {"high": high, "low": low, "close": close, "volume": volume}


def single_series_cases(
    bars: dict[str, np.ndarray],
) -> list[tuple[str, Callable[[], Any], Callable[[], Any]]]:
    h, lo, c, v = bars["high"], bars["low"], bars["close"], bars["volume"]
    return [
        ("sma(30)", lambda: ti.sma(c), lambda: talib.SMA(c)),
        ("ema(30)", lambda: ti.ema(c), lambda: talib.EMA(c)),
        ("wma(30)", lambda: ti.wma(c), lambda: talib.WMA(c)),
        ("dema(30)", lambda: ti.dema(c), lambda: talib.DEMA(c)),
        ("tema(30)", lambda: ti.tema(c), lambda: talib.TEMA(c)),
        ("kama(30)", lambda: ti.kama(c), lambda: talib.KAMA(c)),
        ("rsi(14)", lambda: ti.rsi(c), lambda: talib.RSI(c)),
        ("macd(12,26,9)", lambda: ti.macd(c), lambda: talib.MACD(c)),
        ("bbands(20,2,2,SMA)", lambda: ti.bbands(c), lambda: talib.BBANDS(c)),
        ("bbands(20,2,2,EMA)", lambda: ti.bbands(c, matype=1), lambda: talib.BBANDS(c, matype=1)),
        ("atr(14)", lambda: ti.atr(h, lo, c), lambda: talib.ATR(h, lo, c)),
        ("natr(14)", lambda: ti.natr(h, lo, c), lambda: talib.NATR(h, lo, c)),
        ("trange", lambda: ti.trange(h, lo, c), lambda: talib.TRANGE(h, lo, c)),
        ("adx(14)", lambda: ti.adx(h, lo, c), lambda: talib.ADX(h, lo, c)),
        ("plus_di(14)", lambda: ti.plus_di(h, lo, c), lambda: talib.PLUS_DI(h, lo, c)),
        ("minus_di(14)", lambda: ti.minus_di(h, lo, c), lambda: talib.MINUS_DI(h, lo, c)),
        ("cci(14)", lambda: ti.cci(h, lo, c), lambda: talib.CCI(h, lo, c)),
        ("stoch(5,3,3)", lambda: ti.stoch(h, lo, c), lambda: talib.STOCH(h, lo, c)),
        ("willr(14)", lambda: ti.willr(h, lo, c), lambda: talib.WILLR(h, lo, c)),
        ("roc(10)", lambda: ti.roc(c), lambda: talib.ROC(c)),
        ("mom(10)", lambda: ti.mom(c), lambda: talib.MOM(c)),
        ("obv", lambda: ti.obv(c, v), lambda: talib.OBV(c, v)),
        ("mfi(14)", lambda: ti.mfi(h, lo, c, v), lambda: talib.MFI(h, lo, c, v)),
        (
            "donchian(20) vs MAX+MIN",
            lambda: ti.donchian(h, lo),
            lambda: (talib.MAX(h, 20), talib.MIN(lo, 20)),
        ),
        (
            "keltner(20,10) vs EMA+ATR",
            lambda: ti.keltner(h, lo, c),
            lambda: (talib.EMA(c, 20), talib.ATR(h, lo, c, 10)),
        ),
    ]


PANEL_SPECS = [
    IndicatorSpec("sma", {"timeperiod": 20}),
    IndicatorSpec("ema", {"timeperiod": 20}),
    IndicatorSpec("rsi", {"timeperiod": 14}),
    IndicatorSpec("macd"),
    IndicatorSpec("bbands", {"timeperiod": 20}),
    IndicatorSpec("atr", {"timeperiod": 14}),
    IndicatorSpec("adx", {"timeperiod": 14}),
    IndicatorSpec("stoch"),
    IndicatorSpec("cci", {"timeperiod": 20}),
    IndicatorSpec("mfi", {"timeperiod": 14}),
]


def talib_panel_loop(bars: dict[str, np.ndarray]) -> list[Any]:
    h, lo, c, v = bars["high"], bars["low"], bars["close"], bars["volume"]
    results: list[Any] = []
    for row in range(c.shape[0]):
        hr, lr, cr, vr = h[row], lo[row], c[row], v[row]
        results.append(
            (
                talib.SMA(cr, 20),
                talib.EMA(cr, 20),
                talib.RSI(cr, 14),
                talib.MACD(cr),
                talib.BBANDS(cr, 20),
                talib.ATR(hr, lr, cr, 14),
                talib.ADX(hr, lr, cr, 14),
                talib.STOCH(hr, lr, cr),
                talib.CCI(hr, lr, cr, 20),
                talib.MFI(hr, lr, cr, vr, 14),
            )
        )
    return results


def max_relative_difference(ours: object, reference: object) -> float:
    """0.0 for bit-identical outputs, inf when the NaN positions or output counts differ,
    else the largest |ours - TA-Lib| / max(1, |TA-Lib|)."""
    mine = ours if isinstance(ours, tuple) else (ours,)
    theirs = reference if isinstance(reference, tuple) else (reference,)
    if len(mine) != len(theirs):
        return float("inf")
    worst = 0.0
    for a, b in zip(mine, theirs, strict=True):
        if not np.array_equal(np.isnan(a), np.isnan(b)):
            return float("inf")
        valid = ~np.isnan(b)
        if valid.any():
            scale = np.maximum(1.0, np.abs(b[valid]))
            worst = max(worst, float(np.max(np.abs(a[valid] - b[valid]) / scale)))
    return worst


def identity_note(differences: dict[str, float]) -> str:
    """What this run measured about agreement with TA-Lib, for the section's introduction.
    Composite cases (donchian, keltner) are timed against building blocks: not compared."""
    others = {k: v for k, v in differences.items() if " vs " not in k and v != 0.0}
    if not others:
        return "On this series every output is bit-identical to TA-Lib's."
    listed = ", ".join(f"{k} (max relative difference {v:.1e})" for k, v in others.items())
    return f"On this series every output is bit-identical to TA-Lib's except {listed}."


def run() -> str:
    bars = random_bars((N_BARS,), seed=42)
    rows = []
    missed = []
    differences: dict[str, float] = {}
    for label, ours, reference in single_series_cases(bars):
        # The untimed first calls compile (or load the cache) and give the outputs compared.
        differences[label] = max_relative_difference(ours(), reference())
        ours_time, ref_time = interleaved_best(ours, reference, REPEAT)
        ratio = ours_time / ref_time
        if ratio > TARGET_RATIO:
            missed.append((label, ratio))
        rows.append(f"| {label} | {ours_time * 1e3:.2f} | {ref_time * 1e3:.2f} | {ratio:.2f}× |")
    single_table = (
        f"Every indicator on {N_BARS:,} bars (best of {REPEAT}, ours and TA-Lib timed "
        f"alternately). Target: ours ≤ {TARGET_RATIO:.1f}× "
        "TA-Lib's time.\n\n| indicator | ours (ms) | TA-Lib (ms) | ours / TA-Lib |\n"
        "|---|---:|---:|---:|\n" + "\n".join(rows)
    )

    panel_bars = random_bars((PANEL_SYMBOLS, PANEL_BARS), seed=7)
    h, lo, c, v = (panel_bars[k] for k in ("high", "low", "close", "volume"))

    def ours_panel() -> object:
        return panel(None, h, lo, c, v, PANEL_SPECS)

    def reference_panel() -> object:
        return talib_panel_loop(panel_bars)

    ours_panel()
    reference_panel()
    panel_ours, panel_ref = interleaved_best(ours_panel, reference_panel, PANEL_REPEAT)
    threads = numba.get_num_threads()
    panel_table = (
        f"Panel of {PANEL_SYMBOLS} symbols × {PANEL_BARS:,} bars, {len(PANEL_SPECS)} indicators "
        f"({', '.join(s.label for s in PANEL_SPECS)}): one `panel()` call on {threads} Numba "
        f"threads ({os.cpu_count()} logical cores) against a Python loop of "
        f"{PANEL_SYMBOLS * len(PANEL_SPECS):,} TA-Lib calls "
        f"(best of {PANEL_REPEAT}, alternating).\n\n"
        "| panel | ours (ms) | TA-Lib loop (ms) | ours / TA-Lib |\n|---|---:|---:|---:|\n"
        f"| {PANEL_SYMBOLS} × {PANEL_BARS:,} × {len(PANEL_SPECS)} | {panel_ours * 1e3:.1f} | "
        f"{panel_ref * 1e3:.1f} | {panel_ours / panel_ref:.2f}× |"
    )
    misses = [(label, ratio) for label, ratio in missed if ratio > TARGET_RATIO + NOISE]
    parity = [(label, ratio) for label, ratio in missed if ratio <= TARGET_RATIO + NOISE]
    lines = []
    if not missed:
        lines.append(f"All indicators meet the ≤ {TARGET_RATIO:.1f}× target.")
    if parity:
        lines.append(f"At parity within run-to-run noise (≤ {1 + NOISE:.2f}×), above the target:")
        lines.extend(
            f"- {label}: {ratio:.2f}× — " + REASONS.get(label, "no known structural reason")
            for label, ratio in parity
        )
    if misses:
        lines.append("Missed the target:")
        lines.extend(
            f"- {label}: {ratio:.2f}× ({(ratio - 1) * 100:.0f} % slower) — "
            + REASONS.get(label, "no known structural reason; likely machine load")
            for label, ratio in misses
        )
    verdict = "\n".join(lines)
    intro = (
        f"`tools.indicators` against TA-Lib {talib.__version__} (C library "
        f"{talib.__ta_version__.decode().split()[0]}) on a seeded random walk. "
        f"{identity_note(differences)} Numba compile time is excluded (each function is "
        "called once before timing). Load average (1, 5, 15 min) at the end of the run: "
        + ", ".join(f"{x:.1f}" for x in os.getloadavg())
        + f" on {os.cpu_count()} cores, a machine shared with other jobs."
    )
    return section(
        "bench_indicators",
        "Indicators vs TA-Lib",
        f"{intro}\n\n{single_table}\n\n{verdict}\n\n{panel_table}",
    )
