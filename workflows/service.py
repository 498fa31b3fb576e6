"""One cycle, end to end, around the graph: open the session, run, summarise, report.

``CycleService.run(as_of)``:
1. feeds a broker that trades on bars (the paper broker) every bar after the last one it
   saw up to ``as_of``: orders of earlier cycles fill at the next session's open, never on
   a bar they were placed after. A date before the account's bar clock is refused
   (``check_bar_clock``) before anything is written;
2. records the cycle's inputs (date, universe, starting portfolio) for ``cycle replay``;
3. runs the graph (``workflows.runner.run_cycle``: new, resumed, or already finished);
4. builds the summary, records the equity point and writes the report (in the graph's
   ``report`` node, through ``write_report``).

Everything here uses ports only; ``adapters.runtime`` builds the service.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import numpy as np

from agents.base import AgentSpec
from core.errors import ConfigurationError
from core.messages import Envelope, Note
from core.notifications import Notifier, NullNotifier
from core.orders import Fill
from core.portfolio import Portfolio
from core.ports import Broker, MarketData, Reasoner, Store
from core.risk import RiskLimits, TradingState
from workflows.agent_runner import stable_ids
from workflows.cycle_notices import fill_ids, notify_cycle
from workflows.report import cycle_report_stem, write_cycle_report
from workflows.runner import Graph, StopProbe, UpdateHook, cycle_status, run_cycle
from workflows.state import CycleConfig, CycleDeps, CycleState
from workflows.summary import build_summary

LAST_BAR_KEY = "cycle.last_bar_fed"
EQUITY_KEY = "cycle.equity"
CYCLES = "cycles"  # document collection: one per cycle, its inputs and summary
BOOK_LABEL = "book"  # the agents' own book snapshot (agents.common.BOOK_LABEL)


@runtime_checkable
class BarDriven(Protocol):
    """A broker that fills against the bars it is fed (the paper broker)."""

    async def on_bar(
        self,
        symbol: str,
        open: float,
        high: float,
        low: float,
        close: float,
        volume: float,
        ts: datetime | None = None,
    ) -> list[Fill]: ...


@runtime_checkable
class HasPortfolio(Protocol):
    async def portfolio(self) -> Portfolio: ...


@runtime_checkable
class HasLedger(Protocol):
    def begin_cycle(self, cycle_id: str) -> None: ...


def default_cycle_id(as_of: date) -> str:
    return f"cycle-{as_of.isoformat()}"


async def feed_bars(
    broker: BarDriven, market: MarketData, store: Store, universe: list[str], as_of: date
) -> int:
    """Feed every bar dated after the last one fed and up to ``as_of``, oldest first;
    returns the number of fills. Idempotent: a bar is fed once per store."""
    last = store.kv_get(LAST_BAR_KEY)
    start = date.fromisoformat(last) + timedelta(days=1) if last else as_of
    if start > as_of:
        return 0
    lo, hi = np.datetime64(start, "ns"), np.datetime64(as_of, "ns") + np.timedelta64(1, "D")
    rows = []
    for symbol in universe:
        series = market.bars(symbol, start=start, end=as_of)
        for i in range(len(series)):
            if lo <= series.timestamps[i] < hi:  # a source may return more than asked
                rows.append((series.timestamps[i], symbol, i, series))
    rows.sort(key=lambda r: (r[0], r[1]))
    fills = 0
    for ts, symbol, i, s in rows:
        when = datetime.fromtimestamp(int(ts.astype("datetime64[s]").astype(np.int64)), UTC)
        o, c = float(s.open[i]), float(s.close[i])
        # Adjusted bars are scaled in floating point: high/low can miss open/close by an ulp.
        high, low = max(float(s.high[i]), o, c), min(float(s.low[i]), o, c)
        fills += len(await broker.on_bar(symbol, o, high, low, c, float(s.volume[i]), ts=when))
    store.kv_set(LAST_BAR_KEY, as_of.isoformat(), actor="cycle")
    return fills


def check_bar_clock(store: Store, as_of: date) -> None:
    """Refuse to run a cycle dated before the last bar the paper account was fed.

    Its positions, cash and fills already include later sessions: the agents would decide
    ``as_of`` on a book from the future (and filter this day's fills out of it), silently
    mixing time. The same date again (a crash resume) is fine: nothing after it was fed."""
    last = store.kv_get(LAST_BAR_KEY)
    if last and date.fromisoformat(str(last)) > as_of:
        raise ConfigurationError(
            f"cycle date {as_of} is before the paper account's bar clock ({last}): this"
            f" account was already fed the bars up to {last} by a cycle of a later day, so"
            f" its cash, positions and fills are not those of {as_of}. Run {as_of} on a fresh"
            " state dir (QUORUM_STATE_DIR) or with `quorum simulate` (an account of its own;"
            f" --fresh or a new --name starts one over), or pick a date on or after {last}"
        )


async def starting_portfolio(broker: Broker) -> Portfolio:
    if isinstance(broker, HasPortfolio):
        return await broker.portfolio()
    account = await broker.account()
    positions = {p.symbol: p for p in await broker.positions()}
    return Portfolio(
        cash=account.cash,
        currency=account.currency,
        positions=positions,
        peak_equity=account.equity,
        day_start_equity=account.equity,
    )


def equity_curve(store: Store) -> list[tuple[date, float]]:
    """One point per date (the latest cycle of that date wins), in date order."""
    points: dict[date, float] = {}
    for entry in store.kv_history(EQUITY_KEY):
        value = entry.value
        if isinstance(value, dict) and value.get("equity") is not None:
            points[date.fromisoformat(value["date"])] = float(value["equity"])
    return sorted(points.items())


@dataclass
class CycleService:
    app: Graph
    store: Store
    market: MarketData
    registry: Mapping[str, AgentSpec]
    universe: list[str]
    reports_dir: Path
    broker: Broker | None = None
    reasoner: Reasoner | None = None
    limits: RiskLimits = field(default_factory=RiskLimits)
    config: CycleConfig = field(default_factory=CycleConfig)
    restricted: frozenset[str] = frozenset()
    trading_state: TradingState = TradingState.ACTIVE
    trading_probe: Callable[[], TradingState] | None = None
    meta: dict[str, Any] = field(default_factory=dict)  # recorded with each cycle
    agent_settings: dict[str, Any] = field(default_factory=dict)  # ctx.settings for agents
    opening_fills: dict[str, int] = field(default_factory=dict)
    notifier: Notifier = field(default_factory=NullNotifier)  # finished, fills, guards
    config_version: int | None = None  # the configuration version this cycle runs on
    after_cycle: Callable[[str], Awaitable[Any]] | None = None  # proposal review's hook
    write_reports: bool = True  # False: no report files (a throwaway run, e.g. evidence)

    def deps(self) -> CycleDeps:
        return CycleDeps(
            store=self.store,
            market=self.market,
            registry=self.registry,
            limits=self.limits,
            broker=self.broker,
            reasoner=self.reasoner,
            config=self.config,
            restricted=self.restricted,
            initial_trading_state=self.trading_state,
            trading_probe=self.trading_probe,
            agent_settings=self.agent_settings,
            report_writer=self.write_report,
        )

    async def equity(self) -> float | None:
        return None if self.broker is None else (await self.broker.account()).equity

    def ledger(self) -> dict[str, Any] | None:
        ledger = getattr(self.reasoner, "ledger", None)
        summary = getattr(ledger, "summary", None)
        return summary() if callable(summary) else None

    async def summary(self, state: CycleState) -> dict[str, Any]:
        return build_summary(
            dict(state),
            self.store,
            equity=await self.equity(),
            ledger=self.ledger(),
            opening_fills=self.opening_fills.get(state.get("cycle_id", ""), 0),
        )

    async def write_report(self, state: CycleState, deps: CycleDeps) -> str:
        stem = f"{cycle_report_stem(state['cycle_id'])}.html"
        summary = {**await self.summary(state), "report": str(self.reports_dir / stem)}
        self.store.kv_set(
            EQUITY_KEY,
            {"date": summary["date"], "equity": summary["equity"], "cycle_id": summary["cycle_id"]},
            actor="cycle",
        )
        ledger = self.ledger()
        if ledger is not None:  # per-agent calls, tokens, cost and fallbacks, for the journal
            usage = Envelope(
                cycle_id=state["cycle_id"],
                sender="daily_cycle",
                payload=Note(topic="llm_usage", data=ledger),
            )
            run_id = state.get("run_id")  # a report step re-run after a crash: one note
            scope = f"{run_id}|{state['cycle_id']}|report:llm_usage" if run_id else None
            self.store.append_message(stable_ids([usage], scope)[0])
        if not self.write_reports:
            return ""
        path = write_cycle_report(
            self.reports_dir,
            summary,
            state.get("messages", []),
            equity_curve(self.store),
            ledger=ledger,
        )
        return str(path)

    async def run(
        self,
        as_of: date,
        cycle_id: str | None = None,
        on_update: UpdateHook | None = None,
        stop: StopProbe | None = None,
    ) -> dict[str, Any]:
        """Run (resume, or read back) one cycle. ``stop``: see ``workflows.runner`` (a
        stopped cycle raises ``CycleStoppedError`` and records no summary)."""
        cycle_id = cycle_id or default_cycle_id(as_of)
        if isinstance(self.reasoner, HasLedger):
            self.reasoner.begin_cycle(cycle_id)
        status = await cycle_status(self.app, cycle_id)
        recorded = self.store.get_document(CYCLES, cycle_id) if status == "finished" else None
        if recorded is not None and recorded.get("summary"):
            # The cycle's own result, as of its day: recomputing it now would report
            # today's equity and later fills under that day (a resumed simulation's
            # equity curve would be wrong).
            return dict(recorded["summary"])
        fills_before = fill_ids(self.store, self.notifier)
        if isinstance(self.broker, BarDriven):  # before anything is fed, recorded or run
            check_bar_clock(self.store, as_of)
        if status != "finished" and isinstance(self.broker, BarDriven):
            fills = await feed_bars(self.broker, self.market, self.store, self.universe, as_of)
            self.opening_fills[cycle_id] = self.opening_fills.get(cycle_id, 0) + fills
        if status == "new":
            doc: dict[str, Any] = {
                "cycle_id": cycle_id,
                "as_of": as_of.isoformat(),
                "universe": list(self.universe),
                **self.meta,
            }
            book = self.store.latest_snapshot(self.agent_settings.get("book_label", BOOK_LABEL))
            if book is not None:
                doc["start_book"] = book.model_dump(mode="json")
            if self.broker is not None:
                doc["start_portfolio"] = (await starting_portfolio(self.broker)).model_dump(
                    mode="json"
                )
            self.store.put_document(CYCLES, cycle_id, doc)
            self.journal_config(cycle_id)
        state = await run_cycle(
            self.app, self.deps(), cycle_id, as_of, self.universe, on_update, stop
        )
        summary = await self.summary(state)
        doc = self.store.get_document(CYCLES, cycle_id) or {"cycle_id": cycle_id}
        self.store.put_document(CYCLES, cycle_id, {**doc, "summary": summary})
        notify_cycle(self.notifier, summary, state.get("messages", []), self.store, fills_before)
        if self.after_cycle is not None:
            await self.after_cycle(cycle_id)
        return summary

    def journal_config(self, cycle_id: str) -> None:
        """A note saying which configuration version the cycle runs on (once per cycle)."""
        note = Envelope(
            cycle_id=cycle_id,
            sender="daily_cycle",
            payload=Note(topic="config_version", data={"version": self.config_version}),
        )
        self.store.append_message(stable_ids([note], f"{cycle_id}|config_version")[0])
