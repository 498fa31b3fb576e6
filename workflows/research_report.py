"""HTML tearsheet of a grid sweep or a walk-forward run: one self-contained file, per
symbol the equity and drawdown chart (matplotlib PNG embedded as base64, as in the cycle
reports), the statistics, the folds or the best trials, monthly returns and the trades.

For a walk-forward run the curve is the test windows chained (out of sample only); for
a sweep it is the best parameter set over the whole sample (in sample: see its PBO).
"""

from __future__ import annotations

import base64
import html
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from tools.backtest import Metrics
from workflows.report import _CSS, _html_table, chart_png
from workflows.research_types import (
    Curve,
    GridSweepResult,
    OverfitStats,
    SymbolSweep,
    SymbolWalkForward,
    WalkForwardResult,
)

MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
TRADES_SHOWN = 200
# Wider than the cycle reports and no line breaks inside a cell: dates such as
# 2002-05-03 otherwise break at their hyphens in the folds table.
TEARSHEET_CSS = "body{max-width:1200px}td{white-space:nowrap}"
TRIALS_SHOWN = 20
TRADE_COLUMNS = ("side", "entry_time", "entry_price", "exit_time", "exit_price", "size",
                 "pnl", "return_pct", "exit_reason")  # fmt: skip


def monthly_returns(
    timestamps: npt.NDArray[np.datetime64], equity: npt.NDArray[np.float64]
) -> tuple[list[int], npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    """Years, returns ``[year, month]`` (NaN: no data) and per-year returns, each month
    from the last equity of the month before (the curve's first point for the first)."""
    if len(equity) < 2:
        return [], np.empty((0, 12)), np.empty(0)
    months = timestamps.astype("datetime64[M]")
    ends = np.flatnonzero(np.r_[months[1:] != months[:-1], True])
    if ends[0] == 0:  # the first point is alone in its month: it is only the base
        ends = ends[1:]
    level = np.r_[equity[0], equity[ends]]
    rets = level[1:] / level[:-1] - 1.0
    stamp = months[ends]
    years = sorted({int(str(m)[:4]) for m in stamp})
    table = np.full((len(years), 12), np.nan)
    for m, r in zip(stamp, rets, strict=True):
        y, mo = int(str(m)[:4]), int(str(m)[5:7])
        table[years.index(y), mo - 1] = r
    yearly = np.array([np.prod(1.0 + row[~np.isnan(row)]) - 1.0 for row in table])
    return years, table, yearly


def _pct(x: float) -> str:
    return "n/a" if x is None or not math.isfinite(x) else f"{100 * x:.2f} %"


def _num(x: float, digits: int = 3) -> str:
    return "n/a" if x is None or not math.isfinite(x) else f"{x:.{digits}f}"


def _bars(n: int | None) -> str:
    return "auto" if n is None else f"{n} bars"


def _params(p: dict[str, Any]) -> str:
    return " ".join(f"{k}={v}" for k, v in p.items())


def _facts(rows: Sequence[tuple[str, str]]) -> str:
    items = "".join(f"<li><b>{html.escape(k)}</b>: {html.escape(v)}</li>" for k, v in rows)
    return f"<ul>{items}</ul>"


def _chart(curve: Curve, title: str) -> str:
    days = curve.timestamps.astype("datetime64[D]").astype(object).tolist()
    png = chart_png(list(zip(days, curve.equity.tolist(), strict=True)), title)
    data = base64.b64encode(png).decode()
    return f'<img alt="equity and drawdown" src="data:image/png;base64,{data}">'


def _monthly_table(curve: Curve) -> str:
    years, table, yearly = monthly_returns(curve.timestamps, curve.equity)
    rows = [
        {"year": y, **{m: "" if math.isnan(v) else _pct(v) for m, v in zip(MONTHS, row,
                                                                          strict=True)},
         "year total": _pct(total)}
        for y, row, total in zip(years, table, yearly, strict=True)
    ]  # fmt: skip
    return _html_table(rows, ("year", *MONTHS, "year total"))


def _trades_table(curve: Curve) -> str:
    shown = curve.trades[-TRADES_SHOWN:]
    rows = [
        {**t.model_dump(include=set(TRADE_COLUMNS)), "entry_price": f"{t.entry_price:.4f}",
         "exit_price": f"{t.exit_price:.4f}", "pnl": f"{t.pnl:,.2f}",
         "return_pct": f"{t.return_pct:.2f}", "size": f"{t.size:g}"}
        for t in shown
    ]  # fmt: skip
    more = len(curve.trades) - len(shown)
    note = f"<p>{more} earlier trades not shown.</p>" if more > 0 else ""
    return note + _html_table(rows, TRADE_COLUMNS)


def _metric_facts(label: str, m: Metrics) -> list[tuple[str, str]]:
    return [
        (f"{label} Sharpe", _num(m.sharpe)),
        (f"{label} total return", _pct(m.total_return)),
        (f"{label} CAGR", _pct(m.cagr)),
        (f"{label} max drawdown", _pct(m.max_drawdown)),
        (f"{label} trades", str(m.n_trades)),
    ]


def _stats_facts(s: OverfitStats) -> list[tuple[str, str]]:
    return [
        ("trials", str(s.n_trials)),
        ("whole-sample best", _params(s.best_params)),
        ("its Sharpe", _num(s.sharpe)),
        ("expected max Sharpe of the trials (SR0)", _num(s.expected_max_sharpe)),
        ("deflated Sharpe ratio (P[true Sharpe > SR0])", _num(s.deflated_sharpe)),
        ("PBO (CSCV)", f"{_num(s.pbo)} ({s.pbo_blocks} blocks, {s.pbo_combinations} splits)"),
        ("P[in-sample winner loses out of sample]", _num(s.prob_oos_loss)),
    ]


def _walk_forward_symbol(s: SymbolWalkForward) -> str:
    facts = [("out of sample", f"{s.oos_start} .. {s.oos_end}"),
             *_metric_facts("OOS", s.out_of_sample),
             ("OOS probabilistic Sharpe (P[true Sharpe > 0])", _num(s.oos_probabilistic_sharpe)),
             *_stats_facts(s.full_sample)]  # fmt: skip
    folds = [
        {"fold": f.fold, "train": f"{f.train_start} .. {f.train_end}",
         "test": f"{f.test_start} .. {f.test_end}", "params": _params(f.params),
         "IS Sharpe": _num(f.in_sample.sharpe), "OOS Sharpe": _num(f.out_of_sample.sharpe),
         "OOS return": _pct(f.out_of_sample.total_return),
         "OOS max DD": _pct(f.out_of_sample.max_drawdown), "OOS trades": f.out_of_sample.n_trades}
        for f in s.folds
    ]  # fmt: skip
    return (
        f"<h2>{html.escape(s.symbol)}</h2>{_facts(facts)}"
        f"{_chart(s.curve, f'{s.symbol}: test windows chained (out of sample)')}"
        f"<h3>Folds</h3>{_html_table(folds, tuple(folds[0]))}"
        f"<h3>Monthly returns (out of sample)</h3>{_monthly_table(s.curve)}"
        f"<h3>Trades (out of sample)</h3>{_trades_table(s.curve)}"
    )


def _sweep_symbol(s: SymbolSweep) -> str:
    best = s.trials[s.best]
    order = sorted(range(len(s.trials)), key=lambda i: -_finite(s.trials[i].metrics.sharpe))
    top = [
        {"params": _params(s.trials[i].params), "Sharpe": _num(s.trials[i].metrics.sharpe),
         "total return": _pct(s.trials[i].metrics.total_return),
         "max DD": _pct(s.trials[i].metrics.max_drawdown), "trades": s.trials[i].metrics.n_trades}
        for i in order[:TRIALS_SHOWN]
    ]  # fmt: skip
    facts = [("bars", f"{s.bars} ({s.start} .. {s.end})"), *_metric_facts("best", best.metrics),
             *_stats_facts(s.stats)]  # fmt: skip
    return (
        f"<h2>{html.escape(s.symbol)}</h2>{_facts(facts)}"
        f"{_chart(s.curve, f'{s.symbol}: best set, whole sample (in sample)')}"
        f"<h3>Best {len(top)} of {len(s.trials)} trials by Sharpe</h3>"
        f"{_html_table(top, tuple(top[0]))}"
        f"<h3>Monthly returns (best set)</h3>{_monthly_table(s.curve)}"
        f"<h3>Trades (best set)</h3>{_trades_table(s.curve)}"
    )


def _finite(x: float) -> float:
    return x if math.isfinite(x) else -math.inf


def write_tearsheet(result: WalkForwardResult | GridSweepResult, path: Path) -> Path:
    """Write the tearsheet to ``path`` (parent folders created); returns the path."""
    walk = isinstance(result, WalkForwardResult)
    kind = "walk-forward" if walk else "grid sweep"
    title = f"Quorum {kind}: {result.strategy}"
    grid = " ".join(f"{k}={','.join(map(str, v))}" for k, v in result.grid.items())
    header = [("strategy", result.strategy), ("objective", result.objective),
              ("grid", grid), ("trials per symbol", str(result.n_trials)),
              ("skipped grid combinations", str(result.skipped_sets))]  # fmt: skip
    if isinstance(result, WalkForwardResult):
        f = result.folds
        header.append(("folds", f"{f.n_folds} {f.mode}, train {_bars(f.train)}, "
                                f"test {_bars(f.test)}"))  # fmt: skip
        body = "".join(_walk_forward_symbol(s) for s in result.symbols)
    else:
        body = "".join(_sweep_symbol(s) for s in result.symbols)
    cfg = result.config
    header.append(("costs", f"commission {cfg.commission.kind} {cfg.commission.rate:g}, "
                            f"slippage {cfg.slippage_bps:g} bps, size {cfg.size_fraction:g}, "
                            f"{'long/short' if cfg.allow_short else 'long only'}"))  # fmt: skip
    page = (
        f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title>"
        f"<style>{_CSS}{TEARSHEET_CSS}</style></head><body><h1>{html.escape(title)}</h1>{_facts(header)}"
        f"{body}</body></html>"
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(page)
    return path
