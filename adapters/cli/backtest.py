"""`quorum backtest`: one strategy on one bar file, through the validated Numba engine."""

from __future__ import annotations

import math
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer

from adapters.cli.common import fail, handle_errors, print_json, print_rows, require_files

if TYPE_CHECKING:
    from tools.backtest import BacktestConfig, BacktestResult


def register(app: typer.Typer) -> None:
    app.command(
        "backtest",
        help="Backtest a strategy on a bar file: signal at the close, fill at the next open, "
        "commission and slippage, whole shares. Results are self-validated.",
    )(backtest)


def parse_params(raw: list[str]) -> dict[str, str]:
    out: dict[str, str] = {}
    for item in raw:
        key, sep, value = item.partition("=")
        if not sep or not key.strip() or not value.strip():
            raise fail(f"--param must look like name=value, not {item!r}")
        out[key.strip()] = value.strip()
    return out


def infer_periods_per_year(timestamps: Any) -> float:
    """Bars per year from the bars' spacing, for annualising Sharpe, Sortino and CAGR.

    Median gap ≥ 25 days: monthly (12); ≥ 5 days: weekly (52); ≥ 0.9 day: daily (252,
    weekends and holidays are the exceptions, not the median). Shorter: intraday, 252 ×
    the median number of bars per calendar day (UTC), i.e. per session for markets whose
    sessions do not straddle midnight UTC. Fewer than two bars: 252.
    """
    import numpy as np

    ts = np.asarray(timestamps).astype("datetime64[s]")
    if ts.size < 2:
        return 252.0
    median_gap_days = float(np.median(np.diff(ts.astype(np.int64)))) / 86_400.0
    if median_gap_days >= 25.0:
        return 12.0
    if median_gap_days >= 5.0:
        return 52.0
    if median_gap_days >= 0.9:
        return 252.0
    _, bars_per_day = np.unique(ts.astype("datetime64[D]"), return_counts=True)
    return 252.0 * float(np.median(bars_per_day))


def build_config(
    *,
    cash: float,
    size_fraction: float,
    commission_pct: float | None,
    commission_per_share: float | None,
    commission_min: float,
    commission_max_pct: float,
    slippage_bps: float,
    allow_short: bool,
    stop_loss: float,
    take_profit: float,
    trailing_stop: float,
    periods_per_year: float = 252.0,
) -> BacktestConfig:
    from tools.backtest import BacktestConfig
    from tools.costs import CommissionModel

    if commission_pct is not None and commission_per_share is not None:
        raise fail("choose one of --commission-pct and --commission-per-share")
    if commission_max_pct and commission_per_share is None:
        raise fail(
            "--commission-max-pct caps a per-share commission: it needs --commission-per-share"
        )
    if commission_pct is not None:
        commission = CommissionModel(
            kind="percent", rate=commission_pct / 100.0, minimum=commission_min
        )
    elif commission_per_share is not None:
        commission = CommissionModel(
            kind="per_share",
            rate=commission_per_share,
            minimum=commission_min,
            max_pct=commission_max_pct / 100.0,
        )
    elif commission_min:
        raise fail("--commission-min needs --commission-pct or --commission-per-share")
    else:
        commission = CommissionModel()
    return BacktestConfig(
        cash=cash,
        size_fraction=size_fraction,
        allow_short=allow_short,
        commission=commission,
        slippage_bps=slippage_bps,
        stop_loss=stop_loss,
        take_profit=take_profit,
        trailing_stop=trailing_stop,
        periods_per_year=periods_per_year,
    )


def _num(x: float) -> float | None:
    """JSON has no NaN: undefined metrics (no trades, flat equity) become null."""
    return None if math.isnan(x) or math.isinf(x) else x


def result_json(
    strategy: str, params: dict[str, Any], n_bars: int, r: BacktestResult
) -> dict[str, Any]:
    m = r.metrics
    return {
        "strategy": strategy,
        "params": params,
        "bars": n_bars,
        "n_trades": m.n_trades,
        "total_return": _num(m.total_return),
        "cagr": _num(m.cagr),
        "sharpe": _num(m.sharpe),
        "sortino": _num(m.sortino),
        "max_drawdown": _num(m.max_drawdown),
        "win_rate": _num(m.win_rate),
        "exposure": _num(m.exposure),
        "equity_final": m.equity_final,
        "trades": [
            {
                "symbol": t.symbol,
                "side": t.side,
                "entry_time": t.entry_time,
                "entry_price": t.entry_price,
                # A trade still open at the end has no exit: priced at the last close.
                "exit_time": None if t.exit_reason == "open" else t.exit_time,
                "exit_price": t.exit_price,
                "size": int(t.size),  # whole shares
                "pnl": t.pnl,
                "return_pct": t.return_pct,
            }
            for t in r.trades
        ],
    }


def print_report(data: dict[str, Any], result: BacktestResult, shown: int = 20) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console(highlight=False)
    summary = Table("metric", "value", title=f"backtest {data['strategy']} {data['params']}")
    pct = {"total_return", "cagr", "max_drawdown", "win_rate", "exposure"}
    for key in ("bars", "n_trades", *sorted(pct), "sharpe", "sortino", "equity_final"):
        value = data[key]
        if value is None:
            text = "n/a"
        elif key in pct:
            text = f"{value * 100:.2f} %"
        elif isinstance(value, float):
            text = f"{value:,.2f}" if key == "equity_final" else f"{value:.3f}"
        else:
            text = str(value)
        summary.add_row(key, text)
    console.print(summary)
    if result.trades:
        more = len(result.trades) - shown
        print_trades(result.trades[-shown:])
        if more > 0:
            console.print(f"({more} earlier trades not shown; use --json for all)")


