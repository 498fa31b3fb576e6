"""Evidence for a proposal: the configuration in force against the proposed one, over
walk-forward out-of-sample windows of the shipped data.

- **Strategy parameters** (``strategy.<name>.*``): the strategy's kernel signal on every
  universe symbol, through the Numba backtest (``tools.backtest``: fill at the next
  open, commission and slippage, long only, one shared-cash portfolio, equal weights).
  Anchored walk-forward folds (``tools.research.folds``): the last ``backtest_folds``
  test windows of ``backtest_fold_bars`` bars each, every one after all the bars before
  it; each is backtested on its own bars with signals computed on the whole series
  (they only look back), so every window is out of sample for parameters set before it.
- **Everything else** (risk limits, universe, agent settings): the whole agent graph,
  offline, through an injected ``Simulator`` (``adapters/review.py`` runs ``simulate``'s
  cycle service on a scratch account) over the last ``sim_sessions`` sessions, split
  into ``folds`` consecutive windows.

Each method reports per fold and overall: return, annualised Sharpe, max drawdown and the
trade count, and the deflated Sharpe ratio of the proposed configuration
(``tools.research.stats``): its probability of real skill once the number of variants
tried on the same keys (every earlier proposal on them, the configuration in force, and
this one) is accounted for.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from core.ports import MarketData
from tools.risk_metrics import TRADING_DAYS, max_drawdown, sharpe_ratio, simple_returns

FloatArray = np.ndarray[Any, np.dtype[np.float64]]


class EvidenceSettings(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    folds: int = Field(default=2, ge=1, le=20)  # simulation folds
    sim_sessions: int = Field(default=10, ge=2, le=500)  # sessions simulated per config
    backtest_folds: int = Field(default=4, ge=1, le=40)
    backtest_fold_bars: int = Field(default=252, ge=20, le=5000)
    starting_cash: float = Field(default=100_000.0, gt=0)
    slippage_bps: float = Field(default=5.0, ge=0)


@dataclass(frozen=True)
class SimRun:
    """One simulated configuration: closing equity and fills per session."""

    equity: list[float]
    fills: list[int]


Simulator = Callable[[Mapping[str, Any], Sequence[date]], Awaitable[SimRun]]
TrialHistory = Callable[[str], list[float]]  # trial key → earlier variants' Sharpe (per bar)


def _num(x: float) -> float | None:
    return None if not math.isfinite(x) else round(float(x), 6)


def curve_metrics(equity: FloatArray, trades: int) -> dict[str, Any]:
    """Return, annualised Sharpe, max drawdown and trade count of one equity curve
    (its first point is the starting value)."""
    returns = simple_returns(equity)
    return {
        "return": _num(float(equity[-1] / equity[0] - 1.0)) if equity.size > 1 else 0.0,
        "sharpe": _num(float(sharpe_ratio(returns, 0.0, TRADING_DAYS))),
        "max_drawdown": _num(float(max_drawdown(equity))),
        "trades": int(trades),
    }


def deflated(
    returns: FloatArray, sharpe_current: float, previous: Sequence[float]
) -> dict[str, Any]:
    """The proposed curve's deflated Sharpe ratio among every variant tried."""
    from tools.research.stats import deflated_sharpe, return_moments, trials_variance

    moments = return_moments(returns)
    trials = [sharpe_current, *previous, moments.sharpe]
    variance = trials_variance(trials)
    dsr = deflated_sharpe(
        moments.sharpe, len(trials), variance, moments.n_obs, moments.skew, moments.kurtosis
    )
    return {
        "value": _num(float(dsr)),
        "trials": len(trials),
        "sharpe_per_bar": _num(moments.sharpe),
        "trials_sharpe_variance": _num(variance),
        "n_obs": moments.n_obs,
    }


def _joined(equities: Sequence[FloatArray]) -> FloatArray:
    """The folds' returns chained into one curve starting at 1."""
    returns = [simple_returns(e) for e in equities if e.size > 1]
    joined = np.concatenate(returns) if returns else np.zeros(0)
    return np.concatenate([[1.0], np.cumprod(1.0 + joined)])


def _section(
    method: str,
    trial_key: str,
    folds: list[dict[str, Any]],
    curves: dict[str, list[FloatArray]],
    trades: dict[str, int],
    previous: TrialHistory,
) -> dict[str, Any]:
    overall = {side: curve_metrics(_joined(curves[side]), trades[side]) for side in curves}
    current_sr = float(np.nan_to_num(_per_bar_sharpe(_joined(curves["current"])), nan=0.0))
    proposed_returns = simple_returns(_joined(curves["proposed"]))
    return {
        "method": method,
        "trial_key": trial_key,
        "window": f"{folds[0]['start']} .. {folds[-1]['end']}" if folds else "",
        "folds": folds,
        "overall": overall,
        "deflated_sharpe": deflated(proposed_returns, current_sr, previous(trial_key)),
    }


def _per_bar_sharpe(equity: FloatArray) -> float:
    from tools.research.stats import return_moments

    r = simple_returns(equity)
    return return_moments(r).sharpe if r.size >= 2 else float("nan")


def trial_key(method: str, keys: Sequence[str]) -> str:
    return f"{method}:" + ",".join(sorted(keys))


# -- strategy parameters: the Numba backtest ---------------------------------------------
def _panel(market: MarketData, symbols: Sequence[str]) -> tuple[dict[str, FloatArray], Any]:
    """open/high/low/close ``[S, T]`` on the sessions every symbol has a bar for."""
    series = [market.bars(s) for s in symbols]
    common = series[0].timestamps
    for s in series[1:]:
        common = np.intersect1d(common, s.timestamps)
    masks = [np.isin(s.timestamps, common) for s in series]
    fields = ("open", "high", "low", "close")
    panel = {f: np.vstack([getattr(s, f)[m] for s, m in zip(series, masks, strict=True)])
             for f in fields}  # fmt: skip
    return panel, common


