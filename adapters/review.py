"""Wiring of configuration versioning and proposal review: settings + store → the
``ConfigDesk`` (``ConfigVersions``) and the ``ProposalDesk`` (``ProposalService``), with
the evidence step's simulator (the full agent graph, offline, on a scratch paper account
per configuration, each run cached in the store by configuration and window).

Used by ``adapters.runtime.cycle_service`` (a cycle reads the active version; a finished
cycle submits its agents' proposals and runs the watch), ``quorum config``,
``quorum proposals`` and ``adapters.factories.make_operator_service``.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Callable, Collection, Iterator, Mapping, Sequence
from contextlib import AbstractAsyncContextManager
from datetime import date, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from core.audit import AuditLog
from core.notifications import Notifier, NullNotifier
from core.orders import utcnow
from core.ports import MarketData, Store

if TYPE_CHECKING:
    from config.settings import Settings
    from core.proposals import Proposal
    from workflows.config_versions import ConfigVersions
    from workflows.proposal_evidence import EvidenceSettings, SimRun
    from workflows.proposal_service import ProposalService

EVIDENCE_RUNS = "evidence_runs"  # documents: one simulated configuration × window each


def audit_log(settings: Settings, store: Store) -> AuditLog:
    from config.secrets import audit_key

    secret = settings.secrets.audit_key
    key = audit_key(secret.get_secret_value() if secret else None, settings.state_dir)
    return AuditLog(store, key)


def config_desk(settings: Settings, store: Store) -> ConfigVersions:
    """The settings' values are computed only when needed (they import the strategy
    kernels): showing or diffing stored versions never needs them."""
    from workflows.config_keys import settings_values
    from workflows.config_versions import ConfigVersions

    return ConfigVersions(store, audit_log(settings, store), lambda: settings_values(settings))


def last_sessions(market: MarketData, symbols: Sequence[str], count: int) -> list[date]:
    """The last ``count`` XNYS sessions with bars for ``symbols``."""
    from datetime import timedelta

    from adapters.runtime import data_span
    from workflows.simulate import trading_sessions

    _, last = data_span(market, list(symbols))
    start = last - timedelta(days=count * 2 + 14)
    return trading_sessions(market, list(symbols), start, last)[-count:]


async def simulate_values(
    settings: Settings,
    store: Store,
    market: MarketData,
    values: Mapping[str, Any],
    sessions: Sequence[date],
) -> SimRun:
    """The agent graph on a fresh paper account over ``sessions`` with ``values``
    (offline reasoning); cached in ``store`` so the configuration in force is simulated
    once per window, however many proposals compare against it."""
    from adapters.brokers.paper import PaperBroker, PaperBrokerConfig
    from adapters.runtime import cycle_service, with_overrides
    from adapters.storage.sqlite import SqliteStore
    from workflows.proposal_evidence import SimRun, values_hash

    key = values_hash(values, sessions)
    cached = store.get_document(EVIDENCE_RUNS, key)
    if cached is not None:
        return SimRun(equity=list(cached["equity"]), fills=list(cached["fills"]))
    offline = with_overrides(settings, broker="paper", llm="offline")
    settings.state_dir.mkdir(parents=True, exist_ok=True)
    workdir = Path(tempfile.mkdtemp(prefix="evidence-", dir=settings.state_dir))
    sim_store = SqliteStore(workdir / "quorum.db")
    broker = PaperBroker(sim_store, PaperBrokerConfig(starting_cash=settings.broker.starting_cash))
    equity: list[float] = []
    fills: list[int] = []
    try:
        await broker.connect()
        async with cycle_service(
            offline,
            llm="offline",
            state_dir=workdir,
            store=sim_store,
            market=market,
            broker=broker,
            reports_dir=workdir / "reports",
            config_values=values,
            locked=False,
            reports=False,  # the scratch dir is deleted: drawing 2 x N charts is wasted time
        ) as service:
            for day in sessions:
                summary = await service.run(day, cycle_id=f"evidence-{day.isoformat()}")
                equity.append(float(summary["equity"]))
                fills.append(int(summary["fills"]))
    finally:
        await broker.disconnect()
        sim_store.close()
        shutil.rmtree(workdir, ignore_errors=True)
    run = SimRun(equity=equity, fills=fills)
    store.put_document(EVIDENCE_RUNS, key, {"equity": equity, "fills": fills})
    return run


class _LazyMarket(Collection[str]):
    """The market data, loaded on first use; as a collection, its symbols (what the
    review's validation checks a proposed universe against)."""

    def __init__(self, settings: Settings, market: MarketData | None) -> None:
        self._settings = settings
        self._market = market
        self._symbols: frozenset[str] | None = None

    @property
    def market(self) -> MarketData:
        if self._market is None:
            from adapters.runtime import load_market

            self._market = load_market(self._settings)
        return self._market

    def _known(self) -> frozenset[str]:
        if self._symbols is None:
            self._symbols = frozenset(self.market.symbols())
        return self._symbols

    def __contains__(self, symbol: object) -> bool:
        return symbol in self._known()

    def __iter__(self) -> Iterator[str]:
        return iter(self._known())

    def __len__(self) -> int:
        return len(self._known())


def make_proposal_service(
    settings: Settings,
    store: Store,
    *,
    market: MarketData | None = None,
    notifier: Notifier | None = None,
    clock: Callable[[], datetime] | None = None,
    evidence: EvidenceSettings | None = None,
) -> ProposalService:
    """The proposal desk on ``store``; its graph checkpoints in ``state_dir``. What only
    a review needs — the market data (pandas), the evidence kernels (Numba), the
    checkpointer (LangGraph) — is loaded when a proposal is validated, evidenced or
    decided, never to read proposals."""
    from workflows.proposal_records import ReviewDeps, trial_sharpes
    from workflows.proposal_service import ProposalService

    lazy = _LazyMarket(settings, market)

    def knobs() -> EvidenceSettings:
        from workflows.proposal_evidence import EvidenceSettings

        return evidence or EvidenceSettings(
            folds=settings.proposals.evidence_folds,
            sim_sessions=settings.proposals.evidence_sessions,
            backtest_folds=settings.proposals.backtest_folds,
            backtest_fold_bars=settings.proposals.backtest_fold_bars,
            starting_cash=settings.broker.starting_cash,
            slippage_bps=settings.broker.paper.slippage_bps,
        )

    def saver() -> AbstractAsyncContextManager[Any]:
        from workflows.checkpointer import sqlite_checkpointer

        return sqlite_checkpointer(settings.state_dir)

    async def simulator(values: Mapping[str, Any], sessions: Sequence[date]) -> SimRun:
        return await simulate_values(settings, store, lazy.market, values, sessions)

    async def find_evidence(
        proposal: Proposal, current: dict[str, Any], proposed: dict[str, Any]
    ) -> dict[str, Any]:
        from workflows.proposal_evidence import compute_evidence

        market, config = lazy.market, knobs()
        symbols = sorted(set(current["universe.symbols"]) | set(proposed["universe.symbols"]))
        return await compute_evidence(
            current,
            proposed,
            list(proposal.changes),
            market=market,
            sessions=last_sessions(market, symbols, config.sim_sessions),
            simulator=simulator,
            settings=config,
            previous=lambda key: trial_sharpes(store, key),
        )

    deps = ReviewDeps(
        store=store,
        config=config_desk(settings, store),
        evidence=find_evidence,
        audit=audit_log(settings, store),
        notifier=notifier or NullNotifier(),
        clock=clock or utcnow,
        known_symbols=lazy,
        watch_cycles=settings.proposals.watch_cycles,
    )
    return ProposalService(deps, saver, settings.proposals.expiry_days)
