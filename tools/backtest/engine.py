"""Typed wrapper around the backtest kernel: config in, validated trades and equity out."""

from __future__ import annotations

from collections.abc import Sequence
from functools import cached_property
from typing import Any, Literal, Self

import numpy as np
import numpy.typing as npt
from numba import njit
from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, model_validator

from core.bars import BarSeries
from core.errors import DataValidationError
from tools.backtest import metrics as m
from tools.backtest.kernel import (
    N_TR,
    STATUS_RUINED,
    TR_ENTRY_BAR,
    TR_ENTRY_PRICE,
    TR_EXIT_BAR,
    TR_EXIT_PRICE,
    TR_EXIT_REASON,
    TR_FEES,
    TR_PNL,
    TR_RETURN,
    TR_SIDE,
    TR_SIZE,
    TR_SYMBOL,
    TR_TRANCHES,
    make_config,
    simulate,
)
from tools.backtest.validate import validate_run
from tools.costs import CommissionModel

FloatArray = npt.NDArray[np.float64]

ExitReason = Literal["signal", "stop_loss", "take_profit", "trailing_stop", "open", "ruin"]
EXIT_REASONS: tuple[ExitReason, ...] = (
    "signal",
    "stop_loss",
    "take_profit",
    "trailing_stop",
    "open",
    "ruin",
)