TRADE_COLUMNS = ("side", "entry", "price", "exit", "price", "size", "pnl", "ret %", "reason")


def trade_cells(t: Any) -> list[str]:
    return [t.side, t.entry_time, f"{t.entry_price:.2f}", t.exit_time, f"{t.exit_price:.2f}",
            f"{t.size:g}", f"{t.pnl:,.0f}", f"{t.return_pct:.2f}", t.exit_reason]  # fmt: skip


def print_trades(trades: Any) -> None:
    print_rows(TRADE_COLUMNS, [trade_cells(t) for t in trades], right={2, 4, 5, 6, 7})


def write_plot(result: BacktestResult, title: str, out: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from tools.backtest.metrics import drawdown_series

    ts = result.timestamps
    fig, (ax_eq, ax_dd) = plt.subplots(
        2, 1, sharex=True, figsize=(10, 6), gridspec_kw={"height_ratios": [3, 1]}
    )
    ax_eq.plot(ts, result.equity, lw=1.0)
    ax_eq.set_title(title)
    ax_eq.set_ylabel("equity")
    ax_eq.grid(alpha=0.3)
    ax_dd.fill_between(ts, -100.0 * drawdown_series(result.equity), 0.0, color="tab:red", alpha=0.5)
    ax_dd.set_ylabel("drawdown %")
    ax_dd.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(out, dpi=100)
    plt.close(fig)


@handle_errors
def backtest(
    data: Path = typer.Option(..., "--data", help="Bar file (CSV, CSV.GZ or Parquet)."),
    strategy: str = typer.Option(
        ..., "--strategy", help="ma_crossover | momentum | mean_reversion | breakout"
    ),
    param: list[str] = typer.Option(
        [], "--param", help="Strategy parameter name=value (repeatable)."
    ),
    commission_pct: float | None = typer.Option(
        None, "--commission-pct", help="Commission in percent of trade value (0.1 = 0.1 %)."
    ),
    commission_per_share: float | None = typer.Option(
        None, "--commission-per-share", help="Commission per share (IBKR fixed: 0.005)."
    ),
    commission_min: float = typer.Option(
        0.0, "--commission-min", help="Minimum commission per order."
    ),
    commission_max_pct: float = typer.Option(
        0.0,
        "--commission-max-pct",
        help="Per-share commission cap, percent of trade value (IBKR: 1).",
    ),
    slippage_bps: float = typer.Option(
        0.0, "--slippage-bps", help="Slippage against the trader, basis points."
    ),
    size_fraction: float = typer.Option(
        1.0, "--size-fraction", help="Fraction of equity per position (0-1]."
    ),
    cash: float = typer.Option(100_000.0, "--cash", help="Starting cash."),
    allow_short: bool = typer.Option(
        False, "--allow-short", help="Take short signals (default: long only)."
    ),
    stop_loss: float = typer.Option(
        0.0, "--stop-loss", help="Stop-loss as a fraction of entry (0.05 = 5 %)."
    ),
    take_profit: float = typer.Option(
        0.0, "--take-profit", help="Take-profit as a fraction of entry."
    ),
    trailing_stop: float = typer.Option(
        0.0, "--trailing-stop", help="Trailing stop as a fraction of the best price."
    ),
    periods_per_year: float | None = typer.Option(
        None,
        "--periods-per-year",
        help="Bars per year for Sharpe, Sortino and CAGR (default: inferred from the bar "
        "spacing; 252 for daily bars).",
    ),
    unadjusted: bool = typer.Option(
        False, "--unadjusted", help="Use raw prices instead of split/dividend-adjusted."
    ),
    json_out: bool = typer.Option(False, "--json", help="Print the result as one JSON object."),
    plot: Path | None = typer.Option(None, "--plot", help="Write an equity + drawdown PNG here."),
) -> None:
    """Backtest one strategy on one file; exit 1 if the file fails validation."""
    from adapters.marketdata.files import load_bars
    from tools.backtest import run_bars
    from tools.strategies import get_strategy, signal_for

    get_strategy(strategy)  # unknown name: fail before reading data
    require_files([data], "--data")
    overrides = parse_params(param)
    if periods_per_year is not None and not (0.0 < periods_per_year < math.inf):
        raise fail(f"--periods-per-year must be a positive number, not {periods_per_year}")
    config = build_config(
        cash=cash,
        size_fraction=size_fraction,
        commission_pct=commission_pct,
        commission_per_share=commission_per_share,
        commission_min=commission_min,
        commission_max_pct=commission_max_pct,
        slippage_bps=slippage_bps,
        allow_short=allow_short,
        stop_loss=stop_loss,
        take_profit=take_profit,
        trailing_stop=trailing_stop,
        periods_per_year=periods_per_year or 252.0,
    )
    bars = load_bars(data)
    if not unadjusted:
        bars = bars.adjusted_view()
    if periods_per_year is None:
        inferred = infer_periods_per_year(bars.timestamps)
        config = config.model_copy(update={"periods_per_year": inferred})
    signal, params = signal_for(strategy, bars.open, bars.high, bars.low, bars.close, overrides)
    result = run_bars(bars, signal, config)
    out = result_json(strategy, params, len(bars), result)
    if plot is not None:
        write_plot(result, f"{bars.symbol} {strategy} {params}", plot)
    if json_out:
        print_json(out)
    else:
        print_report(out, result)
        if plot is not None:
            typer.echo(f"plot written to {plot}")
