"""Several indicators for a whole panel (symbols × bars) in one call, parallel over symbols.

    specs = [IndicatorSpec("rsi", {"timeperiod": 14}), IndicatorSpec("bbands"),
             IndicatorSpec("macd", name="macd")]
    result = panel(None, high, low, close, volume, specs)
    result["rsi_14"]            # (n_symbols, n_bars)
    result["bbands.upperband"]  # multi-output indicators: "<label>.<TA-Lib output name>"

Each row is computed by the same kernels as the 1-D functions (so it equals them bar for
bar, NaN rule included); one ``numba.prange`` loop runs the symbols on all cores.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numba
import numpy as np
import numpy.typing as npt

from tools.indicators import _registry as reg
from tools.indicators._common import FloatArray
from tools.indicators._jit import kernel, parallel_kernel
from tools.indicators.bollinger import bbands_kernel
from tools.indicators.channels import donchian_kernel, keltner_kernel
from tools.indicators.directional import adx_kernel, minus_di_kernel, plus_di_kernel
from tools.indicators.momentum import macd_kernel, mom_kernel, roc_kernel, rsi_kernel
from tools.indicators.moving_averages import (
    dema_kernel,
    ema_kernel,
    kama_kernel,
    sma_kernel,
    tema_kernel,
    wma_kernel,
)
from tools.indicators.oscillators import cci_kernel, stoch_kernel, willr_kernel
from tools.indicators.volatility import atr_kernel, natr_kernel, trange_kernel
from tools.indicators.volume import mfi_kernel, obv_kernel

PanelArray = npt.NDArray[np.float64]


@dataclass(frozen=True, slots=True)
class IndicatorSpec:
    """One indicator to compute on every symbol.

    ``indicator`` is a function name of this package (``"sma"``, ``"bbands"``...);
    ``params`` uses its parameter names (missing ones take TA-Lib's defaults);
    ``name`` is the result key (default: the indicator and its given parameter values,
    e.g. ``"sma_20"``). Multi-output indicators add ``".<output>"`` to the key.
    """

    indicator: str
    params: Mapping[str, float] = field(default_factory=dict)
    name: str | None = None

    @property
    def label(self) -> str:
        if self.name is not None:
            return self.name
        values = "_".join(_format_value(v) for v in self.params.values())
        return f"{self.indicator}_{values}" if values else self.indicator


def _format_value(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else str(value)


def panel(
    open_: npt.ArrayLike | None,
    high: npt.ArrayLike | None,
    low: npt.ArrayLike | None,
    close: npt.ArrayLike | None,
    volume: npt.ArrayLike | None,
    specs: Sequence[IndicatorSpec],
) -> dict[str, PanelArray]:
    """Compute ``specs`` on 2-D (symbols × bars) arrays; inputs no spec needs may be None.

    ``open_`` is accepted for a uniform OHLCV call; no indicator here reads it.
    Returns one (symbols × bars) float64 array per output, keyed as ``IndicatorSpec``
    documents. Raises ``ValueError`` on an unknown indicator or parameter, a bad value,
    a missing or mis-shaped input, or two specs with the same key.
    """
    if not specs:
        raise ValueError("specs: give at least one IndicatorSpec")
    columns = _checked_columns(
        {"open": open_, "high": high, "low": low, "close": close, "volume": volume}
    )
    codes, params, first_slot, keys = _encode(specs)
    for spec in specs:
        for name in reg.INDICATORS[spec.indicator].inputs:
            if name not in columns:
                raise ValueError(f"{spec.label}: needs the {name!r} input, which is None")
    shape = next(iter(columns.values())).shape
    # Inputs no spec reads still need an array of the right type for the kernel.
    stand_in = next(iter(columns.values()))
    out = np.empty((len(keys), *shape), dtype=np.float64)
    _panel_kernel(
        columns.get("high", stand_in),
        columns.get("low", stand_in),
        columns.get("close", stand_in),
        columns.get("volume", stand_in),
        codes,
        params,
        first_slot,
        out,
    )
    return {key: out[i] for i, key in enumerate(keys)}


def _checked_columns(named: Mapping[str, npt.ArrayLike | None]) -> dict[str, PanelArray]:
    columns: dict[str, PanelArray] = {}
    for name, values in named.items():
        if values is None:
            continue
        try:
            array = np.ascontiguousarray(values, dtype=np.float64)
        except (TypeError, ValueError) as exc:
            raise ValueError(f"{name}: expected a 2-D array of numbers ({exc})") from exc
        if array.ndim != 2:
            raise ValueError(f"{name}: expected a 2-D (symbols × bars) array, got {array.ndim}-D")
        columns[name] = array
    if not columns:
        raise ValueError("no input arrays given")
    shapes = {name: a.shape for name, a in columns.items()}
    if len(set(shapes.values())) > 1:
        raise ValueError(f"inputs must have the same shape: {shapes}")
    columns.pop("open", None)  # checked for shape, read by no indicator
    if not columns:
        raise ValueError("no high, low, close or volume array given")
    return columns


def _encode(
    specs: Sequence[IndicatorSpec],
) -> tuple[npt.NDArray[np.int64], FloatArray, npt.NDArray[np.int64], list[str]]:
    """Specs -> (codes, one parameter row each, first output slot each, result keys)."""
    codes = np.empty(len(specs), dtype=np.int64)
    params = np.zeros((len(specs), reg.MAX_PARAMS), dtype=np.float64)
    first_slot = np.empty(len(specs), dtype=np.int64)
    keys: list[str] = []
    for row, spec in enumerate(specs):
        info = reg.INDICATORS.get(spec.indicator)
        if info is None:
            known = ", ".join(sorted(reg.INDICATORS))
            raise ValueError(f"unknown indicator {spec.indicator!r}; known: {known}")
        allowed = {p.name for p in info.params}
        unknown = sorted(set(spec.params) - allowed)
        if unknown:
            raise ValueError(
                f"{spec.label}: unknown parameter(s) {unknown}; {spec.indicator} takes "
                f"{sorted(allowed) or 'none'}"
            )
        for column, param in enumerate(info.params):
            value = spec.params.get(param.name, param.default)
            params[row, column] = param.check(value)
        codes[row] = info.code
        first_slot[row] = len(keys)
        if len(info.outputs) == 1:
            keys.append(spec.label)
        else:
            keys.extend(f"{spec.label}.{output}" for output in info.outputs)
    duplicates = sorted({k for k in keys if keys.count(k) > 1})
    if duplicates:
        raise ValueError(f"two specs give the same result key(s) {duplicates}; set name=")
    return codes, params, first_slot, keys


@kernel
def _compute_into(
    code: int,
    p: FloatArray,
    high: FloatArray,
    low: FloatArray,
    close: FloatArray,
    volume: FloatArray,
    out: FloatArray,
    slot: int,
    row: int,
) -> None:
    """One indicator on one symbol, written straight into ``out[slot(+k), row]``."""
    first = out[slot, row]
    if code == reg.SMA:
        sma_kernel(close, int(p[0]), first)
    elif code == reg.EMA:
        ema_kernel(close, int(p[0]), first)
    elif code == reg.WMA:
        wma_kernel(close, int(p[0]), first)
    elif code == reg.DEMA:
        dema_kernel(close, int(p[0]), first)
    elif code == reg.TEMA:
        tema_kernel(close, int(p[0]), first)
    elif code == reg.KAMA:
        kama_kernel(close, int(p[0]), first)
    elif code == reg.RSI:
        rsi_kernel(close, int(p[0]), first)
    elif code == reg.MACD:
        macd_kernel(
            close, int(p[0]), int(p[1]), int(p[2]), first, out[slot + 1, row], out[slot + 2, row]
        )
    elif code == reg.ROC:
        roc_kernel(close, int(p[0]), first)
    elif code == reg.MOM:
        mom_kernel(close, int(p[0]), first)
    elif code == reg.BBANDS:
        bbands_kernel(
            close,
            int(p[0]),
            p[1],
            p[2],
            int(p[3]),
            first,
            out[slot + 1, row],
            out[slot + 2, row],
        )
    elif code == reg.ATR:
        atr_kernel(high, low, close, int(p[0]), first)
    elif code == reg.NATR:
        natr_kernel(high, low, close, int(p[0]), first)
    elif code == reg.TRANGE:
        trange_kernel(high, low, close, first)
    elif code == reg.ADX:
        adx_kernel(high, low, close, int(p[0]), first)
    elif code == reg.PLUS_DI:
        plus_di_kernel(high, low, close, int(p[0]), first)
    elif code == reg.MINUS_DI:
        minus_di_kernel(high, low, close, int(p[0]), first)
    elif code == reg.CCI:
        cci_kernel(high, low, close, int(p[0]), first)
    elif code == reg.STOCH:
        stoch_kernel(
            high,
            low,
            close,
            int(p[0]),
            int(p[1]),
            int(p[2]),
            int(p[3]),
            int(p[4]),
            first,
            out[slot + 1, row],
        )
    elif code == reg.WILLR:
        willr_kernel(high, low, close, int(p[0]), first)
    elif code == reg.OBV:
        obv_kernel(close, volume, first)
    elif code == reg.MFI:
        mfi_kernel(high, low, close, volume, int(p[0]), first)
    elif code == reg.DONCHIAN:
        donchian_kernel(high, low, int(p[0]), first, out[slot + 1, row], out[slot + 2, row])
    elif code == reg.KELTNER:
        keltner_kernel(
            high,
            low,
            close,
            int(p[0]),
            int(p[1]),
            p[2],
            first,
            out[slot + 1, row],
            out[slot + 2, row],
        )


@parallel_kernel
def _panel_kernel(
    high: PanelArray,
    low: PanelArray,
    close: PanelArray,
    volume: PanelArray,
    codes: npt.NDArray[np.int64],
    params: FloatArray,
    first_slot: npt.NDArray[np.int64],
    out: PanelArray,
) -> None:
    for row in numba.prange(close.shape[0]):
        for k in range(codes.shape[0]):
            _compute_into(
                codes[k],
                params[k],
                high[row],
                low[row],
                close[row],
                volume[row],
                out,
                first_slot[k],
                row,
            )