class BacktestConfig(BaseModel):
    """Everything a run needs besides bars and signals. Fractions, not percent."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    cash: float = Field(default=100_000.0, gt=0.0)
    size_fraction: float = Field(default=1.0, gt=0.0, le=1.0)
    allow_short: bool = False
    commission: CommissionModel = Field(default_factory=CommissionModel)
    slippage_bps: float = Field(default=0.0, ge=0.0, le=1000.0)
    stop_loss: float = Field(default=0.0, ge=0.0, lt=1.0)
    take_profit: float = Field(default=0.0, ge=0.0)
    trailing_stop: float = Field(default=0.0, ge=0.0, lt=1.0)
    pyramid_levels: int = Field(default=0, ge=0, le=10)
    pyramid_atr_k: float = Field(default=1.0, gt=0.0)
    pyramid_fraction: float = Field(default=0.1, gt=0.0, le=1.0)
    breakeven_after_add: bool = True
    periods_per_year: float = Field(default=252.0, gt=0.0)

    @model_validator(mode="after")
    def _no_leverage(self) -> Self:
        total = self.size_fraction * (1.0 + self.pyramid_levels * self.pyramid_fraction)
        if self.pyramid_levels and total > 1.0 + 1e-12:
            raise ValueError(
                f"size_fraction × (1 + pyramid_levels × pyramid_fraction) = {total:.3g} > 1: "
                "pyramiding would need leverage"
            )
        return self

    def kernel_config(self) -> FloatArray:
        return make_config(
            cash=self.cash,
            size_fraction=self.size_fraction,
            allow_short=self.allow_short,
            commission_kind=self.commission.kind_code,
            commission_rate=self.commission.rate,
            commission_min=self.commission.minimum,
            commission_max_pct=self.commission.max_pct,
            slippage_bps=self.slippage_bps,
            stop_loss=self.stop_loss,
            take_profit=self.take_profit,
            trailing_stop=self.trailing_stop,
            pyramid_levels=self.pyramid_levels,
            pyramid_atr_k=self.pyramid_atr_k,
            pyramid_fraction=self.pyramid_fraction,
            breakeven_after_add=self.breakeven_after_add,
        )


class Trade(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    symbol: str
    side: Literal["long", "short"]
    entry_bar: int
    entry_time: str
    entry_price: float
    exit_bar: int
    exit_time: str
    exit_price: float
    size: float
    fees: float
    pnl: float
    return_pct: float
    exit_reason: ExitReason
    tranches: int


class Metrics(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    total_return: float
    cagr: float
    sharpe: float
    sortino: float
    max_drawdown: float
    win_rate: float
    exposure: float
    n_trades: int
    equity_final: float


class BacktestResult(BaseModel):
    """A validated run. ``trade_records`` are the kernel's rows (``TR_*`` columns);
    ``trades`` turns them into ``Trade`` models on first access (sweeps and agents that
    only need metrics never pay for building them)."""

    model_config = ConfigDict(frozen=True, arbitrary_types_allowed=True, extra="forbid")

    symbols: list[str]
    timestamps: npt.NDArray[np.datetime64]
    equity: FloatArray
    exposure: FloatArray
    trade_records: FloatArray
    metrics: Metrics
    ruined: bool

    @cached_property
    def trades(self) -> list[Trade]:
        return _trades(self.trade_records, self.symbols, self.timestamps)


def run_arrays(
    open_: FloatArray,
    high: FloatArray,
    low: FloatArray,
    close: FloatArray,
    signal: npt.ArrayLike,
    config: BacktestConfig,
    *,
    symbols: Sequence[str] | None = None,
    timestamps: npt.NDArray[np.datetime64] | None = None,
    atr: FloatArray | None = None,
) -> BacktestResult:
    """Backtest 2-D (symbols × bars) or 1-D arrays; ``signal[s, t]`` fills at bar t+1's open.

    ``atr`` is needed only for pyramiding (tranche spacing); without it the ATR(14) of
    ``tools.indicators`` is used. Prices must be finite and > 0 (``DataValidationError``
    naming the first bad one otherwise).
    """
    o, h, lo, c = checked_prices(open_, high, low, close)
    return _run(o, h, lo, c, signal, config, symbols, timestamps, atr)


def _run(
    o: FloatArray,
    h: FloatArray,
    lo: FloatArray,
    c: FloatArray,
    signal: npt.ArrayLike,
    config: BacktestConfig,
    symbols: Sequence[str] | None,
    timestamps: npt.NDArray[np.datetime64] | None,
    atr: FloatArray | None,
) -> BacktestResult:
    """``run_arrays`` on prices already checked (contiguous float64 [S, T], finite, > 0)."""
    sig = checked_signals(np.atleast_2d(np.asarray(signal)), c.shape)
    shape = c.shape
    n_sym, n_bar = shape
    names = list(symbols) if symbols is not None else [f"S{i}" for i in range(n_sym)]
    ts = timestamps if timestamps is not None else np.arange(n_bar).astype("datetime64[D]")
    if config.pyramid_levels and atr is None:
        from tools.indicators import atr as atr_kernel

        atr = np.vstack([atr_kernel(h[s], lo[s], c[s], 14) for s in range(n_sym)])
    atr_arr = checked_atr(atr, shape)

    cfg = config.kernel_config()
    equity = np.empty(n_bar)
    exposure = np.empty(n_bar)
    trades = np.empty((n_sym * n_bar + n_sym, N_TR))
    n_trades, n_wins, status = simulate(
        o, h, lo, c, sig, atr_arr, cfg, equity, exposure, trades, True
    )
    trades = trades[:n_trades]
    validate_run(o, h, lo, c, sig, cfg, equity, exposure, trades, status)

    # Bar 0 never trades (no earlier signal), so equity[0] == cash: returns start there.
    values = m.all_metrics(equity, exposure, config.periods_per_year).tolist()
    metrics = Metrics.model_construct(
        **dict(zip(m.ALL_METRICS, values, strict=True)),
        win_rate=float(n_wins / n_trades) if n_trades else float("nan"),
        n_trades=int(n_trades),
        equity_final=float(equity[-1]) if n_bar else config.cash,
    )
    return BacktestResult(
        symbols=names,
        timestamps=np.asarray(ts),
        equity=equity,
        exposure=exposure,
        trade_records=trades,
        metrics=metrics,
        ruined=status == STATUS_RUINED,
    )


@njit(cache=True)
def _first_bad_price(
    open_: FloatArray, high: FloatArray, low: FloatArray, close: FloatArray
) -> tuple[int, int]:
    """(column 0-3, flat index) of the first price that is not a finite number > 0, or
    (-1, -1). One pass, one dispatch: this runs before every backtest."""
    for column, prices in enumerate((open_, high, low, close)):
        flat = prices.ravel()
        for k in range(flat.shape[0]):
            if not (flat[k] > 0.0 and flat[k] < np.inf):
                return column, k
    return -1, -1


_PRICE_COLUMNS = ("open", "high", "low", "close")


def checked_prices(
    *columns: npt.ArrayLike,
) -> tuple[FloatArray, FloatArray, FloatArray, FloatArray]:
    """``open, high, low, close`` as C-contiguous float64 [S, T] arrays of one shape, every
    value finite and > 0. The kernels index them without bounds checks, and a NaN price
    would only surface later as an "impossible" equity curve, so both are refused here
    with the column, symbol row and bar named."""
    o, h, lo, c = (
        np.ascontiguousarray(np.atleast_2d(np.asarray(a, dtype=np.float64))) for a in columns
    )
    if o.ndim != 2 or not (o.shape == h.shape == lo.shape == c.shape):
        raise DataValidationError(
            "backtest price arrays differ in shape",
            [f"{n}: {a.shape}" for n, a in zip(_PRICE_COLUMNS, (o, h, lo, c), strict=True)],
        )
    column, k = _first_bad_price(o, h, lo, c)
    if column >= 0:
        s, t = divmod(int(k), c.shape[1])
        value = float((o, h, lo, c)[column][s, t])
        raise DataValidationError(
            "backtest prices must be finite and > 0",
            [f"{_PRICE_COLUMNS[column]}[symbol {s}, bar {t}] = {value!r}: not a price > 0"],
        )
    return o, h, lo, c


def checked_signals(raw: npt.NDArray[Any], shape: tuple[int, ...]) -> npt.NDArray[np.int8]:
    """Signals of ``shape`` with values in {-1, 0, 1}, as int8."""
    if raw.shape != shape:
        raise DataValidationError(
            "signal shape differs from the prices", [f"signal: {raw.shape}, prices: {shape}"]
        )
    if raw.size and (raw.min() < -1 or raw.max() > 1 or np.any(raw % 1 != 0)):
        raise DataValidationError("signal values must be -1, 0 or 1", ["signal: bad value"])
    return np.ascontiguousarray(raw, dtype=np.int8)


def checked_atr(atr: npt.ArrayLike | None, shape: tuple[int, int]) -> FloatArray:
    """ATR of the prices' shape (NaN everywhere when not given: no pyramiding adds)."""
    if atr is None:
        return np.full(shape, np.nan)
    arr = np.ascontiguousarray(np.atleast_2d(np.asarray(atr, dtype=np.float64)))
    if arr.shape != shape:
        raise DataValidationError(
            "atr shape differs from the prices", [f"atr: {arr.shape}, prices: {shape}"]
        )
    return arr


