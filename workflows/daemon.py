"""The unattended daily cycle: when each session's cycle is due, what was missed, and the
loop that runs it. Pure scheduling: the clock, the calendar, the cycle runner, the
notifier and the record are passed in, so tests drive a fake clock through a holiday week.

Rules (docs/operations.md):
- A session's cycle is **due** at ``run_at`` (``HH:MM`` in ``timezone``) on that session's
  date and may start until its **deadline**, ``due + grace`` (default 3 h). Only the
  exchange's sessions count: weekends and holidays have no slot; a weekday without a
  session is recorded once as ``holiday``.
- A slot whose deadline has passed without a run (the daemon was down, or woke too late:
  a suspended machine, a cycle that overran) is **missed**: recorded, journaled and
  notified, never traded late. A session whose cycle already finished (say by
  ``quorum cycle run``) is not run again.
- A cycle that fails with a temporary error (broker unreachable) is retried every
  ``retry_every`` until the deadline; any other failure is final for that session.
- A stop request (SIGTERM) ends a running cycle between two steps
  (``CycleStoppedError``); the session stays open, so a restart inside the window
  resumes it from its checkpoint.
- Before its very first start the daemon owes nothing: sessions before then are not
  reported as missed.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from enum import StrEnum
from typing import Any, Protocol
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field

from core.errors import ConfigurationError, TemporaryError
from core.messages import Envelope, Note
from core.notifications import CycleFailed, CycleFinished, CycleMissed, Notification, Notifier
from core.ports import Store
from workflows.runner import CycleStoppedError
from workflows.service import CYCLES, default_cycle_id

log = logging.getLogger("quorum.daemon")

DEFAULT_GRACE = timedelta(hours=3)
MAX_GRACE = timedelta(hours=12)  # past that a slot would reach into the next session
DEFAULT_RETRY = timedelta(minutes=5)
EVENTS_KEY = "daemon.events"  # kv history: one entry per event
LAST_SESSION_KEY = "daemon.last_session"  # the newest session the daemon has settled
HOLDER_KEY = "daemon.holder"  # who holds the single-instance lock
LOOKAHEAD_DAYS = 30  # a slot is searched this far ahead (longest exchange closure: days)

SessionSource = Callable[[date, date], list[date]]  # the sessions in [start, end]
CycleRunner = Callable[[date], Awaitable[dict[str, Any]]]  # a session -> its summary


class EventKind(StrEnum):
    RAN = "ran"  # the cycle finished (any status: completed, halted, ...)
    FAILED = "failed"
    MISSED = "missed"
    HOLIDAY = "holiday"  # a weekday without a session
    ALREADY_RUN = "already_run"  # a finished cycle was found in the store: not run again
    STOPPED = "stopped"  # a stop request ended the running cycle between two steps


class DaemonEvent(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    kind: EventKind
    session: date
    at: datetime
    cycle_id: str | None = None
    detail: str = ""
    manual: bool = False  # `quorum daemon --once`, not the schedule
    summary: dict[str, Any] = Field(default_factory=dict)  # orders, fills, equity, ...


class Clock(Protocol):
    def now(self) -> datetime: ...  # timezone-aware

    async def sleep_until(self, when: datetime, stop: asyncio.Event) -> None:
        """Return at ``when`` or as soon as ``stop`` is set, whichever comes first."""
        ...


class SystemClock:
    """Wall-clock time. Sleeps in steps of at most a minute, so a clock change or a
    machine that was suspended is noticed within a minute of waking."""

    def now(self) -> datetime:
        return datetime.now(UTC)

    async def sleep_until(self, when: datetime, stop: asyncio.Event) -> None:
        while not stop.is_set():
            remaining = (when - self.now()).total_seconds()
            if remaining <= 0:
                return
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=min(remaining, 60.0))


def exchange_sessions(exchange: str) -> SessionSource:
    """The exchange's sessions from ``exchange_calendars`` (as ``quorum simulate`` uses)."""
    import exchange_calendars as xcals
    import pandas as pd

    if exchange not in xcals.get_calendar_names():
        raise ConfigurationError(f"schedule.exchange: unknown exchange calendar {exchange!r}")

    def sessions(start: date, end: date) -> list[date]:
        # The calendar is built around the range asked for: its default bounds (about a
        # year around today) would refuse older or later dates.
        lo, hi = pd.Timestamp(start), pd.Timestamp(end)
        calendar = xcals.get_calendar(
            exchange, start=lo - pd.Timedelta(days=7), end=hi + pd.Timedelta(days=7)
        )
        return [s.date() for s in calendar.sessions_in_range(lo, hi)]

    return sessions


