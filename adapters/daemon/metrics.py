"""Prometheus metrics of the daemon, read from the store at scrape time.

The store is the record (cycles, orders, fills, equity points, daemon events), so the
figures survive restarts and include cycles run by hand (``quorum cycle run``): a custom
collector reads them on each scrape instead of the daemon keeping counters of its own.
Only what exists nowhere else comes from the running process (``DaemonStatus``): the
lock, the broker connection, the next run. Everything lives in a ``CollectorRegistry`` of
our own (plus the process collector), never in prometheus_client's global one.

| metric | type | from |
|---|---|---|
| ``quorum_daemon_cycles_total{outcome}`` | counter | daemon events: ran, failed, missed, stopped |
| ``quorum_daemon_last_success_timestamp_seconds`` | gauge | newest ``ran`` event |
| ``quorum_daemon_next_run_timestamp_seconds`` | gauge | the schedule |
| ``quorum_daemon_lock_held`` | gauge | the instance lock |
| ``quorum_cycles_recorded_total{status}`` | counter | finished cycles' summaries |
| ``quorum_orders_total`` / ``quorum_orders{status}`` | counter / gauge | the orders |
| ``quorum_rejections_total{code}`` | counter | every refusal in the summaries |
| ``quorum_fills_total`` | counter | the fills |
| ``quorum_equity`` / ``quorum_peak_equity`` / ``quorum_drawdown_ratio`` | gauge | equity points |
| ``quorum_llm_{calls,tokens,fallbacks,cost_usd}_total`` | counter | summaries' LLM usage |
| ``quorum_broker_connected{broker}`` | gauge | the broker (or its port between cycles) |
| ``quorum_bus_{stream_length,dead_letters}{topic}`` | gauge | the Redis bus |
| ``quorum_bus_pending{topic,group}`` | gauge | the Redis bus (``--bus-group``) |
| ``quorum_store_up`` / ``quorum_bus_up`` | gauge | 0 when a read failed |
"""

from __future__ import annotations

import logging
import threading
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from prometheus_client import CollectorRegistry, ProcessCollector
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from core import topics
from core.ports import ReliableBus, Store
from workflows.daemon import DaemonRecord, EventKind
from workflows.service import CYCLES, equity_curve

log = logging.getLogger("quorum.daemon.metrics")

WATCHED_TOPICS = (topics.A2A, topics.ORDERS_EVENTS, topics.FILLS, topics.NOTIFICATIONS)
OUTCOMES = (EventKind.RAN, EventKind.FAILED, EventKind.MISSED, EventKind.STOPPED)


@dataclass
class DaemonStatus:
    """What only the running daemon knows; read by the scrape thread, written by the
    daemon (single attribute writes)."""

    broker_kind: str = "paper"
    lock_held: bool = False
    next_run: Callable[[], datetime | None] = field(default=lambda: None)
    running: str | None = None  # the cycle id running now
    started_at: datetime | None = None
    broker_probe: Callable[[], bool | None] = field(default=lambda: None)


def rejection_code(reason: str) -> str:
    """``MARKET_CLOSED: symbol=AAPL`` -> ``MARKET_CLOSED`` (codes are SCREAMING_SNAKE)."""
    head = reason.split(":", 1)[0].split(" ", 1)[0].strip()
    return head if head and head.replace("_", "").isalnum() and head.isupper() else "OTHER"


def _ts(value: datetime | None) -> float | None:
    return value.timestamp() if value is not None else None


