"""`quorum data validate`: check bar files before anything trades on them.
`quorum data fetch`: download daily bars from IBKR into the store's cache."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import typer

from adapters.cli.common import EXIT_INVALID, fail, handle_errors, print_json, require_files

data_app = typer.Typer(
    help="Market data: validate bar files; fetch IBKR daily bars into the cache.",
    no_args_is_help=True,
)
PROVIDERS = ("ibkr", "csv", "files")


def register(app: typer.Typer) -> None:
    app.add_typer(data_app, name="data")


@data_app.command("validate")
@handle_errors
def validate(
    files: list[Path] = typer.Argument(..., help="CSV, CSV.GZ or Parquet bar files."),
    json_out: bool = typer.Option(
        False, "--json", help="One JSON object per file per line: file, ok, rows, errors, warnings."
    ),
    max_jump: float = typer.Option(
        0.4, help="Warn when a close moves more than this fraction in one bar."
    ),
) -> None:
    """Validate bar files. Exits 1 if any file has errors; warnings alone pass; exits 2,
    before reading any, if a file is missing.

    Every problem names the file, the row (as numbered in the file: CSV header = row 1),
    the field and the rule broken.
    """
    require_files(files)
    from rich.console import Console
    from rich.markup import escape

    from adapters.marketdata.files import validate_file
    from adapters.marketdata.validation import ValidationOptions

    options = ValidationOptions(max_jump=max_jump)
    console = Console(stderr=False, highlight=False)
    any_bad = False
    for path in files:
        report, _ = validate_file(path, options)
        any_bad |= not report.ok
        if json_out:
            typer.echo(json.dumps(report.model_dump(mode="json")))
            continue
        status = "[green]ok[/]" if report.ok else "[red]INVALID[/]"
        console.print(
            f"{report.file}: {status} — {report.rows} rows, {len(report.errors)} errors, "
            f"{len(report.warnings)} warnings"
        )
        for p in report.errors:
            console.print(f"  [red]error[/] {escape(p.render(report.file))}")
        for p in report.warnings:
            console.print(f"  [yellow]warning[/] {escape(p.render(report.file))}")
    if any_bad:
        raise typer.Exit(EXIT_INVALID)


def _parse_symbols(text: str) -> list[str]:
    symbols = list(dict.fromkeys(t.strip().upper() for t in text.split(",") if t.strip()))
    if not symbols:
        raise fail("--symbols needs at least one symbol, e.g. --symbols AAPL,MSFT", EXIT_INVALID)
    return symbols


def _parse_day(text: str | None, option: str) -> Any:
    from datetime import date

    if text is None:
        return None
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise fail(f"{option} must be YYYY-MM-DD, not {text!r}", EXIT_INVALID) from None


@data_app.command("fetch")
@handle_errors
def fetch(
    symbols: str = typer.Option(..., "--symbols", help="Comma-separated, e.g. AAPL,MSFT."),
    start: str = typer.Option(..., "--from", help="First day wanted, YYYY-MM-DD."),
    end: str | None = typer.Option(
        None, "--to", help="Last day wanted (default: the last session that has closed)."
    ),
    provider: str = typer.Option(
        "ibkr", "--provider", help="ibkr (downloaded, cached in the store), csv or files (read)."
    ),
    host: str | None = typer.Option(None, "--host", help="TWS / IB Gateway host (ibkr)."),
    port: int | None = typer.Option(None, "--port", help="TWS / IB Gateway port (ibkr)."),
    json_out: bool = typer.Option(False, "--json", help="Machine-readable result per symbol."),
) -> None:
    """Fill the market data cache with daily bars for --from .. --to.

    With ibkr (settings broker.ibkr host/port, client id marketdata.ibkr_client_id)
    only days the cache has not been asked for are requested, paced by IB's rules;
    run it again and nothing is downloaded twice. csv and files read and check the
    local files. Exits 1 when a symbol failed or TWS cannot be reached.
    """
    from adapters.cli.common import open_store, settings

    wanted = _parse_symbols(symbols)
    first, last = _parse_day(start, "--from"), _parse_day(end, "--to")
    if last is not None and last < first:
        raise fail(f"--to {last} is before --from {first}", EXIT_INVALID)
    if provider not in PROVIDERS:
        raise fail(f"unknown --provider {provider!r}; valid: {', '.join(PROVIDERS)}")
    s = settings()
    store = open_store(s) if provider == "ibkr" else None
    try:
        rows = _fetch_rows(s, provider, wanted, first, last, store, host, port)
    finally:
        if store is not None:
            store.close()
    if json_out:
        print_json({"provider": provider, "from": first, "to": last, "symbols": rows})
    else:
        for row in rows:
            if row["ok"]:
                typer.echo(f"{row['symbol']}: {row['bars']} bars {row['first']} .. {row['last']}"
                           f" ({provider}, {row['requests']} request(s))")  # fmt: skip
            else:
                typer.echo(f"{row['symbol']}: {row['code']}: {row['error']}", err=True)
    if not all(row["ok"] for row in rows):
        raise typer.Exit(EXIT_INVALID)


def _fetch_rows(
    s: Any,
    provider: str,
    symbols: list[str],
    first: Any,
    last: Any,
    store: Any,
    host: str | None,
    port: int | None,
) -> list[dict[str, Any]]:
    """One result per symbol; TWS being unreachable stops everything (one error line)."""
    from adapters.marketdata.factory import DATA_SUBDIR, csv_folder, make_ibkr_market
    from adapters.marketdata.failover import FailoverReason, classify
    from adapters.marketdata.files import FileMarketData
    from adapters.marketdata.ibkr import GatewayDownError
    from core.errors import ConfigurationError, QuorumError

    if provider == "ibkr":
        market: Any = make_ibkr_market(s, store=store, host=host, port=port)  # None: settings
    else:
        folder = csv_folder(s) if provider == "csv" else s.data_dir / DATA_SUBDIR
        market = FileMarketData(folder)
    rows: list[dict[str, Any]] = []
    try:
        for symbol in symbols:
            before = getattr(market, "requests_sent", 0)
            row: dict[str, Any] = {"symbol": symbol, "provider": provider}
            try:
                bars = market.bars(symbol, start=first, end=last, adjusted=False)
            except GatewayDownError as exc:
                raise fail(str(exc), EXIT_INVALID) from None
            except ConfigurationError:
                raise
            except (QuorumError, KeyError, OSError) as exc:
                rows.append({**row, "ok": False, "code": str(classify(exc)), "error": str(exc)})
                continue
            days = bars.timestamps.astype("datetime64[D]")
            requests = getattr(market, "requests_sent", 0) - before
            if not len(days):
                rows.append({**row, "ok": False, "code": str(FailoverReason.NO_DATA),
                             "error": f"no bars in {first} .. {last or 'latest'}",
                             "requests": requests})  # fmt: skip
                continue
            rows.append({**row, "ok": True, "bars": len(days), "first": str(days[0]),
                         "last": str(days[-1]), "requests": requests})  # fmt: skip
    finally:
        closer = getattr(market, "close", None)
        if callable(closer):
            closer()
    return rows
