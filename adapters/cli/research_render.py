"""Terminal tables for `quorum sweep` and `quorum walkforward` (rich)."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from workflows.research_types import GridSweepResult, OverfitStats, WalkForwardResult

TOP_TRIALS = 10
MIN_WIDTH = 100  # tables stay whole when piped (rich assumes 80 columns then)


def _pct(x: float) -> str:
    return "n/a" if not math.isfinite(x) else f"{100 * x:.2f} %"


def _num(x: float) -> str:
    return "n/a" if not math.isfinite(x) else f"{x:.3f}"


def _params(p: dict[str, Any], keys: list[str], sep: str = " ") -> str:
    return sep.join(f"{k}={p[k]}" for k in keys)


def _console() -> Any:
    from rich.console import Console

    return Console(highlight=False, width=max(Console().width, MIN_WIDTH))


def _stats_rows(s: OverfitStats, keys: list[str]) -> list[tuple[str, str]]:
    return [
        ("trials (parameter sets)", str(s.n_trials)),
        ("whole-sample best", _params(s.best_params, keys)),
        ("its Sharpe (in sample)", _num(s.sharpe)),
        ("expected max Sharpe of the trials", _num(s.expected_max_sharpe)),
        ("deflated Sharpe ratio", _num(s.deflated_sharpe)),
        (f"PBO (CSCV, {s.pbo_blocks} blocks)", _num(s.pbo)),
        ("P[IS winner loses OOS]", _num(s.prob_oos_loss)),
    ]


def print_walk_forward(result: WalkForwardResult) -> None:
    from rich.table import Table

    console = _console()
    keys = list(result.grid)
    f = result.folds
    for s in result.symbols:
        table = Table(
            show_lines=True,
            title=f"{s.symbol} walk-forward {result.strategy}: {f.n_folds} {f.mode} folds, "
            f"{result.n_trials} trials",
        )
        for name in ("fold", "train", "test", "params"):
            table.add_column(name, no_wrap=True)
        for name in (f"IS {result.objective}", "OOS sharpe", "OOS return", "OOS max DD",
                     "OOS trades"):  # fmt: skip
            table.add_column(name, justify="right")
        for fold in s.folds:
            o = fold.out_of_sample
            is_value = getattr(fold.in_sample, result.objective)
            table.add_row(
                str(fold.fold), f"{fold.train_start}\n{fold.train_end}",
                f"{fold.test_start}\n{fold.test_end}", _params(fold.params, keys, "\n"),
                _num(is_value), _num(o.sharpe), _pct(o.total_return), _pct(o.max_drawdown),
                str(o.n_trades),
            )  # fmt: skip
        console.print(table)
        o = s.out_of_sample
        summary = Table("out of sample, test windows chained", "value")
        for label, value in [
            ("period", f"{s.oos_start}..{s.oos_end}"),
            ("sharpe", _num(o.sharpe)),
            ("total return", _pct(o.total_return)),
            ("CAGR", _pct(o.cagr)),
            ("max drawdown", _pct(o.max_drawdown)),
            ("trades", str(o.n_trades)),
            ("probabilistic Sharpe (P[SR > 0])", _num(s.oos_probabilistic_sharpe)),
            *_stats_rows(s.full_sample, keys),
        ]:
            summary.add_row(label, value)
        console.print(summary)


def print_sweep(result: GridSweepResult) -> None:
    from rich.table import Table

    console = _console()
    keys = list(result.grid)
    for s in result.symbols:
        order = sorted(
            range(len(s.trials)),
            key=lambda i: -_finite(getattr(s.trials[i].metrics, result.objective)),
        )
        table = Table(
            "rank", "params", "sharpe", "total return", "CAGR", "max DD", "trades",
            title=f"{s.symbol} sweep {result.strategy} {s.start}..{s.end}: best "
            f"{min(TOP_TRIALS, len(order))} of {result.n_trials} by {result.objective}",
        )  # fmt: skip
        for rank, i in enumerate(order[:TOP_TRIALS], start=1):
            m = s.trials[i].metrics
            table.add_row(
                str(rank), _params(s.trials[i].params, keys), _num(m.sharpe),
                _pct(m.total_return), _pct(m.cagr), _pct(m.max_drawdown), str(m.n_trades),
            )  # fmt: skip
        console.print(table)
        summary = Table("overfitting", "value")
        for label, value in _stats_rows(s.stats, keys):
            summary.add_row(label, value)
        console.print(summary)


def _finite(x: float) -> float:
    return x if math.isfinite(x) else -math.inf
