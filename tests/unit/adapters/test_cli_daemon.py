"""`quorum daemon status` over a recorded history, and the options refused before anything
starts."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from pathlib import Path

import pytest
from typer.testing import CliRunner

from adapters.cli.main import app
from adapters.storage.sqlite import SqliteStore
from workflows.daemon import DaemonEvent, DaemonRecord, EventKind

AT = datetime(2012, 11, 21, 22, 0, tzinfo=UTC)


def _history() -> None:
    store = SqliteStore(Path("var") / "quorum.db")
    record = DaemonRecord(store)
    record.append(
        DaemonEvent(
            kind=EventKind.RAN,
            session=date(2012, 11, 19),
            at=AT,
            summary={"status": "completed", "orders": 2, "fills": 1},
        )
    )
    record.append(
        DaemonEvent(
            kind=EventKind.MISSED,
            session=date(2012, 11, 20),
            at=AT,
            detail="not started by 2012-11-21T00:30:00+00:00",
        )
    )
    record.settle(date(2012, 11, 20))
    store.close()


def test_status_when_history_recorded_then_json_has_missed_and_last_success() -> None:
    _history()
    result = CliRunner().invoke(app, ["daemon", "status", "--json"])
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    assert doc["running"] is False and doc["holder"] is None
    assert doc["last_session"] == "2012-11-20"
    assert doc["last_success"] == AT.isoformat()
    assert [m["session"] for m in doc["missed"]] == ["2012-11-20"]
    assert [e["kind"] for e in doc["events"]] == ["ran", "missed"]
    assert doc["schedule"] == {
        "exchange": "XNYS",
        "timezone": "America/New_York",
        "run_at": "16:30",
        "grace_minutes": 180,
    }
    assert doc["next_run"]["due"] < doc["next_run"]["deadline"]


def test_status_when_history_recorded_then_text_names_each_event() -> None:
    _history()
    result = CliRunner().invoke(app, ["daemon", "status"])
    assert result.exit_code == 0
    assert "daemon: not running" in result.stdout
    assert "missed sessions: 1" in result.stdout
    assert "2012-11-20 missed: not started by 2012-11-21T00:30:00+00:00" in result.stdout
    assert "2012-11-19 ran" in result.stdout and "orders=2 fills=1" in result.stdout


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["daemon", "--session", "2013-02-27"], "--session needs --once"),
        (["daemon", "--once", "--session", "27/02/2013"], "--session must be YYYY-MM-DD"),
        (["daemon", "--bus-group", "nocolon"], "--bus-group must look like TOPIC:GROUP"),
    ],
)
def test_daemon_when_an_option_is_bad_then_refused_before_starting(
    args: list[str], message: str
) -> None:
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 2
    assert message in result.stderr
    assert not (Path("var") / "daemon.lock").exists()


def test_daemon_when_schedule_setting_is_bad_then_exit_2_naming_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("QUORUM_SCHEDULE__TIMEZONE", "Mars/Olympus")
    result = CliRunner().invoke(app, ["daemon", "--once"])
    assert result.exit_code == 2
    assert "schedule.timezone: unknown time zone 'Mars/Olympus'" in result.stderr