def parse_run_at(text: str) -> time:
    try:
        hour, minute = (int(part) for part in text.split(":"))
        return time(hour, minute)
    except ValueError:
        raise ConfigurationError(f"schedule.run_at must be HH:MM, not {text!r}") from None


@dataclass(frozen=True)
class Slot:
    session: date
    due: datetime  # UTC
    deadline: datetime  # UTC: a cycle not started by then is missed

    def open_at(self, now: datetime) -> bool:
        return self.due <= now < self.deadline


@dataclass(frozen=True)
class Schedule:
    sessions: SessionSource
    timezone: ZoneInfo
    run_at: time
    grace: timedelta = DEFAULT_GRACE
    exchange: str = "XNYS"

    @classmethod
    def build(
        cls,
        exchange: str,
        timezone: str,
        run_at: str,
        grace: timedelta = DEFAULT_GRACE,
        sessions: SessionSource | None = None,
    ) -> Schedule:
        if not timedelta(0) < grace <= MAX_GRACE:
            raise ConfigurationError(
                f"the grace window must be more than 0 and at most {MAX_GRACE}, not {grace}"
            )
        try:
            zone = ZoneInfo(timezone)
        except (ZoneInfoNotFoundError, ValueError):
            raise ConfigurationError(f"schedule.timezone: unknown time zone {timezone!r}") from None
        source = sessions or exchange_sessions(exchange)
        return cls(source, zone, parse_run_at(run_at), grace, exchange)

    def slot(self, session: date) -> Slot:
        due = datetime.combine(session, self.run_at, self.timezone).astimezone(UTC)
        return Slot(session, due, due + self.grace)

    def local_date(self, when: datetime) -> date:
        return when.astimezone(self.timezone).date()

    def due_slots(self, after: date, now: datetime) -> list[Slot]:
        """Slots of the sessions after ``after`` that are due by ``now``, oldest first."""
        today = self.local_date(now)
        if after >= today:
            return []
        slots = [self.slot(s) for s in self.sessions(after + timedelta(days=1), today)]
        return [s for s in slots if s.session > after and s.due <= now]

    def next_slot(self, now: datetime) -> Slot:
        """The first slot due after ``now``."""
        today = self.local_date(now)
        for session in self.sessions(today, today + timedelta(days=LOOKAHEAD_DAYS)):
            slot = self.slot(session)
            if slot.due > now:
                return slot
        raise ConfigurationError(
            f"no {self.exchange} session in the {LOOKAHEAD_DAYS} days after {today}"
        )

    def latest_closed(self, now: datetime) -> date:
        """The newest session whose slot closed by ``now`` (the first start's baseline)."""
        today = self.local_date(now)
        past = self.sessions(today - timedelta(days=LOOKAHEAD_DAYS), today)
        closed = [s for s in past if self.slot(s).deadline <= now]
        return closed[-1] if closed else today - timedelta(days=LOOKAHEAD_DAYS)

    def open_slot(self, now: datetime) -> Slot | None:
        """The slot that may start now (``due <= now < deadline``), if any."""
        today = self.local_date(now)
        # A late run_at plus the grace can reach past midnight: yesterday's slot too.
        recent = self.sessions(today - timedelta(days=1), today)
        return next((s for s in map(self.slot, recent) if s.open_at(now)), None)

    def latest_due(self, now: datetime, not_after: date | None = None) -> date | None:
        """The newest session already due by ``now`` (and not after ``not_after``)."""
        today = self.local_date(now)
        if not_after is not None:
            today = min(today, not_after)
        past = self.sessions(today - timedelta(days=LOOKAHEAD_DAYS), today)
        due = [s for s in past if self.slot(s).due <= now]
        return due[-1] if due else None

    def holidays(self, after: date, before: date) -> list[date]:
        """Weekdays strictly between two dates on which the exchange has no session."""
        if before - after <= timedelta(days=1):
            return []
        sessions = set(self.sessions(after + timedelta(days=1), before - timedelta(days=1)))
        days = (after + timedelta(days=n) for n in range(1, (before - after).days))
        return [d for d in days if d.weekday() < 5 and d not in sessions]


