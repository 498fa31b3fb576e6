"""Strategies as kernels: bars and parameters in, a target-direction signal out.

A signal is an ``int8`` array, one value per bar: +1 long, -1 short, 0 flat. ``signal[t]``
uses data up to bar t's close only; the backtest engine acts on it at bar t+1's open.
Warm-up bars (indicator still NaN) are 0. Long-only runs treat -1 as flat.

Indicators come from ``tools.indicators`` (TA-Lib arithmetic); the signal rules are Numba
kernels. ``STRATEGIES`` lists every strategy with its parameters, defaults and bounds; the
CLI and the strategy agents go through ``signal_for`` so parameters are checked once.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, Literal

import numpy as np
import numpy.typing as npt
from numba import njit, prange
from pydantic import BaseModel, ConfigDict

from core.errors import ConfigurationError
from tools.indicators import bbands, dema, donchian, ema, kama, rsi, sma, tema, wma

FloatArray = npt.NDArray[np.float64]
SignalArray = npt.NDArray[np.int8]
ParamValue = int | float | str

MA_FUNCTIONS: dict[str, Callable[[FloatArray, int], FloatArray]] = {
    "sma": sma,
    "ema": ema,
    "wma": wma,
    "dema": dema,
    "tema": tema,
    "kama": kama,
}


# ---------------------------------------------------------------- signal kernels


@njit(cache=True)
def cross_signal(fast: FloatArray, slow: FloatArray) -> SignalArray:
    """+1 where fast > slow, -1 where fast < slow, 0 where equal or either is NaN."""
    out = np.zeros(fast.shape[0], dtype=np.int8)
    for t in range(fast.shape[0]):
        if fast[t] > slow[t]:
            out[t] = 1
        elif fast[t] < slow[t]:
            out[t] = -1
    return out


@njit(cache=True)
def momentum_signal(close: FloatArray, lookback: int, threshold: float) -> SignalArray:
    """+1 when the ``lookback``-bar return exceeds ``threshold``, -1 below ``-threshold``."""
    out = np.zeros(close.shape[0], dtype=np.int8)
    for t in range(lookback, close.shape[0]):
        change = close[t] / close[t - lookback] - 1.0
        if change > threshold:
            out[t] = 1
        elif change < -threshold:
            out[t] = -1
    return out


@njit(cache=True)
def mean_reversion_signal(
    close: FloatArray,
    rsi_values: FloatArray,
    upper: FloatArray,
    middle: FloatArray,
    lower: FloatArray,
    rsi_low: float,
    rsi_high: float,
) -> SignalArray:
    """Long when oversold (RSI < low and close < lower band), short when overbought
    (RSI > high and close > upper band); hold until the close returns to the middle band."""
    out = np.zeros(close.shape[0], dtype=np.int8)
    state = 0
    for t in range(close.shape[0]):
        r, c = rsi_values[t], close[t]
        warm = np.isnan(r) or np.isnan(middle[t])
        if warm or (state == 1 and c >= middle[t]) or (state == -1 and c <= middle[t]):
            state = 0
        if state == 0 and not warm:
            if r < rsi_low and c < lower[t]:
                state = 1
            elif r > rsi_high and c > upper[t]:
                state = -1
        out[t] = state
    return out


@njit(cache=True)
def breakout_signal(close: FloatArray, upper: FloatArray, lower: FloatArray) -> SignalArray:
    """Donchian breakout, stop-and-reverse: long when the close exceeds the previous bar's
    channel high, short when it falls below the previous bar's channel low."""
    out = np.zeros(close.shape[0], dtype=np.int8)
    state = 0
    for t in range(1, close.shape[0]):
        if not np.isnan(upper[t - 1]):
            if close[t] > upper[t - 1]:
                state = 1
            elif close[t] < lower[t - 1]:
                state = -1
        out[t] = state
    return out


@njit(cache=True, parallel=True)
def cross_grid(
    ma: FloatArray, fast_idx: npt.NDArray[np.int64], slow_idx: npt.NDArray[np.int64]
) -> SignalArray:
    """Crossover signals for many pairs at once: ``ma[S, W, T]`` holds each distinct window's
    MA per symbol; pair p compares windows ``fast_idx[p]`` and ``slow_idx[p]``."""
    n_sym, _, n_bar = ma.shape
    n_pairs = fast_idx.shape[0]
    out = np.zeros((n_pairs, n_sym, n_bar), dtype=np.int8)
    for job in prange(n_pairs * n_sym):
        p = job // n_sym
        s = job % n_sym
        f = ma[s, fast_idx[p]]
        w = ma[s, slow_idx[p]]
        for t in range(n_bar):
            if f[t] > w[t]:
                out[p, s, t] = 1
            elif f[t] < w[t]:
                out[p, s, t] = -1
    return out


# ---------------------------------------------------------------- public strategies