class StoreCollector(Collector):
    def __init__(
        self,
        store: Callable[[], Store],
        status: DaemonStatus,
        bus: Callable[[], ReliableBus] | None = None,
        bus_groups: Sequence[tuple[str, str]] = (),
    ) -> None:
        self._store = store
        self._status = status
        self._bus = bus
        self._bus_groups = tuple(bus_groups)
        self._guard = threading.Lock()  # one scrape at a time reads the store

    def collect(self) -> Iterator[Metric]:
        with self._guard:
            yield from self._daemon()
            try:
                families = list(self._from_store(self._store()))
            except Exception as exc:  # a scrape reports the failure, it never 500s
                log.warning("metrics: store unreadable: %s", exc)
                families = []
            yield GaugeMetricFamily(
                "quorum_store_up", "1 if the store could be read", value=1.0 if families else 0.0
            )
            yield from families
            if self._bus is not None:
                yield from self._from_bus(self._bus)

    def _daemon(self) -> Iterator[Metric]:
        s = self._status
        yield GaugeMetricFamily(
            "quorum_daemon_lock_held",
            "1 while this daemon holds the single-instance lock",
            value=float(s.lock_held),
        )
        nxt = _ts(s.next_run())
        if nxt is not None:
            yield GaugeMetricFamily(
                "quorum_daemon_next_run_timestamp_seconds",
                "when the next scheduled cycle is due",
                value=nxt,
            )
        connected = s.broker_probe()
        broker = GaugeMetricFamily(
            "quorum_broker_connected", "1 if the broker is reachable", labels=["broker"]
        )
        if connected is not None:
            broker.add_metric([s.broker_kind], float(connected))
        yield broker

    def _from_store(self, store: Store) -> Iterator[Metric]:
        events = DaemonRecord(store).events()
        outcomes = Counter(e.kind for e in events)
        cycles = CounterMetricFamily(
            "quorum_daemon_cycles", "scheduled cycles by outcome", labels=["outcome"]
        )
        for kind in OUTCOMES:
            cycles.add_metric([kind.value], float(outcomes[kind]))
        yield cycles
        success = [e.at for e in events if e.kind is EventKind.RAN]
        if success:
            yield GaugeMetricFamily(
                "quorum_daemon_last_success_timestamp_seconds",
                "when the last cycle finished",
                value=success[-1].timestamp(),
            )
        yield from self._summaries([d.get("summary") or {} for d in store.documents(CYCLES)])
        orders = store.orders()
        yield CounterMetricFamily("quorum_orders", "orders recorded", value=float(len(orders)))
        by_status = GaugeMetricFamily(
            "quorum_orders_by_status", "orders by current status", labels=["status"]
        )
        for status, n in sorted(Counter(o.status.value for o in orders).items()):
            by_status.add_metric([status], float(n))
        yield by_status
        yield CounterMetricFamily("quorum_fills", "fills recorded", value=float(len(store.fills())))
        yield from self._equity(store)

    def _summaries(self, summaries: list[dict[str, Any]]) -> Iterator[Metric]:
        done = [s for s in summaries if s]
        recorded = CounterMetricFamily(
            "quorum_cycles_recorded", "finished cycles by status", labels=["status"]
        )
        for status, n in sorted(Counter(str(s.get("status")) for s in done).items()):
            recorded.add_metric([status], float(n))
        yield recorded
        codes = Counter(
            rejection_code(str(r.get("reason", ""))) for s in done for r in s.get("rejected", [])
        )
        rejected = CounterMetricFamily(
            "quorum_rejections",
            "refusals (risk denials, gate vetoes, LLM outputs, broker rejections) by code",
            labels=["code"],
        )
        for code, n in sorted(codes.items()):
            rejected.add_metric([code], float(n))
        yield rejected
        llm = [s.get("llm") or {} for s in done]
        for key, help_text in (
            ("calls", "LLM calls"),
            ("tokens", "LLM tokens"),
            ("fallbacks", "LLM answers replaced by the offline judgement"),
        ):
            total = sum(float(u.get(key) or 0) for u in llm)
            yield CounterMetricFamily(f"quorum_llm_{key}", help_text, value=total)
        cost = sum(float(u.get("cost_usd") or 0) for u in llm)
        yield CounterMetricFamily("quorum_llm_cost_usd", "LLM cost in US dollars", value=cost)

    def _equity(self, store: Store) -> Iterator[Metric]:
        curve = equity_curve(store)
        if not curve:
            return
        equity = curve[-1][1]
        peak = max(value for _, value in curve)
        yield GaugeMetricFamily("quorum_equity", "account equity at the last cycle", value=equity)
        yield GaugeMetricFamily("quorum_peak_equity", "highest equity of any cycle", value=peak)
        yield GaugeMetricFamily(
            "quorum_drawdown_ratio",
            "1 - equity / peak equity",
            value=1.0 - equity / peak if peak > 0 else 0.0,
        )

    def _from_bus(self, make_bus: Callable[[], ReliableBus]) -> Iterator[Metric]:
        length = GaugeMetricFamily(
            "quorum_bus_stream_length", "messages kept in the stream", labels=["topic"]
        )
        dead = GaugeMetricFamily(
            "quorum_bus_dead_letters", "messages in the dead-letter stream", labels=["topic"]
        )
        pending = GaugeMetricFamily(
            "quorum_bus_pending",
            "delivered but not acknowledged (consumer lag)",
            labels=["topic", "group"],
        )
        try:
            bus = make_bus()
            for topic in WATCHED_TOPICS:
                length.add_metric([topic], float(bus.length(topic)))
                dead.add_metric([topic], float(bus.length(topics.dead_letter(topic))))
            for topic, group in self._bus_groups:
                pending.add_metric([topic, group], float(bus.pending(topic, group)))
            up = 1.0
        except Exception as exc:
            log.warning("metrics: bus unreadable: %s", exc)
            up = 0.0
        yield GaugeMetricFamily("quorum_bus_up", "1 if the bus could be read", value=up)
        if up:
            yield from (length, dead, pending)


def build_registry(collector: StoreCollector, process: bool = True) -> CollectorRegistry:
    registry = CollectorRegistry(auto_describe=False)
    registry.register(collector)
    if process:
        ProcessCollector(registry=registry)  # CPU, memory, open files of this process
    return registry