def run_bars(
    bars: BarSeries | Sequence[BarSeries], signal: npt.ArrayLike, config: BacktestConfig
) -> BacktestResult:
    """Backtest one or several ``BarSeries`` on the same timestamps (shared cash)."""
    series = [bars] if isinstance(bars, BarSeries) else list(bars)
    if not series:
        raise DataValidationError("no bars to backtest", ["empty symbol list"])
    ts = series[0].timestamps
    misaligned = [b.symbol for b in series[1:] if not np.array_equal(b.timestamps, ts)]
    if misaligned:
        raise DataValidationError(
            "symbols must share timestamps",
            [f"{s}: timestamps differ from {series[0].symbol}" for s in misaligned],
        )
    # A BarSeries is validated when built (finite prices > 0): no second scan here.
    return _run(
        np.vstack([b.open for b in series]),
        np.vstack([b.high for b in series]),
        np.vstack([b.low for b in series]),
        np.vstack([b.close for b in series]),
        signal,
        config,
        [b.symbol for b in series],
        ts,
        None,
    )


_TRADE_LIST: TypeAdapter[list[Trade]] = TypeAdapter(list[Trade])


def _trades(rows: FloatArray, names: list[str], ts: npt.NDArray[np.datetime64]) -> list[Trade]:
    """Trade models from kernel rows, validated in one batch by pydantic-core (three times
    faster than constructing them one by one)."""
    if not len(rows):
        return []
    entry = rows[:, TR_ENTRY_BAR].astype(np.int64)
    exit_ = rows[:, TR_EXIT_BAR].astype(np.int64)
    entry_times = np.datetime_as_string(ts[entry], unit="auto").tolist()
    exit_times = np.datetime_as_string(ts[exit_], unit="auto").tolist()
    return _TRADE_LIST.validate_python(
        [
            {
                "symbol": names[int(row[TR_SYMBOL])],
                "side": "long" if row[TR_SIDE] > 0 else "short",
                "entry_bar": int(row[TR_ENTRY_BAR]),
                "entry_time": entry_times[k],
                "entry_price": row[TR_ENTRY_PRICE],
                "exit_bar": int(row[TR_EXIT_BAR]),
                "exit_time": exit_times[k],
                "exit_price": row[TR_EXIT_PRICE],
                "size": row[TR_SIZE],
                "fees": row[TR_FEES],
                "pnl": row[TR_PNL],
                "return_pct": row[TR_RETURN] * 100.0,
                "exit_reason": EXIT_REASONS[int(row[TR_EXIT_REASON])],
                "tranches": int(row[TR_TRANCHES]),
            }
            for k, row in enumerate(rows.tolist())
        ]
    )
