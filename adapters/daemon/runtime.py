"""``quorum daemon``: settings -> schedule, single-instance lock, store, notifier, health
server, and the cycle itself.

Each scheduled cycle goes through ``adapters.runtime`` exactly as ``quorum cycle run``
does: ``load_market(settings)`` (the configured providers: the shipped files, a CSV
folder or IBKR historical bars, with failover), ``resolve_universe``,
``check_cycle_date`` (a session without its bar fails instead of trading on stale
prices), then ``cycle_service(...).run(session)`` with the stop flag, so a SIGTERM ends the
cycle between two steps and ``quorum cycle run --date D`` (or the daemon, restarted inside
the window) resumes it. Market data is loaded afresh for every cycle, and the broker is
connected for the cycle only.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib.util
import logging
import signal
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import TYPE_CHECKING, Any

from adapters.daemon.health import HealthServer, PortProbe, health_report, make_app
from adapters.daemon.lock import (
    RENEW_EVERY_S,
    InstanceLock,
    acquire_or_refuse,
    instance_lock,
    release_and_record,
)
from adapters.daemon.metrics import DaemonStatus, StoreCollector, build_registry
from core.errors import TemporaryError
from core.notifications import Notifier, NullNotifier
from core.ports import MarketData, ReliableBus
from workflows.daemon import (
    DEFAULT_GRACE,
    Clock,
    Daemon,
    DaemonEvent,
    DaemonRecord,
    Schedule,
    SystemClock,
)

if TYPE_CHECKING:
    from agents.base import AgentSpec
    from config.settings import Settings

log = logging.getLogger("quorum.daemon")

NOTIFY_MODULE = "adapters.chat.notify"  # make_notifier(settings), when chat is installed


@dataclass
class DaemonOptions:
    once: bool = False
    session: date | None = None  # with once: this session instead of the scheduled one
    grace: timedelta = DEFAULT_GRACE
    health: bool = True  # serve /healthz and /metrics
    health_host: str | None = None  # default: settings.daemon.health_host
    health_port: int | None = None  # default: settings.daemon.health_port; 0: any free port
    bus_groups: list[tuple[str, str]] = field(default_factory=list)  # pending to watch


def make_notifier(settings: Settings) -> Notifier:
    """The chat notifier (Slack / Discord, per ``[chat]``) when that module is present,
    else notifications are only logged."""
    if importlib.util.find_spec(NOTIFY_MODULE) is None:
        return NullNotifier()
    module = importlib.import_module(NOTIFY_MODULE)
    notifier: Notifier = module.make_notifier(settings)
    return notifier


def schedule_of(settings: Settings, grace: timedelta = DEFAULT_GRACE) -> Schedule:
    s = settings.schedule
    return Schedule.build(s.exchange, s.timezone, s.run_at, grace)


class CycleRunner:
    """One session's cycle through ``adapters.runtime``; ``market`` and ``registry``
    replace the configured ones (tests)."""

    def __init__(
        self,
        settings: Settings,
        stop: asyncio.Event,
        status: DaemonStatus,
        probe: PortProbe | None = None,
        market: Callable[[], MarketData] | None = None,
        registry: Mapping[str, AgentSpec] | None = None,
        notifier: Notifier | None = None,
    ) -> None:
        self.settings = settings
        self.notifier = notifier  # the cycle's own notices: finished, fills, guards
        self.stop = stop
        self.status = status
        self.probe = probe
        self._market = market
        self._registry = registry

    def load_market(self) -> MarketData:
        if self._market is not None:
            return self._market()
        from adapters.runtime import load_market

        return load_market(self.settings)

    def last_data_day(self) -> date | None:
        """The last day with bars for the universe (``--once`` picks its session by it)."""
        from adapters.runtime import data_span, resolve_universe

        market = self.load_market()
        try:
            return data_span(market, resolve_universe(self.settings, market))[1]
        finally:
            _close(market)

    async def __call__(self, session: date) -> dict[str, Any]:
        from adapters.runtime import check_cycle_date, cycle_service, resolve_universe
        from workflows.service import default_cycle_id

        market = self.load_market()
        self.status.running = default_cycle_id(session)
        try:
            check_cycle_date(market, resolve_universe(self.settings, market), session)
            async with cycle_service(
                self.settings, market=market, registry=self._registry, notifier=self.notifier
            ) as service:
                broker = service.broker
                if self.probe is not None and broker is not None:
                    self.probe.live = lambda: bool(getattr(broker, "is_connected", True))
                return await service.run(session, on_update=_log_step, stop=self.stop.is_set)
        except TemporaryError:
            if self.probe is not None:
                self.probe.live = lambda: False  # until the next probe between cycles
            raise
        finally:
            self.status.running = None
            if self.probe is not None:
                self.probe.live = None
            _close(market)


def _close(market: object) -> None:
    close = getattr(market, "close", None)
    if callable(close):
        close()


def _log_step(node: str, update: dict[str, Any]) -> None:
    steps = update.get("steps") or [node]
    log.info("cycle step done: %s (%d messages)", steps[-1], len(update.get("messages") or []))


class LoggedNotifier:
    def __init__(self, inner: Notifier) -> None:
        self.inner = inner

    def notify(self, notification: Any) -> None:
        log.info("notification %s", notification.model_dump_json())
        self.inner.notify(notification)

    def close(self) -> None:
        close = getattr(self.inner, "close", None)
        if callable(close):
            close()


def broker_probe(settings: Settings) -> PortProbe | None:
    if settings.broker.kind != "ibkr":
        return None  # the paper broker is in-process: always there
    return PortProbe(settings.broker.ibkr.host, settings.broker.ibkr.port)


def install_stop_handlers(stop: asyncio.Event) -> Callable[[], None]:
    """SIGTERM and SIGINT set ``stop``: a running cycle ends after its current step.
    Returns the function that puts the default handlers back."""
    loop = asyncio.get_running_loop()

    def asked(signum: int) -> None:
        log.warning("%s received: stopping after the current step", signal.Signals(signum).name)
        stop.set()

    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, asked, signum)

    def restore() -> None:
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.remove_signal_handler(signum)

    return restore


async def keep_lock(lock: InstanceLock, stop: asyncio.Event, status: DaemonStatus) -> None:
    """Renew the lease; a lost lock stops the daemon (another one may be trading now)."""
    while not stop.is_set():
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), timeout=RENEW_EVERY_S)
        if stop.is_set():
            return
        try:
            renewed = await asyncio.to_thread(lock.renew)
        except TemporaryError as exc:
            log.warning("daemon lock not renewed (will retry): %s", exc)
            continue
        if not renewed:
            log.error("daemon lock %s lost: stopping", lock.where)
            status.lock_held = False
            stop.set()
            return


async def run_daemon(
    settings: Settings,
    options: DaemonOptions,
    *,
    clock: Clock | None = None,
    notifier: Notifier | None = None,
    market: Callable[[], MarketData] | None = None,
    registry: Mapping[str, AgentSpec] | None = None,
    on_ready: Callable[[DaemonStatus, HealthServer | None], None] | None = None,
) -> DaemonEvent | None:
    """Run the daemon until stopped (or one cycle with ``options.once``). Refuses at once,
    naming the holder, when another daemon holds the lock."""
    from adapters.factories import make_bus, make_store

    clock = clock or SystemClock()
    schedule = schedule_of(settings, options.grace)
    store = make_store(settings)
    lock = instance_lock(settings)
    stop = asyncio.Event()
    server: HealthServer | None = None
    restore: Callable[[], None] | None = None
    keeper: asyncio.Task[None] | None = None
    notes = LoggedNotifier(notifier or make_notifier(settings))
    try:
        acquire_or_refuse(lock, store)
        probe = broker_probe(settings)
        status = DaemonStatus(
            broker_kind=settings.broker.kind,
            lock_held=True,
            started_at=clock.now(),
            broker_probe=probe or (lambda: True),
        )
        restore = install_stop_handlers(stop)
        keeper = asyncio.create_task(keep_lock(lock, stop, status))
        if options.health:
            bus: list[ReliableBus] = []

            def shared_bus() -> ReliableBus:
                if not bus:
                    bus.append(make_bus(settings))
                return bus[0]

            collector = StoreCollector(
                lambda: store,
                status,
                shared_bus if settings.bus.kind == "redis" else None,
                options.bus_groups,
            )
            app = make_app(build_registry(collector), lambda: health_report(status, lambda: store))
            server = HealthServer(
                options.health_host or settings.daemon.health_host,
                settings.daemon.health_port if options.health_port is None else options.health_port,
                app,
            )
        runner = CycleRunner(settings, stop, status, probe, market, registry, notes)
        # CycleService announces each finished cycle (with its fills, rejections and guard
        # trips) through the same notifier; the daemon adds failed and missed sessions.
        daemon = Daemon(
            schedule, clock, runner, DaemonRecord(store), notes, stop, announce_finished=False
        )
        if on_ready is not None:
            on_ready(status, server)
        if options.once:
            last_day = None if options.session else await asyncio.to_thread(runner.last_data_day)
            return await daemon.run_once(last_day, options.session)
        daemon.wake_at()  # the first next_slot, for the health view
        status.next_run = lambda: daemon.next_slot.due if daemon.next_slot else None
        await daemon.run_forever()
        return None
    finally:
        if keeper is not None:
            stop.set()
            await keeper
        if restore is not None:
            restore()
        if server is not None:
            server.close()
        release_and_record(lock, store)
        notes.close()
        store.close()
