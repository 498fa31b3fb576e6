"""`quorum sweep` and `quorum walkforward`: parameter grids over one or many bar files,
walk-forward folds, deflated Sharpe and PBO; in process or on Dask (docs/backtest.md,
docs/scale.md)."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer
from typer.core import TyperCommand

from adapters.cli.common import fail, handle_errors, print_json

if TYPE_CHECKING:
    from typer._click.core import Context

    from tools.backtest import BacktestConfig
    from tools.research.grid import BarArrays

MANY_VALUED = ("--grid", "--bars")


class ManyValuedOptions(TyperCommand):
    """``--grid a=1:5 b=2:9`` and ``--bars F1 F2``: each value up to the next option belongs
    to the option before it (click options take one value; this repeats the option)."""

    def parse_args(self, ctx: Context, args: list[str]) -> list[str]:
        out: list[str] = []
        current: str | None = None
        has_value = False
        for k, arg in enumerate(args):
            if arg == "--":
                out.extend(args[k:])
                break
            if arg.startswith("-") and len(arg) > 1 and not arg[1].isdigit():
                name = arg.partition("=")[0]
                current = name if name in MANY_VALUED else None
                has_value = "=" in arg
                out.append(arg)
            elif current is not None and has_value:
                out.extend([current, arg])
            else:
                out.append(arg)
                has_value = current is not None
        return super().parse_args(ctx, out)


def register(app: typer.Typer) -> None:
    app.command(
        "sweep",
        cls=ManyValuedOptions,
        help="Run every parameter set of a grid over each symbol's whole sample: metrics per "
        "set, the best by the objective, its deflated Sharpe ratio and the probability of "
        "backtest overfitting (CSCV). Example: quorum sweep --strategy ma_crossover --grid "
        "fast=5:50:5 slow=20:200:10 --symbols AAPL,MSFT",
    )(sweep)
    app.command(
        "walkforward",
        cls=ManyValuedOptions,
        help="Walk-forward optimisation: on each fold pick the best parameter set on the "
        "training window, run it on the next test window; prints each fold's out-of-sample "
        "result, the chained out-of-sample figures, the deflated Sharpe and the PBO. "
        "Example: quorum walkforward --strategy ma_crossover --grid fast=5:50:5 "
        "slow=20:200:10 --symbols AAPL --folds 5 --mode anchored",
    )(walkforward)


STRATEGY = typer.Option(
    ..., "--strategy", help="ma_crossover | momentum | mean_reversion | breakout"
)
GRID = typer.Option(
    [], "--grid", help="name=values tokens: start:stop[:step] (inclusive), a,b,c, or one "
    "value; e.g. --grid fast=5:50:5 slow=20:200:10. Other parameters keep their defaults.",
)  # fmt: skip
BARS = typer.Option([], "--bars", help="Bar files (CSV, CSV.GZ, Parquet); several allowed.")
SYMBOLS = typer.Option(
    None, "--symbols", help="Comma-separated symbols from the shipped data (data/us_daily)."
)
OBJECTIVE = typer.Option(
    "sharpe", "--objective", help="What the best set maximises: sharpe | sortino | "
    "total_return | cagr.",
)  # fmt: skip
BLOCKS = typer.Option(
    16, "--cscv-blocks", help="CSCV blocks S for the PBO: even, 2..24 (C(S, S/2) splits)."
)
SCHEDULER = typer.Option(
    None, "--scheduler", help="Where tasks run: in this process (default), local[:N] (a Dask "
    "LocalCluster of N worker processes on 127.0.0.1), or tcp://HOST:8786 (a running Dask "
    "scheduler, docs/scale.md). Results are identical.",
)  # fmt: skip
PER_TASK = typer.Option(
    None, "--symbols-per-task", help="Symbols per task (default 4); does not change results."
)
COMMISSION_PCT = typer.Option(None, "--commission-pct", help="Commission, percent of value.")
PER_SHARE = typer.Option(None, "--commission-per-share", help="Commission per share.")
COMMISSION_MIN = typer.Option(0.0, "--commission-min", help="Minimum commission per order.")
COMMISSION_MAX = typer.Option(0.0, "--commission-max-pct", help="Per-share cap, % of value.")
SLIPPAGE = typer.Option(0.0, "--slippage-bps", help="Slippage against the trader, bps.")
SIZE = typer.Option(1.0, "--size-fraction", help="Fraction of equity per position (0-1].")
CASH = typer.Option(100_000.0, "--cash", help="Starting cash of every run.")
SHORT = typer.Option(False, "--allow-short", help="Take short signals (default: long only).")
STOP = typer.Option(0.0, "--stop-loss", help="Stop-loss, fraction of entry.")
TARGET = typer.Option(0.0, "--take-profit", help="Take-profit, fraction of entry.")
TRAIL = typer.Option(0.0, "--trailing-stop", help="Trailing stop, fraction of best price.")
PPY = typer.Option(
    None, "--periods-per-year", help="Bars per year for annualising (default: inferred)."
)
UNADJUSTED = typer.Option(False, "--unadjusted", help="Raw prices instead of adjusted.")
JSON_OUT = typer.Option(False, "--json", help="Print the result as one JSON object.")
HTML_OUT = typer.Option(
    None, "--html", help="Write an HTML tearsheet here (equity, drawdown, monthly returns, "
    "trades).",
)  # fmt: skip


def load_symbols(files: list[Path], symbols: str | None, unadjusted: bool) -> dict[str, BarArrays]:
    """Validated bars by symbol, from files or from the shipped data folder."""
    from adapters.marketdata.files import load_bars
    from tools.research.grid import BarArrays

    if bool(files) == bool(symbols):
        raise fail("give either --bars FILE... or --symbols SYM,SYM")
    out: dict[str, BarArrays] = {}
    if files:
        from adapters.cli.common import require_files

        require_files(files, "--bars")
        for path in files:
            bars = load_bars(path)
            series = bars if unadjusted else bars.adjusted_view()
            if series.symbol in out:
                raise fail(f"--bars: two files for symbol {series.symbol} ({path})")
            out[series.symbol] = BarArrays.from_series(series)
        return out
    from adapters.cli.common import settings
    from adapters.marketdata.files import FileMarketData
    from adapters.runtime import DATA_SUBDIR

    market = FileMarketData(settings().data_dir / DATA_SUBDIR)
    for sym in (s.strip().upper() for s in (symbols or "").split(",")):
        if not sym:
            raise fail(f"--symbols {symbols!r}: empty symbol")
        if sym not in market.symbols():
            raise fail(f"--symbols: no shipped data for {sym}; have {', '.join(market.symbols())}")
        out[sym] = BarArrays.from_series(market.bars(sym, adjusted=not unadjusted))
    return out


def _config(ppy: float | None, data: dict[str, BarArrays], **costs: Any) -> BacktestConfig:
    from adapters.cli.backtest import build_config, infer_periods_per_year

    if ppy is not None and not (0.0 < ppy < math.inf):
        raise fail(f"--periods-per-year must be a positive number, not {ppy}")
    if ppy is None:
        inferred = {infer_periods_per_year(b.timestamps) for b in data.values()}
        if len(inferred) > 1:
            raise fail(f"symbols have different bar spacings ({sorted(inferred)} bars a year): "
                       "give --periods-per-year")  # fmt: skip
        ppy = inferred.pop()
    return build_config(periods_per_year=ppy, **costs)


def _finish(result: Any, json_out: bool, html_out: Path | None) -> None:
    from adapters.cli.research_render import print_sweep, print_walk_forward
    from workflows.research_types import WalkForwardResult

    if html_out is not None:
        from workflows.research_report import write_tearsheet

        write_tearsheet(result, html_out)
    if json_out:
        print_json(json.loads(result.model_dump_json()))
    elif isinstance(result, WalkForwardResult):
        print_walk_forward(result)
    else:
        print_sweep(result)
    if html_out is not None:
        typer.echo(f"tearsheet written to {html_out}", err=json_out)


COST_OPTIONS = (
    "cash", "size_fraction", "commission_pct", "commission_per_share", "commission_min",
    "commission_max_pct", "slippage_bps", "allow_short", "stop_loss", "take_profit",
    "trailing_stop",
)  # fmt: skip


def _run(opts: dict[str, Any], folds: Any = None) -> None:
    """Check the options (cheapest first), load the bars, run, render."""
    from adapters.compute.dask import open_executor, parse_scheduler
    from tools.strategies import get_strategy
    from workflows.research import (
        check_options,
        expand_grid,
        parse_grid,
        sweep_grid,
        walk_forward,
    )

    strategy = opts["strategy"]
    get_strategy(strategy)  # an unknown name fails before any data is read
    scheduler = parse_scheduler(opts["scheduler"])
    check_options(opts["cscv_blocks"], opts["symbols_per_task"])
    grid = parse_grid(strategy, opts["grid"])
    expand_grid(strategy, grid)  # no valid combination: fail before reading data
    data = load_symbols(opts["bars"], opts["symbols"], opts["unadjusted"])
    config = _config(opts["periods_per_year"], data, **{k: opts[k] for k in COST_OPTIONS})
    common: dict[str, Any] = {
        "config": config,
        "objective": opts["objective"],
        "cscv_blocks": opts["cscv_blocks"],
        "symbols_per_task": opts["symbols_per_task"],
    }
    with open_executor(scheduler) as executor:
        if folds is not None:
            result: Any = walk_forward(data, strategy, grid, folds, executor=executor, **common)
        else:
            result = sweep_grid(data, strategy, grid, executor=executor, **common)
    _finish(result, opts["json_out"], opts["html"])


@handle_errors
def sweep(
    strategy: str = STRATEGY, grid: list[str] = GRID, bars: list[Path] = BARS,
    symbols: str | None = SYMBOLS, objective: str = OBJECTIVE, cscv_blocks: int = BLOCKS,
    scheduler: str | None = SCHEDULER, symbols_per_task: int | None = PER_TASK,
    commission_pct: float | None = COMMISSION_PCT, commission_per_share: float | None = PER_SHARE,
    commission_min: float = COMMISSION_MIN, commission_max_pct: float = COMMISSION_MAX,
    slippage_bps: float = SLIPPAGE, size_fraction: float = SIZE, cash: float = CASH,
    allow_short: bool = SHORT, stop_loss: float = STOP, take_profit: float = TARGET,
    trailing_stop: float = TRAIL, periods_per_year: float | None = PPY,
    unadjusted: bool = UNADJUSTED, json_out: bool = JSON_OUT, html: Path | None = HTML_OUT,
) -> None:  # fmt: skip
    """Whole-sample grid with deflated Sharpe and PBO."""
    _run(dict(locals()))


@handle_errors
def walkforward(
    strategy: str = STRATEGY, grid: list[str] = GRID, bars: list[Path] = BARS,
    symbols: str | None = SYMBOLS,
    folds: int = typer.Option(5, "--folds", help="Number of test windows."),
    mode: str = typer.Option("anchored", "--mode", help="anchored (training windows grow "
                             "from the start) | rolling (fixed length)."),
    train: int | None = typer.Option(None, "--train", help="Training window length in bars "
                                     "(rolling: every window; anchored: the first)."),
    test: int | None = typer.Option(None, "--test", help="Test window length in bars "
                                    "(default: the rest shared equally)."),
    objective: str = OBJECTIVE, cscv_blocks: int = BLOCKS,
    scheduler: str | None = SCHEDULER, symbols_per_task: int | None = PER_TASK,
    commission_pct: float | None = COMMISSION_PCT, commission_per_share: float | None = PER_SHARE,
    commission_min: float = COMMISSION_MIN, commission_max_pct: float = COMMISSION_MAX,
    slippage_bps: float = SLIPPAGE, size_fraction: float = SIZE, cash: float = CASH,
    allow_short: bool = SHORT, stop_loss: float = STOP, take_profit: float = TARGET,
    trailing_stop: float = TRAIL, periods_per_year: float | None = PPY,
    unadjusted: bool = UNADJUSTED, json_out: bool = JSON_OUT, html: Path | None = HTML_OUT,
) -> None:  # fmt: skip
    """Walk-forward optimisation with out-of-sample results per fold."""
    from workflows.research_types import FoldSpec

    if mode not in ("anchored", "rolling"):
        raise fail(f"--mode {mode!r}: expected anchored or rolling")
    if not 1 <= folds <= 100:
        raise fail(f"--folds must be between 1 and 100, not {folds}")
    for name, value in (("--train", train), ("--test", test)):
        if value is not None and value < 2:
            raise fail(f"{name} must be >= 2 bars, not {value}")
    spec = FoldSpec.model_validate({"n_folds": folds, "mode": mode, "train": train, "test": test})
    _run(dict(locals()), spec)