class DaemonRecord:
    """What the daemon did, kept in the store (so it survives restarts and every process
    sees it): events in the kv history ``daemon.events``, the newest settled session in
    ``daemon.last_session``, and a journal note for each missed session."""

    def __init__(self, store: Store) -> None:
        self.store = store

    def last_session(self) -> date | None:
        value = self.store.kv_get(LAST_SESSION_KEY)
        return date.fromisoformat(str(value)) if value else None

    def settle(self, session: date) -> None:
        last = self.last_session()
        if last is None or session > last:
            self.store.kv_set(LAST_SESSION_KEY, session.isoformat(), actor="daemon")

    def append(self, event: DaemonEvent) -> None:
        self.store.kv_set(EVENTS_KEY, event.model_dump(mode="json"), actor="daemon")
        if event.kind is EventKind.MISSED:
            cycle_id = event.cycle_id or default_cycle_id(event.session)
            note = Note(topic="cycle_missed", data={"session": event.session.isoformat(),
                                                    "reason": event.detail})  # fmt: skip
            self.store.append_message(Envelope(cycle_id=cycle_id, sender="daemon", payload=note))

    def events(self, last: int | None = None) -> list[DaemonEvent]:
        entries = self.store.kv_history(EVENTS_KEY)
        if last is not None:
            entries = entries[-last:] if last > 0 else []
        return [DaemonEvent.model_validate(e.value) for e in entries]

    def finished(self, session: date) -> dict[str, Any] | None:
        """The recorded summary of the session's cycle if it finished, else None."""
        doc = self.store.get_document(CYCLES, default_cycle_id(session))
        summary = doc.get("summary") if doc else None
        return dict(summary) if summary else None


def summary_facts(summary: dict[str, Any]) -> dict[str, Any]:
    """The few figures of a cycle summary an event keeps."""
    return {
        "status": summary.get("status"),
        "orders": len(summary.get("orders") or []),
        "fills": int(summary.get("fills") or 0),
        "rejections": len(summary.get("rejected") or []),
        "equity": summary.get("equity"),
        "report": summary.get("report"),
    }


