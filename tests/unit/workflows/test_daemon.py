"""The daemon's schedule and loop on a fake clock, over real XNYS sessions (Thanksgiving
week 2012: Thursday 22 is a holiday) and a real SQLite record. Time here is the fake
clock's only; nothing waits on the wall clock."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from adapters.storage.sqlite import SqliteStore
from core.errors import ConfigurationError, TemporaryError
from core.notifications import CycleFailed, CycleFinished, CycleMissed, Notification
from tests.fixtures.clock import NY, FakeClock
from workflows.daemon import (
    Daemon,
    DaemonRecord,
    EventKind,
    Schedule,
)
from workflows.runner import CycleStoppedError
from workflows.service import CYCLES


def ny(day: int, hour: int, minute: int = 0, month: int = 11) -> datetime:
    return datetime(2012, month, day, hour, minute, tzinfo=NY)


def nov(day: int) -> date:
    return date(2012, 11, day)


class Runner:
    """Stands in for the cycle: records the sessions and fake time it ran at; ``script``
    maps a session to exceptions to raise on its successive calls."""

    def __init__(self, clock: FakeClock, script: dict[date, list[Exception]] | None = None):
        self.clock = clock
        self.script = {k: list(v) for k, v in (script or {}).items()}
        self.calls: list[tuple[date, datetime]] = []

    async def __call__(self, session: date) -> dict[str, Any]:
        self.calls.append((session, self.clock.now()))
        pending = self.script.get(session)
        if pending:
            raise pending.pop(0)
        return {"cycle_id": f"cycle-{session}", "status": "completed", "orders": [{}],
                "fills": 2, "rejected": [], "equity": 100_000.0, "report": "r.html"}  # fmt: skip

    @property
    def sessions(self) -> list[date]:
        return [s for s, _ in self.calls]


class Notes:
    def __init__(self) -> None:
        self.sent: list[Notification] = []

    def notify(self, notification: Notification) -> None:
        self.sent.append(notification)

    def of(self, kind: type) -> list[Any]:
        return [n for n in self.sent if isinstance(n, kind)]


@pytest.fixture
def store(tmp_path: Path) -> Iterator[SqliteStore]:
    db = SqliteStore(tmp_path / "q.db")
    yield db
    db.close()


SCHEDULE = Schedule.build("XNYS", "America/New_York", "16:30")


def make_daemon(store: SqliteStore, clock: FakeClock, runner: Runner, notes: Notes) -> Daemon:
    return Daemon(SCHEDULE, clock, runner, DaemonRecord(store), notes)


def kinds(store: SqliteStore, kind: EventKind) -> list[date]:
    return [e.session for e in DaemonRecord(store).events() if e.kind is kind]


async def test_run_forever_when_thanksgiving_week_then_sessions_run_at_run_at_and_holiday_recorded(
    store: SqliteStore,
) -> None:
    clock = FakeClock(ny(19, 12), stop_at=ny(26, 12))  # Monday noon .. next Monday noon
    runner, notes = Runner(clock), Notes()
    await make_daemon(store, clock, runner, notes).run_forever()

    assert runner.sessions == [nov(19), nov(20), nov(21), nov(23)]
    assert [at.astimezone(NY) for _, at in runner.calls] == [
        ny(d, 16, 30) for d in (19, 20, 21, 23)
    ]
    assert kinds(store, EventKind.RAN) == [nov(19), nov(20), nov(21), nov(23)]
    assert kinds(store, EventKind.HOLIDAY) == [nov(22)]  # weekends are not events
    assert kinds(store, EventKind.MISSED) == []
    assert [n.as_of for n in notes.of(CycleFinished)] == ["2012-11-19", "2012-11-20",
                                                          "2012-11-21", "2012-11-23"]  # fmt: skip
    assert notes.of(CycleFinished)[0].fills == 2 and notes.of(CycleFinished)[0].orders == 1
    assert DaemonRecord(store).last_session() == nov(23)


async def test_restart_when_daemon_was_down_over_two_sessions_then_both_reported_missed_not_traded(
    store: SqliteStore,
) -> None:
    clock = FakeClock(ny(19, 12), stop_at=ny(19, 18))
    runner, notes = Runner(clock), Notes()
    await make_daemon(store, clock, runner, notes).run_forever()  # Monday runs, then down
    assert runner.sessions == [nov(19)]

    clock = FakeClock(ny(21, 22), stop_at=ny(24, 12))  # back Wednesday 22:00, after grace
    runner = Runner(clock)
    await make_daemon(store, clock, runner, notes).run_forever()

    assert runner.sessions == [nov(23)]  # Tuesday and Wednesday are not traded late
    assert kinds(store, EventKind.MISSED) == [nov(20), nov(21)]
    assert kinds(store, EventKind.HOLIDAY) == [nov(22)]
    missed = notes.of(CycleMissed)
    assert [m.session for m in missed] == ["2012-11-20", "2012-11-21"]
    assert "the daemon was down or woke too late" in missed[0].reason
    notes_in_journal = store.messages_by_cycle("cycle-2012-11-20")
    assert [m.payload.topic for m in notes_in_journal] == ["cycle_missed"]  # type: ignore[union-attr]


async def test_run_forever_when_wake_up_is_later_than_the_grace_window_then_that_session_is_missed(
    store: SqliteStore,
) -> None:
    # Tuesday's wake-up (16:30) happens at 20:00: 3 h 30 late, grace is 3 h.
    clock = FakeClock(
        ny(19, 12), stop_at=ny(21, 20), late={nov(20): timedelta(hours=3, minutes=30)}
    )
    runner, notes = Runner(clock), Notes()
    await make_daemon(store, clock, runner, notes).run_forever()
    assert runner.sessions == [nov(19), nov(21)]
    assert kinds(store, EventKind.MISSED) == [nov(20)]
    assert [m.session for m in notes.of(CycleMissed)] == ["2012-11-20"]


async def test_run_forever_when_wake_up_is_late_but_inside_grace_then_the_session_still_runs(
    store: SqliteStore,
) -> None:
    clock = FakeClock(
        ny(19, 12), stop_at=ny(20, 23), late={nov(20): timedelta(hours=2, minutes=59)}
    )
    runner = Runner(clock)
    await make_daemon(store, clock, runner, Notes()).run_forever()
    assert runner.sessions == [nov(19), nov(20)]
    assert runner.calls[1][1].astimezone(NY) == ny(20, 19, 29)
    assert kinds(store, EventKind.MISSED) == []


async def test_first_start_when_after_the_grace_window_then_earlier_sessions_are_not_reported(
    store: SqliteStore,
) -> None:
    clock = FakeClock(ny(19, 23), stop_at=ny(20, 23))  # first ever start: Monday 23:00
    runner, notes = Runner(clock), Notes()
    await make_daemon(store, clock, runner, notes).run_forever()
    assert runner.sessions == [nov(20)]
    assert notes.of(CycleMissed) == [] and kinds(store, EventKind.MISSED) == []


async def test_cycle_when_it_fails_for_good_then_failure_is_notified_and_the_next_session_runs(
    store: SqliteStore,
) -> None:
    clock = FakeClock(ny(20, 12), stop_at=ny(23, 23))
    runner = Runner(clock, {nov(21): [ConfigurationError("no bars for 2012-11-21")]})
    notes = Notes()
    await make_daemon(store, clock, runner, notes).run_forever()
    assert runner.sessions == [nov(20), nov(21), nov(23)]  # a final failure is not retried
    assert kinds(store, EventKind.FAILED) == [nov(21)]
    [failed] = notes.of(CycleFailed)
    assert failed.cycle_id == "cycle-2012-11-21"
    assert failed.error == "ConfigurationError: no bars for 2012-11-21"


async def test_cycle_when_a_temporary_error_then_retried_inside_the_window_and_runs(
    store: SqliteStore,
) -> None:
    clock = FakeClock(ny(20, 12), stop_at=ny(20, 23))
    runner = Runner(clock, {nov(20): [TemporaryError("broker unreachable")] * 2})
    notes = Notes()
    await make_daemon(store, clock, runner, notes).run_forever()
    assert [at.astimezone(NY) for _, at in runner.calls] == [ny(20, 16, 30), ny(20, 16, 35),
                                                             ny(20, 16, 40)]  # fmt: skip
    assert kinds(store, EventKind.FAILED) == [nov(20), nov(20)]
    assert kinds(store, EventKind.RAN) == [nov(20)]
    assert notes.of(CycleFailed) == [] and len(notes.of(CycleFinished)) == 1


async def test_cycle_when_a_temporary_error_lasts_to_the_deadline_then_the_last_try_fails_it(
    store: SqliteStore,
) -> None:
    clock = FakeClock(ny(20, 12), stop_at=ny(21, 12))
    runner = Runner(clock, {nov(20): [TemporaryError("broker unreachable")] * 100})
    notes = Notes()
    await make_daemon(store, clock, runner, notes).run_forever()
    assert len(runner.calls) == 36  # 16:30 .. 19:25 every 5 minutes; 19:30 is the deadline
    [failed] = notes.of(CycleFailed)
    assert failed.error == "TemporaryError: broker unreachable"
    assert notes.of(CycleMissed) == [] and kinds(store, EventKind.FAILED) == [nov(20)] * 36


async def test_cycle_when_retrying_and_waking_after_the_deadline_then_missed_with_the_error(
    store: SqliteStore,
) -> None:
    clock = FakeClock(ny(20, 12), stop_at=ny(21, 12), late={nov(20): timedelta(hours=4)})
    runner = Runner(clock, {nov(20): [TemporaryError("broker unreachable")] * 100})
    notes = Notes()
    daemon = make_daemon(store, clock, runner, notes)
    clock.advance(ny(20, 16, 30))
    await daemon.tick()  # fails, retry at 16:35
    await clock.sleep_until(daemon.wake_at(), daemon.stop)  # oversleeps to 20:35
    await daemon.tick()
    assert len(runner.calls) == 1
    [missed] = notes.of(CycleMissed)
    assert missed.session == "2012-11-20"
    assert "still failing" in missed.reason and "broker unreachable" in missed.reason


async def test_tick_when_the_session_already_finished_elsewhere_then_not_run_again(
    store: SqliteStore,
) -> None:
    store.put_document(CYCLES, "cycle-2012-11-20", {"summary": {"status": "completed"}})
    clock = FakeClock(ny(20, 12), stop_at=ny(20, 23))
    runner = Runner(clock)
    await make_daemon(store, clock, runner, Notes()).run_forever()
    assert runner.sessions == []
    assert kinds(store, EventKind.ALREADY_RUN) == [nov(20)]


async def test_stop_when_the_cycle_stops_mid_way_then_session_stays_open_and_a_restart_runs_it(
    store: SqliteStore,
) -> None:
    clock = FakeClock(ny(20, 12), stop_at=ny(20, 23))
    daemon = make_daemon(store, clock, Runner(clock), Notes())

    async def stopped_by_sigterm(session: date) -> dict[str, Any]:
        daemon.stop.set()  # what the SIGTERM handler does while the cycle runs
        raise CycleStoppedError(f"cycle-{session}", "risk_gate")

    daemon.run_cycle = stopped_by_sigterm
    await daemon.run_forever()
    assert kinds(store, EventKind.STOPPED) == [nov(20)]
    assert DaemonRecord(store).last_session() == nov(19)  # not settled
    assert clock.sleeps == [ny(20, 16, 30)]  # no sleep after the stop: the loop ended

    clock.advance(ny(20, 17))  # restarted inside the window: the same session runs
    runner = Runner(clock)
    await make_daemon(store, clock, runner, Notes()).tick()
    assert runner.sessions == [nov(20)]
    assert kinds(store, EventKind.RAN) == [nov(20)]


async def test_run_once_when_a_slot_is_open_then_runs_that_session_as_scheduled(
    store: SqliteStore,
) -> None:
    clock = FakeClock(ny(21, 17), stop_at=ny(21, 18))
    runner = Runner(clock)
    event = await make_daemon(store, clock, runner, Notes()).run_once(last_data_day=nov(21))
    assert runner.sessions == [nov(21)] and event.kind is EventKind.RAN and not event.manual
    assert DaemonRecord(store).last_session() == nov(21)


async def test_run_once_when_nothing_is_due_then_runs_the_newest_due_session_with_data(
    store: SqliteStore,
) -> None:
    clock = FakeClock(ny(22, 10), stop_at=ny(22, 11))  # Thanksgiving morning
    runner = Runner(clock)
    event = await make_daemon(store, clock, runner, Notes()).run_once(last_data_day=None)
    assert runner.sessions == [nov(21)] and event.manual

    clock = FakeClock(datetime(2025, 6, 2, 12, tzinfo=NY), stop_at=datetime(2025, 6, 3, tzinfo=NY))
    runner = Runner(clock)  # the data ends on a Sunday: its last session is the Friday
    event = await make_daemon(store, clock, runner, Notes()).run_once(
        last_data_day=date(2013, 3, 3)
    )
    assert runner.sessions == [date(2013, 3, 1)] and event.kind is EventKind.RAN
    assert DaemonRecord(store).last_session() is None  # a manual catch-up settles nothing


async def test_run_once_when_the_cycle_fails_then_failed_event_and_notification(
    store: SqliteStore,
) -> None:
    clock = FakeClock(ny(21, 17), stop_at=ny(21, 18))
    runner = Runner(clock, {nov(21): [TemporaryError("gateway down")]})
    notes = Notes()
    event = await make_daemon(store, clock, runner, notes).run_once(last_data_day=nov(21))
    assert event.kind is EventKind.FAILED and runner.sessions == [nov(21)]  # no retry
    assert [n.error for n in notes.of(CycleFailed)] == ["TemporaryError: gateway down"]


def test_schedule_when_daylight_saving_changes_then_run_at_stays_local() -> None:
    winter = SCHEDULE.slot(nov(20))
    summer = SCHEDULE.slot(date(2012, 7, 10))
    assert winter.due == datetime(2012, 11, 20, 21, 30, tzinfo=UTC)
    assert summer.due == datetime(2012, 7, 10, 20, 30, tzinfo=UTC)
    assert winter.deadline - winter.due == timedelta(hours=3)


def test_schedule_when_hurricane_sandy_closed_the_exchange_then_those_days_are_holidays() -> None:
    assert SCHEDULE.holidays(date(2012, 10, 26), date(2012, 10, 31)) == [
        date(2012, 10, 29),
        date(2012, 10, 30),
    ]
    next_slot = SCHEDULE.next_slot(datetime(2012, 10, 26, 22, tzinfo=UTC))
    assert next_slot.session == date(2012, 10, 31)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"exchange": "XNOPE"}, "unknown exchange calendar 'XNOPE'"),
        ({"timezone": "Mars/Olympus"}, "unknown time zone 'Mars/Olympus'"),
        ({"run_at": "25:00"}, "run_at must be HH:MM"),
        ({"grace": timedelta(hours=13)}, "grace window"),
        ({"grace": timedelta(0)}, "grace window"),
    ],
)
def test_schedule_build_when_setting_is_bad_then_configuration_error_names_it(
    kwargs: dict[str, Any], message: str
) -> None:
    args: dict[str, Any] = {"exchange": "XNYS", "timezone": "America/New_York", "run_at": "16:30"}
    with pytest.raises(ConfigurationError, match=message):
        Schedule.build(**{**args, **kwargs})


async def test_run_once_when_a_session_is_given_then_runs_it_and_refuses_a_holiday(
    store: SqliteStore,
) -> None:
    clock = FakeClock(ny(26, 10), stop_at=ny(26, 11))
    runner = Runner(clock)
    daemon = make_daemon(store, clock, runner, Notes())
    event = await daemon.run_once(last_data_day=None, session=nov(20))
    assert runner.sessions == [nov(20)] and event.kind is EventKind.RAN and event.manual
    with pytest.raises(ConfigurationError, match="2012-11-22 is not a XNYS session"):
        await daemon.run_once(last_data_day=None, session=nov(22))
    assert runner.sessions == [nov(20)]


async def test_run_once_when_the_session_already_finished_then_not_run_and_its_result_shown(
    store: SqliteStore,
) -> None:
    store.put_document(CYCLES, "cycle-2012-11-20", {"summary": {"status": "halted", "fills": 3}})
    clock = FakeClock(ny(26, 10), stop_at=ny(26, 11))
    runner = Runner(clock)
    event = await make_daemon(store, clock, runner, Notes()).run_once(None, session=nov(20))
    assert runner.sessions == [] and event.kind is EventKind.ALREADY_RUN
    assert event.summary["status"] == "halted" and event.summary["fills"] == 3


async def test_run_when_the_runner_announces_finished_cycles_then_the_daemon_does_not_repeat_it(
    store: SqliteStore,
) -> None:
    clock = FakeClock(ny(20, 12), stop_at=ny(21, 23))
    runner = Runner(clock, {nov(21): [ConfigurationError("no bars")]})
    notes = Notes()
    daemon = make_daemon(store, clock, runner, notes)
    daemon.announce_finished = False
    await daemon.run_forever()
    assert notes.of(CycleFinished) == []  # CycleService sends those itself
    assert [n.as_of for n in notes.of(CycleFailed)] == ["2012-11-21"]  # failures are ours