def _series(x: npt.ArrayLike) -> FloatArray:
    return np.ascontiguousarray(x, dtype=np.float64)


def ma_crossover(
    close: npt.ArrayLike, fast: int = 10, slow: int = 30, ma_type: str = "sma"
) -> SignalArray:
    """Long while the fast moving average is above the slow one, short while below."""
    c = _series(close)
    ma = MA_FUNCTIONS[ma_type]
    out: SignalArray = cross_signal(ma(c, fast), ma(c, slow))
    return out


def ma_crossover_grid(
    close: npt.ArrayLike, fast: npt.ArrayLike, slow: npt.ArrayLike, ma_type: str = "sma"
) -> SignalArray:
    """Signals ``int8[P, S, T]`` for P (fast, slow) pairs over ``close[S, T]``: each distinct
    window's MA is computed once per symbol, the comparisons run in parallel."""
    c = np.atleast_2d(_series(close))
    fast_w = np.asarray(fast, dtype=np.int64)
    slow_w = np.asarray(slow, dtype=np.int64)
    windows = np.unique(np.concatenate([fast_w, slow_w]))
    ma_fn = MA_FUNCTIONS[ma_type]
    ma = np.empty((c.shape[0], windows.shape[0], c.shape[1]))
    for s in range(c.shape[0]):
        row = np.ascontiguousarray(c[s])
        for w, window in enumerate(windows):
            ma[s, w] = ma_fn(row, int(window))
    out: SignalArray = cross_grid(
        ma, np.searchsorted(windows, fast_w), np.searchsorted(windows, slow_w)
    )
    return out


def momentum(close: npt.ArrayLike, lookback: int = 20, threshold: float = 0.0) -> SignalArray:
    """Time-series momentum: direction of the ``lookback``-bar return beyond ``threshold``."""
    out: SignalArray = momentum_signal(_series(close), int(lookback), float(threshold))
    return out


def mean_reversion(
    close: npt.ArrayLike,
    rsi_period: int = 14,
    rsi_low: float = 30.0,
    rsi_high: float = 70.0,
    bb_period: int = 20,
    bb_std: float = 2.0,
) -> SignalArray:
    """RSI + Bollinger reversion: fade extremes, exit at the middle band."""
    c = _series(close)
    upper, middle, lower = bbands(c, bb_period, bb_std, bb_std, 0)
    out: SignalArray = mean_reversion_signal(
        c, rsi(c, rsi_period), upper, middle, lower, float(rsi_low), float(rsi_high)
    )
    return out


def breakout(
    high: npt.ArrayLike, low: npt.ArrayLike, close: npt.ArrayLike, period: int = 20
) -> SignalArray:
    """Donchian channel breakout over the previous ``period`` bars (stop-and-reverse)."""
    upper, _, lower = donchian(_series(high), _series(low), period)
    out: SignalArray = breakout_signal(_series(close), upper, lower)
    return out


# ---------------------------------------------------------------- registry