@dataclass
class Daemon:
    schedule: Schedule
    clock: Clock
    run_cycle: CycleRunner
    record: DaemonRecord
    notifier: Notifier
    stop: asyncio.Event = field(default_factory=asyncio.Event)
    retry_every: timedelta = DEFAULT_RETRY
    # False when the cycle runner announces finished cycles itself (CycleService does,
    # with its fills, rejections and guard trips): failed and missed are the daemon's.
    announce_finished: bool = True
    next_slot: Slot | None = None  # for status and health
    running: date | None = None  # the session whose cycle is running now
    _retry: dict[date, tuple[datetime, str]] = field(default_factory=dict)  # when, last error

    def _emit(self, kind: EventKind, session: date, detail: str = "", **extra: Any) -> DaemonEvent:
        event = DaemonEvent(
            kind=kind,
            session=session,
            at=self.clock.now(),
            cycle_id=None if kind is EventKind.HOLIDAY else default_cycle_id(session),
            detail=detail,
            **extra,
        )
        self.record.append(event)
        log.info("daemon %s %s %s", kind.value, session, detail)
        return event

    def _notify(self, notification: Notification) -> None:
        try:
            self.notifier.notify(notification)
        except Exception:  # a notifier must not raise; if one does, the daemon goes on
            log.exception("notifier failed on %s", notification.type)

    def _baseline(self) -> date:
        last = self.record.last_session()
        if last is None:  # first start: nothing before now is this daemon's to report
            last = self.schedule.latest_closed(self.clock.now())
            self.record.settle(last)
        return last

    async def tick(self) -> list[DaemonEvent]:
        """Settle every slot due by now: missed ones are reported, an open one is run."""
        events: list[DaemonEvent] = []
        last = self._baseline()
        for slot in self.schedule.due_slots(last, self.clock.now()):
            if self.stop.is_set():
                break
            events += [self._emit(EventKind.HOLIDAY, d, f"{self.schedule.exchange} closed")
                       for d in self.schedule.holidays(last, slot.session)]  # fmt: skip
            settled, produced = await self._settle(slot)
            events += produced
            if not settled:
                break  # a retry is pending or a stop was asked: later slots wait
            self.record.settle(slot.session)
            last = slot.session
        return events

    async def _settle(self, slot: Slot) -> tuple[bool, list[DaemonEvent]]:
        now = self.clock.now()
        done = self._already_run(slot.session)
        if done is not None:
            return True, [done]
        if now >= slot.deadline:
            retried = self._retry.pop(slot.session, None)
            reason = (
                f"still failing when the grace window closed: {retried[1]}"
                if retried
                else f"not started by {slot.deadline.isoformat()} (due {slot.due.isoformat()},"
                f" grace {self.schedule.grace}); the daemon was down or woke too late"
            )
            self._notify(CycleMissed(session=slot.session.isoformat(), reason=reason))
            return True, [self._emit(EventKind.MISSED, slot.session, reason)]
        retry = self._retry.get(slot.session)
        if retry is not None and now < retry[0]:
            return False, []
        return await self._run(slot)

    def _already_run(self, session: date, manual: bool = False) -> DaemonEvent | None:
        summary = self.record.finished(session)
        if summary is None:
            return None
        detail = "the cycle already finished (its recorded result); not run again"
        return self._emit(EventKind.ALREADY_RUN, session, detail, manual=manual,
                          summary=summary_facts(summary))  # fmt: skip

    async def _run(
        self, slot: Slot, manual: bool = False, retry: bool = True
    ) -> tuple[bool, list[DaemonEvent]]:
        session, cycle_id = slot.session, default_cycle_id(slot.session)
        self.running = session
        try:
            summary = await self.run_cycle(session)
        except CycleStoppedError as exc:
            return False, [self._emit(EventKind.STOPPED, session, str(exc), manual=manual)]
        except Exception as exc:  # every failure is reported; the daemon goes on
            error = f"{type(exc).__name__}: {exc}"
            retry_at = self.clock.now() + self.retry_every
            if retry and isinstance(exc, TemporaryError) and retry_at < slot.deadline:
                self._retry[session] = (retry_at, error)
                detail = f"{error}; retrying at {retry_at.isoformat()}"
                return False, [self._emit(EventKind.FAILED, session, detail)]
            self._retry.pop(session, None)
            self._notify(CycleFailed(cycle_id=cycle_id, as_of=session.isoformat(), error=error))
            return True, [self._emit(EventKind.FAILED, session, error, manual=manual)]
        finally:
            self.running = None
        self._retry.pop(session, None)
        facts = summary_facts(summary)
        if self.announce_finished:
            self._notify(
                CycleFinished(
                    cycle_id=str(summary.get("cycle_id") or cycle_id),
                    as_of=session.isoformat(),
                    equity=facts["equity"],
                    orders=facts["orders"],
                    fills=facts["fills"],
                    rejections=facts["rejections"],
                    report=facts["report"],
                )
            )
        status = facts["status"] or "done"
        return True, [self._emit(EventKind.RAN, session, str(status), manual=manual,
                                 summary=facts)]  # fmt: skip

    def wake_at(self) -> datetime:
        """When the loop next has something to do: the next slot, or a pending retry."""
        self.next_slot = self.schedule.next_slot(self.clock.now())
        return min([self.next_slot.due, *(when for when, _ in self._retry.values())])

    async def run_forever(self) -> None:
        """Settle what is due, sleep until the next slot (or retry), until ``stop``."""
        while not self.stop.is_set():
            await self.tick()
            if self.stop.is_set():
                break
            when = self.wake_at()
            log.info("daemon sleeping until %s", when.isoformat())
            await self.clock.sleep_until(when, self.stop)

    async def run_once(
        self, last_data_day: date | None, session: date | None = None
    ) -> DaemonEvent:
        """``quorum daemon --once``: one cycle, now. ``session`` if given (it must be an
        exchange session); else the session whose slot is open now if there is one;
        otherwise the newest session already due by now that has data
        (``last_data_day``: the last day with bars). It runs even if that session's
        window has closed (an operator asked for it) and is then recorded as ``manual``;
        a session whose cycle already finished is not run again (``already_run``).
        Missed sessions are not looked for (that is the loop's job)."""
        now = self.clock.now()
        slot = self.schedule.open_slot(now)
        if session is not None:
            if session not in self.schedule.sessions(session, session):
                raise ConfigurationError(
                    f"{session} is not a {self.schedule.exchange} session (weekend or holiday)"
                )
            slot = self.schedule.slot(session)
        elif slot is None:
            session = self.schedule.latest_due(now, not_after=last_data_day)
            if session is None:
                raise ConfigurationError(
                    f"no {self.schedule.exchange} session with data is due by {now.isoformat()}"
                    + (f" (the data ends on {last_data_day})" if last_data_day else "")
                )
            slot = self.schedule.slot(session)
        done = self._already_run(slot.session, manual=not slot.open_at(now))
        if done is not None:
            return done
        settled, events = await self._run(slot, manual=not slot.open_at(now), retry=False)
        if settled and slot.open_at(now):
            self.record.settle(slot.session)
        return events[-1]
