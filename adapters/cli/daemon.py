"""`quorum daemon`: the unattended daily cycle, and `quorum daemon status`."""

from __future__ import annotations

from typing import Any

import typer

from adapters.cli.common import EXIT_INVALID, fail, handle_errors, open_store, print_json, settings

daemon_app = typer.Typer(
    help="The unattended daily cycle: runs at schedule.run_at on the exchange's sessions.",
)


def register(app: typer.Typer) -> None:
    app.add_typer(daemon_app, name="daemon")


def parse_groups(raw: list[str]) -> list[tuple[str, str]]:
    out: list[tuple[str, str]] = []
    for item in raw:
        topic, sep, group = item.rpartition(":")
        if not sep or not topic or not group:
            raise fail(f"--bus-group must look like TOPIC:GROUP, not {item!r}")
        out.append((topic, group))
    return out


def grace_of(minutes: int) -> Any:
    from datetime import timedelta

    return timedelta(minutes=minutes)


def facts_of(event: Any) -> str:
    """``orders=1 fills=2 rejections=0 equity=100000.0`` of a ``ran`` event."""
    skip = ("status", "report")
    return " ".join(f"{k}={v}" for k, v in event.summary.items() if k not in skip and v is not None)


@daemon_app.callback(invoke_without_command=True)
@handle_errors
def daemon(
    ctx: typer.Context,
    once: bool = typer.Option(
        False,
        "--once",
        help="Run one cycle now and exit: the session whose slot is open now (run_at .. "
        "run_at + grace), else the newest session already due that has bars.",
    ),
    session: str | None = typer.Option(
        None,
        "--session",
        help="With --once: run this session (YYYY-MM-DD, an exchange session) instead.",
    ),
    grace_minutes: int = typer.Option(
        180,
        "--grace-minutes",
        min=1,
        max=720,
        help="How long after run_at a session's cycle may still start; later it is "
        "reported missed, never traded late.",
    ),
    health_port: int | None = typer.Option(
        None,
        "--health-port",
        min=0,
        max=65535,
        help="Port of GET /healthz and /metrics (default daemon.health_port, 9108; "
        "0: any free port). With --once, only served if given.",
    ),
    health_host: str | None = typer.Option(
        None, "--health-host", help="Address to serve on (default daemon.health_host)."
    ),
    no_health: bool = typer.Option(False, "--no-health", help="Serve no /healthz, /metrics."),
    bus_group: list[str] = typer.Option(
        [], "--bus-group", help="TOPIC:GROUP whose pending count /metrics reports (repeat)."
    ),
    json_out: bool = typer.Option(False, "--json", help="With --once: the result as JSON."),
) -> None:
    """Run the daily cycle on schedule until SIGTERM / Ctrl-C (which stop a running cycle
    after its current step; `quorum cycle run --date D` resumes it). One daemon per
    account: a second one exits at once naming the holder. See docs/operations.md."""
    if ctx.invoked_subcommand is not None:
        return
    import asyncio
    import logging
    from datetime import date

    from adapters.daemon.runtime import DaemonOptions, run_daemon, schedule_of

    if session is not None and not once:
        raise fail("--session needs --once (the schedule picks the sessions otherwise)")
    try:
        chosen = date.fromisoformat(session) if session else None
    except ValueError:
        raise fail(f"--session must be YYYY-MM-DD, not {session!r}") from None
    s = settings()
    logging.getLogger("quorum.daemon").setLevel(logging.INFO)  # a daemon's log is its record
    grace = grace_of(grace_minutes)
    schedule = schedule_of(s, grace)  # bad [schedule] settings fail before anything starts
    options = DaemonOptions(
        once=once,
        session=chosen,
        grace=grace,
        health=not no_health and (not once or health_port is not None),
        health_host=health_host,
        health_port=health_port,
        bus_groups=parse_groups(bus_group),
    )

    def ready(status: Any, server: Any) -> None:
        where = f"; health on http://{server.host}:{server.port}/healthz" if server else ""
        mode = "one cycle" if once else f"{s.schedule.exchange} sessions at {s.schedule.run_at}"
        typer.echo(
            f"quorum daemon: {mode} ({schedule.timezone.key}, grace {grace}){where}", err=True
        )

    event = asyncio.run(run_daemon(s, options, on_ready=ready))
    if event is None:
        typer.echo("quorum daemon stopped", err=True)
        return
    if json_out:
        print_json(event.model_dump(mode="json"))
    else:
        typer.echo(f"{event.session} {event.kind.value}: {event.detail} {facts_of(event)}".rstrip())
        if event.summary.get("report"):
            typer.echo(f"report: {event.summary['report']}")
    if event.kind.value == "failed":
        raise typer.Exit(EXIT_INVALID)


@daemon_app.command("status")
@handle_errors
def status(
    last: int = typer.Option(10, "-n", "--last", min=0, help="How many recent events."),
    grace_minutes: int = typer.Option(180, "--grace-minutes", min=1, max=720),
    json_out: bool = typer.Option(False, "--json", help="Machine-readable status."),
) -> None:
    """Is a daemon running (and who), the next run, the last success, missed sessions
    and the recent events (ran, failed, missed, holiday, stopped)."""
    from datetime import UTC, datetime

    from adapters.daemon.lock import describe, holder_of, instance_lock, is_held_elsewhere
    from adapters.daemon.runtime import schedule_of
    from workflows.daemon import DaemonRecord, EventKind

    s = settings()
    schedule = schedule_of(s, grace_of(grace_minutes))
    store = open_store(s)
    try:
        record = DaemonRecord(store)
        events = record.events()
        holder = holder_of(store)
        last_session = record.last_session()
    finally:
        store.close()
    running = is_held_elsewhere(instance_lock(s))
    nxt = schedule.next_slot(datetime.now(UTC))
    ran = [e for e in events if e.kind is EventKind.RAN]
    doc = {
        "running": running,
        "holder": holder if running else None,
        "schedule": {
            "exchange": schedule.exchange,
            "timezone": schedule.timezone.key,
            "run_at": s.schedule.run_at,
            "grace_minutes": grace_minutes,
        },
        "next_run": {
            "session": nxt.session.isoformat(),
            "due": nxt.due.isoformat(),
            "deadline": nxt.deadline.isoformat(),
        },
        "last_session": last_session.isoformat() if last_session else None,
        "last_success": ran[-1].at.isoformat() if ran else None,
        "missed": [e.model_dump(mode="json") for e in events if e.kind is EventKind.MISSED],
        "events": [e.model_dump(mode="json") for e in (events[-last:] if last else [])],
    }
    if json_out:
        print_json(doc)
        return
    typer.echo(f"daemon: {'running, ' + describe(holder) if running else 'not running'}")
    typer.echo(
        f"schedule: {schedule.exchange} sessions at {s.schedule.run_at} {schedule.timezone.key},"
        f" grace {grace_minutes} min; next run {nxt.session} at {nxt.due.isoformat()}"
    )
    typer.echo(
        f"last session settled: {doc['last_session'] or '-'};"
        f" last success: {doc['last_success'] or '-'}"
    )
    missed = [e for e in events if e.kind is EventKind.MISSED]
    typer.echo(f"missed sessions: {len(missed)}")
    for e in missed[-last:] if last else []:
        typer.echo(f"  {e.session} missed: {e.detail}")
    if doc["events"]:
        typer.echo("recent events:")
    for e in events[-last:] if last else []:
        typer.echo(
            f"  {e.session} {e.kind.value:<11} {e.at.isoformat(timespec='seconds')}"
            f" {e.detail} {facts_of(e)}".rstrip()
        )