def backtest_evidence(
    current: Mapping[str, Any],
    proposed: Mapping[str, Any],
    strategy: str,
    changed: Sequence[str],
    market: MarketData,
    settings: EvidenceSettings,
    previous: TrialHistory,
) -> dict[str, Any]:
    from tools.backtest import BacktestConfig, run_arrays
    from tools.strategies import signal_for

    symbols = list(current["universe.symbols"])
    panel, stamps = _panel(market, symbols)
    o, h, lo, c = panel["open"], panel["high"], panel["low"], panel["close"]
    prefix = f"strategy.{strategy}."
    signals = {}
    for side, values in (("current", current), ("proposed", proposed)):
        params = {k[len(prefix) :]: v for k, v in values.items() if k.startswith(prefix)}
        signals[side] = np.vstack(
            [signal_for(strategy, o[i], h[i], lo[i], c[i], params)[0] for i in range(len(symbols))]
        )
    config = BacktestConfig(
        cash=settings.starting_cash,
        size_fraction=1.0 / len(symbols),
        slippage_bps=settings.slippage_bps,
    )
    folds: list[dict[str, Any]] = []
    curves: dict[str, list[FloatArray]] = {"current": [], "proposed": []}
    trades = {"current": 0, "proposed": 0}
    days = stamps.astype("datetime64[D]")
    from tools.research.folds import TEST_START, TEST_STOP, TRAIN_START, make_folds, window_bounds

    folds_at = make_folds(
        len(stamps), settings.backtest_folds, "anchored", test=settings.backtest_fold_bars
    )
    for i, fold in enumerate(folds_at):
        a, b = window_bounds(int(fold[TEST_START]), int(fold[TEST_STOP]))
        row: dict[str, Any] = {
            "fold": i + 1,
            "train": f"{days[int(fold[TRAIN_START])]} .. {days[int(fold[TEST_START]) - 1]}",
            "start": str(days[int(fold[TEST_START])]),
            "end": str(days[b - 1]),
        }
        for side, kept in curves.items():
            result = run_arrays(o[:, a:b], h[:, a:b], lo[:, a:b], c[:, a:b],
                                signals[side][:, a:b], config)  # fmt: skip
            kept.append(result.equity)
            trades[side] += result.metrics.n_trades
            row[side] = curve_metrics(result.equity, result.metrics.n_trades)
        folds.append(row)
    key = trial_key(f"backtest.{strategy}", [k for k in changed if k.startswith(prefix)])
    return _section("backtest", key, folds, curves, trades, previous) | {
        "strategy": strategy,
        "symbols": symbols,
    }


# -- everything else: the agent graph, simulated ---------------------------------------
async def simulation_evidence(
    current: Mapping[str, Any],
    proposed: Mapping[str, Any],
    changed: Sequence[str],
    sessions: Sequence[date],
    simulator: Simulator,
    settings: EvidenceSettings,
    previous: TrialHistory,
) -> dict[str, Any]:
    runs = {
        "current": await simulator(current, sessions),
        "proposed": await simulator(proposed, sessions),
    }
    folds: list[dict[str, Any]] = []
    curves: dict[str, list[FloatArray]] = {"current": [], "proposed": []}
    trades = {"current": 0, "proposed": 0}
    chunks = np.array_split(np.arange(len(sessions)), min(settings.folds, len(sessions)))
    for i, (a, b) in enumerate((int(c[0]), int(c[-1]) + 1) for c in chunks):
        row: dict[str, Any] = {
            "fold": i + 1,
            "start": str(sessions[a]),
            "end": str(sessions[b - 1]),
        }
        for side, run in runs.items():
            base = run.equity[a - 1] if a > 0 else settings.starting_cash
            equity = np.asarray([base, *run.equity[a:b]], dtype=np.float64)
            fills = sum(run.fills[a:b])
            curves[side].append(equity)
            trades[side] += fills
            row[side] = curve_metrics(equity, fills)
        folds.append(row)
    section = _section("simulate", trial_key("simulate", changed), folds, curves, trades, previous)
    return section | {"sessions": len(sessions)}


async def compute_evidence(
    current: Mapping[str, Any],
    proposed: Mapping[str, Any],
    changed: Sequence[str],
    *,
    market: MarketData,
    sessions: Sequence[date],
    simulator: Simulator,
    settings: EvidenceSettings,
    previous: TrialHistory,
) -> dict[str, Any]:
    """Every section that applies: a backtest per strategy whose parameters change, and
    one simulation when anything else changes."""
    sections: list[dict[str, Any]] = []
    strategies = sorted({k.split(".")[1] for k in changed if k.startswith("strategy.")})
    for strategy in strategies:
        sections.append(
            backtest_evidence(current, proposed, strategy, changed, market, settings, previous)
        )
    others = [k for k in changed if not k.startswith("strategy.")]
    if others:
        sections.append(
            await simulation_evidence(
                current, proposed, others, sessions, simulator, settings, previous
            )
        )
    return {"sections": sections, "settings": settings.model_dump()}


def values_hash(values: Mapping[str, Any], sessions: Sequence[date]) -> str:
    blob = json.dumps({"values": values, "sessions": [d.isoformat() for d in sessions]},
                      sort_keys=True, default=str)  # fmt: skip
    return hashlib.sha256(blob.encode()).hexdigest()[:24]