class ParamSpec(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    kind: Literal["int", "float", "choice"]
    default: ParamValue
    low: float | None = None
    high: float | None = None
    choices: tuple[str, ...] = ()
    help: str = ""

    def parse(self, name: str, raw: ParamValue) -> ParamValue:
        """Convert and bound-check one value; ``ConfigurationError`` names the valid range."""
        try:
            if self.kind == "choice":
                value: ParamValue = str(raw).lower()
                if value not in self.choices:
                    raise ValueError(f"one of {', '.join(self.choices)}")
                return value
            number = float(raw)
            if self.kind == "int":
                if number != int(number):
                    raise ValueError("a whole number")
                number = int(number)
            if (self.low is not None and number < self.low) or (
                self.high is not None and number > self.high
            ):
                raise ValueError(f"between {self.low:g} and {self.high:g}")
            return number
        except (TypeError, ValueError) as exc:
            hint = str(exc) if str(exc).startswith(("one of", "between", "a whole")) else self.kind
            raise ConfigurationError(f"parameter {name}={raw!r}: must be {hint}") from exc


class StrategySpec(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", arbitrary_types_allowed=True)

    name: str
    description: str
    params: dict[str, ParamSpec]
    compute: Callable[..., SignalArray]
    uses_high_low: bool = False

    def defaults(self) -> dict[str, ParamValue]:
        return {k: p.default for k, p in self.params.items()}

    def resolve(self, overrides: Mapping[str, ParamValue]) -> dict[str, ParamValue]:
        """Defaults updated with ``overrides``, each checked; unknown names are an error."""
        unknown = sorted(set(overrides) - set(self.params))
        if unknown:
            raise ConfigurationError(
                f"unknown parameter(s) {', '.join(unknown)} for strategy {self.name}; "
                f"valid: {', '.join(self.params)}"
            )
        out = self.defaults()
        for key, raw in overrides.items():
            out[key] = self.params[key].parse(key, raw)
        return out


def _ma_problem(params: Mapping[str, ParamValue]) -> str | None:
    if int(params["fast"]) >= int(params["slow"]):
        return f"fast ({params['fast']}) must be < slow ({params['slow']})"
    return None


STRATEGIES: dict[str, StrategySpec] = {
    "ma_crossover": StrategySpec(
        name="ma_crossover",
        description="Long when the fast MA is above the slow MA, short when below.",
        params={
            "fast": ParamSpec(kind="int", default=10, low=1, high=500, help="fast MA window"),
            "slow": ParamSpec(kind="int", default=30, low=2, high=1000, help="slow MA window"),
            "ma_type": ParamSpec(kind="choice", default="sma", choices=tuple(MA_FUNCTIONS)),
        },
        compute=lambda o, h, lo, c, p: ma_crossover(c, p["fast"], p["slow"], p["ma_type"]),
    ),
    "momentum": StrategySpec(
        name="momentum",
        description="Direction of the lookback return when it exceeds ±threshold.",
        params={
            "lookback": ParamSpec(kind="int", default=20, low=1, high=500),
            "threshold": ParamSpec(kind="float", default=0.0, low=0.0, high=1.0),
        },
        compute=lambda o, h, lo, c, p: momentum(c, p["lookback"], p["threshold"]),
    ),
    "mean_reversion": StrategySpec(
        name="mean_reversion",
        description="RSI + Bollinger: fade oversold/overbought extremes, exit at the middle band.",
        params={
            "rsi_period": ParamSpec(kind="int", default=14, low=2, high=200),
            "rsi_low": ParamSpec(kind="float", default=30.0, low=0.0, high=100.0),
            "rsi_high": ParamSpec(kind="float", default=70.0, low=0.0, high=100.0),
            "bb_period": ParamSpec(kind="int", default=20, low=2, high=500),
            "bb_std": ParamSpec(kind="float", default=2.0, low=0.1, high=10.0),
        },
        compute=lambda o, h, lo, c, p: mean_reversion(
            c, p["rsi_period"], p["rsi_low"], p["rsi_high"], p["bb_period"], p["bb_std"]
        ),
    ),
    "breakout": StrategySpec(
        name="breakout",
        description="Donchian breakout: long above the prior N-bar high, short below the low.",
        params={"period": ParamSpec(kind="int", default=20, low=2, high=500)},
        compute=lambda o, h, lo, c, p: breakout(h, lo, c, p["period"]),
        uses_high_low=True,
    ),
}


def _rsi_problem(params: Mapping[str, ParamValue]) -> str | None:
    if float(params["rsi_low"]) >= float(params["rsi_high"]):
        return f"rsi_low ({params['rsi_low']}) must be < rsi_high ({params['rsi_high']})"
    return None


# The rules between a strategy's parameters, beyond each one's bounds.
_PROBLEMS: dict[str, Callable[[Mapping[str, ParamValue]], str | None]] = {
    "ma_crossover": _ma_problem,
    "mean_reversion": _rsi_problem,
}


def get_strategy(name: str) -> StrategySpec:
    try:
        return STRATEGIES[name]
    except KeyError:
        raise ConfigurationError(
            f"unknown strategy {name!r}; valid: {', '.join(STRATEGIES)}"
        ) from None


def signal_for(
    name: str,
    open_: npt.ArrayLike,
    high: npt.ArrayLike,
    low: npt.ArrayLike,
    close: npt.ArrayLike,
    params: Mapping[str, Any] | None = None,
) -> tuple[SignalArray, dict[str, ParamValue]]:
    """The signal of strategy ``name`` and the fully resolved parameters it used."""
    resolved = resolve_params(name, params or {})
    signal = get_strategy(name).compute(open_, high, low, close, resolved)
    return signal, resolved


def resolve_params(name: str, params: Mapping[str, Any]) -> dict[str, ParamValue]:
    """Defaults of strategy ``name`` updated with ``params``, each bound-checked, and the
    rules between them (fast < slow, rsi_low < rsi_high); ``ConfigurationError`` names the
    broken one."""
    resolved = get_strategy(name).resolve(params)
    problem = params_problem(name, resolved)
    if problem is not None:
        raise ConfigurationError(problem)
    return resolved


def params_problem(name: str, params: Mapping[str, ParamValue]) -> str | None:
    """Why strategy ``name`` refuses these *resolved* parameters (every one present, e.g.
    from ``StrategySpec.resolve``) as a combination — ``fast (50) must be < slow (20)`` —
    or None when it takes them. What ``resolve_params`` raises; a grid skips such sets.
    An unknown strategy is a ``ConfigurationError``."""
    get_strategy(name)
    rule = _PROBLEMS.get(name)
    return None if rule is None else rule(params)
