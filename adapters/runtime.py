"""The one place that wires the application for a cycle: settings → store, market data,
broker, reasoner, agent registry → ``CycleService`` on the daily-cycle graph compiled with
the SQLite checkpointer (``<state_dir>/checkpoints.db``).

Used by ``quorum cycle run|replay``, ``quorum simulate`` and ``quorum demo``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Mapping
from contextlib import AsyncExitStack, asynccontextmanager, contextmanager
from datetime import date, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from core.errors import ConfigurationError
from core.notifications import Notifier, NullNotifier
from core.ports import Broker, MarketData, Reasoner, Store
from core.risk import TradingState
from core.topics import CYCLE_LOCK

if TYPE_CHECKING:
    from agents.base import AgentSpec
    from config.settings import Settings
    from workflows.service import CycleService
    from workflows.simulate import SimulationResult

DATA_SUBDIR = "us_daily"
CYCLE_LOCK_TTL_MS = 3_600_000


def with_overrides(
    settings: Settings, *, broker: str | None = None, llm: str | None = None
) -> Settings:
    """Settings with the CLI's ``--broker`` / ``--llm`` applied (frozen: a new copy)."""
    update: dict[str, Any] = {}
    if broker is not None:
        update["broker"] = settings.broker.model_copy(update={"kind": broker})
    if llm is not None:
        provider = "replay" if llm.startswith("replay") else llm
        if provider in ("offline", "anthropic", "replay"):
            update["llm"] = settings.llm.model_copy(update={"provider": provider})
    return settings.model_copy(update=update) if update else settings


def load_market(
    settings: Settings,
    universe_file: str | Path | None = None,
    *,
    store: Store | None = None,
    now: Callable[[], datetime] | None = None,
) -> MarketData:
    """The providers of ``settings.marketdata.providers`` in failover order (default
    ``["files"]``: the shipped bars). ``store`` caches IBKR bars (default: the configured
    store, opened per fetch); ``now`` is the clock that says which sessions have closed."""
    from adapters.marketdata.factory import make_market

    return make_market(settings, universe_file, store=store, now=now)


def resolve_universe(
    settings: Settings,
    market: MarketData,
    universe_file: str | Path | None = None,
    configured: list[str] | None = None,
) -> list[str]:
    """The symbols to trade: the ``--universe`` file, else ``configured`` (the active
    configuration version's), else the settings' list; each must have bars."""
    if universe_file:
        from config.universe import load_universe

        symbols = [i.symbol for i in load_universe(universe_file)]
    else:
        symbols = list(configured if configured is not None else settings.universe.symbols)
    available = set(market.symbols())
    missing = [s for s in symbols if s not in available]
    if missing:
        raise ConfigurationError(
            f"no bars for {', '.join(missing)} in the market data;"
            f" have {', '.join(sorted(available))}"
        )
    if not symbols:
        raise ConfigurationError("the universe is empty")
    return symbols


def data_span(market: MarketData, symbols: list[str]) -> tuple[date, date]:
    """The first and the last day any of ``symbols`` has a bar."""
    firsts, lasts = [], []
    for symbol in symbols:
        stamps = market.bars(symbol).timestamps
        if len(stamps):
            firsts.append(stamps[0].astype("datetime64[D]").item())
            lasts.append(stamps[-1].astype("datetime64[D]").item())
    if not lasts:
        raise ConfigurationError(
            f"no bars at all for {', '.join(symbols)} (the IBKR provider asks for the last"
            " marketdata.history_years up to today: for older days name the day with"
            " --date / --session, or fill the cache first: quorum data fetch --from D)"
        )
    return min(firsts), max(lasts)


def check_cycle_date(market: MarketData, symbols: list[str], as_of: date) -> None:
    """Refuse a cycle date outside the data before anything is touched: a cycle after the
    last bar would trade on stale prices (and move the paper account's bar clock past
    every later session); one before the first bar has nothing to decide on.

    Each symbol's bars up to ``as_of`` are asked for first: a fetching provider (IBKR)
    otherwise knows only its default window (the last ``history_years`` before today),
    and a past day (the simulator's history ends on 2013-03-01) would look out of range
    on a fresh cache."""
    for symbol in symbols:
        market.bars(symbol, end=as_of)
    first, last = data_span(market, symbols)
    if not first <= as_of <= last:
        raise ConfigurationError(
            f"--date {as_of} is outside the market data ({first} .. {last});"
            " update the data or pick a day inside it"
        )


@contextmanager
def cycle_lock(settings: Settings) -> Iterator[None]:
    """Only one cycle (or simulation) at a time across processes sharing a Redis bus.
    A second one fails at once with a clear error instead of trading on the same book.
    The lease (an hour) outlives any one cycle, and a crashed holder's lease expires by
    itself, so a dead process never blocks trading for longer than that."""
    if settings.bus.kind != "redis":
        yield  # one process: the SQLite checkpointer already serialises the cycle
        return
    from adapters.factories import make_state

    shared = make_state(settings)
    lock = shared.lock(CYCLE_LOCK, ttl_ms=CYCLE_LOCK_TTL_MS)
    if not lock.acquire(blocking=False):
        shared.close()
        raise ConfigurationError(
            "another Quorum cycle is running (the shared cycle lock is held); "
            "wait for it to finish or check `quorum trading status`"
        )
    try:
        yield
    finally:
        lock.release()
        shared.close()


def load_registry() -> Mapping[str, AgentSpec]:
    try:
        from agents.registry import REGISTRY
    except ModuleNotFoundError as exc:
        raise ConfigurationError(f"the agent registry is not available: {exc}") from exc
    return REGISTRY


@asynccontextmanager
async def cycle_service(
    settings: Settings,
    *,
    llm: str | None = None,
    universe_file: str | Path | None = None,
    state_dir: Path | None = None,
    store: Store | None = None,
    market: MarketData | None = None,
    broker: Broker | None = None,
    reasoner: Reasoner | None = None,
    registry: Mapping[str, AgentSpec] | None = None,
    trading_state: TradingState | None = None,
    meta: dict[str, Any] | None = None,
    reports_dir: Path | None = None,
    config_version: int | None = None,
    config_values: Mapping[str, Any] | None = None,
    locked: bool = True,
    review: bool | None = None,
    notifier: Notifier | None = None,
    reports: bool = True,
) -> AsyncIterator[CycleService]:
    """A ready ``CycleService``; the broker is connected and the checkpointer open until
    the block exits. Every argument left out comes from ``settings``.

    Risk limits, universe, restricted list, debate rounds, strategy and agent parameters
    come from the store's active configuration version (``adapters.review``), or from
    version ``config_version`` (``cycle replay``: the one in force then), or from
    ``config_values`` (proposal evidence: a candidate configuration). With ``review``
    (default: on for the configured store, off for one passed in) a finished cycle
    submits its agents' proposals to proposal review and runs the watch. ``locked=False``
    skips the shared cycle lock (a simulation nested in a cycle that holds it).
    ``reports=False`` writes no report files (a throwaway run: proposal evidence)."""
    from adapters.brokers.factory import make_broker
    from adapters.chat.notify import make_notifier
    from adapters.factories import make_control
    from adapters.llm.factory import make_reasoner
    from adapters.review import config_desk
    from workflows.checkpointer import sqlite_checkpointer
    from workflows.config_keys import cycle_inputs
    from workflows.daily_cycle import build_daily_cycle
    from workflows.operator_actions import operator_confirmed_live
    from workflows.service import BarDriven, CycleService
    from workflows.state import CycleConfig

    state_dir = state_dir or settings.state_dir
    review = store is None and config_values is None if review is None else review
    async with AsyncExitStack() as stack:
        if locked:
            stack.enter_context(cycle_lock(settings))
        if store is None:
            from adapters.cli.common import open_store

            store = open_store(settings)
            if settings.bus.kind == "redis":
                from adapters.bus.journal_tap import tapped
                from adapters.factories import make_bus

                store = tapped(store, make_bus(settings))  # the live A2A feed
            stack.callback(store.close)
        market = market or load_market(settings, universe_file)
        if config_values is not None:
            version, values = None, dict(config_values)
        else:
            desk = config_desk(settings, store)
            active = desk.version(config_version) if config_version else desk.ensure()
            version, values = active.version, desk.values(active.version)
        inputs = cycle_inputs(values)
        symbols = resolve_universe(settings, market, universe_file, inputs.symbols)
        reasoner = reasoner or make_reasoner(llm, settings, store)
        cache = getattr(reasoner, "inner", None)
        if broker is None:
            broker = make_broker(settings, store)
            await broker.connect()
            stack.push_async_callback(broker.disconnect)
        control = make_control(settings, store)
        if trading_state is None:
            trading_state = control.effective()
        saver = await stack.enter_async_context(sqlite_checkpointer(state_dir))
        app = build_daily_cycle().compile(checkpointer=saver)
        if notifier is None:  # the chat channels hear of real cycles, not of evidence runs
            notifier = make_notifier(settings) if config_values is None else NullNotifier()
        after_cycle = review_hook(settings, store, market, notifier) if review else None
        yield CycleService(
            app=app,
            store=store,
            market=market,
            registry=registry if registry is not None else load_registry(),
            universe=symbols,
            reports_dir=reports_dir or state_dir / "reports",
            broker=broker,
            reasoner=reasoner,
            limits=inputs.limits,
            config=CycleConfig(
                debate_rounds=inputs.debate_rounds,
                # A bar-driven broker fills only on the next bar: nothing to wait for.
                fill_timeout_s=0.0 if isinstance(broker, BarDriven) else 5.0,
            ),
            restricted=inputs.restricted,
            trading_state=trading_state,
            trading_probe=control.effective,
            agent_settings={
                "starting_cash": settings.broker.starting_cash,
                "mode": settings.mode,
                # live needs the setting and an operator's TOTP-checked `mode live`
                "live_confirmed": settings.live_confirmed and operator_confirmed_live(store),
                "lesson_score_threshold": settings.proposals.lesson_score_threshold,
                "lesson_horizon": settings.proposals.lesson_horizon,
                **inputs.agent_settings,
            },
            config_version=version,
            after_cycle=after_cycle,
            notifier=notifier,
            write_reports=reports,
            meta={
                "llm": llm or settings.llm.provider,
                "broker": settings.broker.kind,
                "universe_file": str(universe_file) if universe_file else None,
                # the response cache's key for this run, so `cycle replay` finds its answers
                "llm_cache_model": getattr(cache, "model", None),
                "config_version": version,
                **({"config_values": values} if version is None else {}),
                **(meta or {}),
            },
        )


def review_hook(
    settings: Settings, store: Store, market: MarketData, notifier: Notifier | None = None
) -> Callable[[str], Awaitable[None]]:
    """What a finished cycle of the configured store does next: its agents' proposals go
    to proposal review (a pending one is announced through ``notifier``, with its
    buttons) and the watch looks at it. A failure here is logged, never raised: the cycle
    itself is already recorded."""
    import logging

    from adapters.review import make_proposal_service

    async def after_cycle(cycle_id: str) -> None:
        try:
            desk = make_proposal_service(settings, store, market=market, notifier=notifier)
            await desk.after_cycle(cycle_id)
        except Exception:
            logging.getLogger(__name__).exception("proposal review after %s failed", cycle_id)

    return after_cycle


def replay_reasoner(doc: dict[str, Any], settings: Settings, store: Store) -> tuple[Any, str]:
    """The reasoner that re-runs a recorded cycle without any new model call: offline stays
    offline; anything else answers only from the response cache, under the cache key the
    original run used (``llm_cache_model``), and a miss falls back to offline judgement."""
    from adapters.llm.budget import BudgetedReasoner
    from adapters.llm.cache import CachedReasoner
    from adapters.llm.factory import make_reasoner

    if (doc.get("llm") or "offline") == "offline":
        return make_reasoner("offline", settings, store), "offline"
    model = str(doc.get("llm_cache_model") or settings.llm.model)
    cached = CachedReasoner(None, store, model)
    return BudgetedReasoner(cached, settings.llm.budget_usd_per_cycle), f"cache:{model}"


async def replay_cycle(settings: Settings, cycle_id: str, workdir: Path) -> dict[str, Any]:
    """Re-run a past cycle from its recorded inputs and the LLM response cache, in a copy
    of the store under ``workdir`` (the real account and journal are not touched), and
    compare its order intents with the original ones."""
    import sqlite3

    from adapters.brokers.paper import PaperBroker, PaperBrokerConfig
    from adapters.storage.sqlite import SqliteStore
    from core.portfolio import Portfolio
    from workflows.checkpointer import CHECKPOINTS_FILE
    from workflows.service import BOOK_LABEL, CYCLES, LAST_BAR_KEY
    from workflows.summary import intent_differences, intents_of

    if settings.storage.kind != "sqlite":
        raise ConfigurationError("cycle replay needs the SQLite store")
    source_path = settings.sqlite_file
    if not source_path.exists():
        raise ConfigurationError(f"no store at {source_path}")
    source = SqliteStore(source_path)
    try:
        doc = source.get_document(CYCLES, cycle_id)
        original = intents_of(source.messages_by_cycle(cycle_id))
    finally:
        source.close()
    if doc is None:
        raise ConfigurationError(f"no recorded cycle {cycle_id!r} in {source_path}")
    workdir.mkdir(parents=True, exist_ok=True)
    copy_path = workdir / "replay.db"
    # A replay always starts from scratch: an earlier replay's finished checkpoint under
    # the same thread id would otherwise be "resumed" and run nothing.
    for stale in (copy_path, workdir / CHECKPOINTS_FILE):
        for suffix in ("", "-wal", "-shm", "-journal"):
            Path(f"{stale}{suffix}").unlink(missing_ok=True)
    with sqlite3.connect(str(source_path)) as src, sqlite3.connect(str(copy_path)) as dst:
        src.backup(dst)
    store = SqliteStore(copy_path)
    try:
        start = doc.get("start_portfolio")
        portfolio = (
            Portfolio.model_validate(start)
            if start
            else Portfolio.open(settings.broker.starting_cash)
        )
        store.save_snapshot(portfolio, "replay")
        if doc.get("start_book"):  # the agents' book as it was when the cycle began
            store.save_snapshot(Portfolio.model_validate(doc["start_book"]), BOOK_LABEL)
        store.kv_set(LAST_BAR_KEY, doc["as_of"], actor="replay")  # bars already fed
        broker = PaperBroker(store, PaperBrokerConfig(label="replay", starting_cash=portfolio.cash))
        await broker.connect()
        reasoner, replay_llm = replay_reasoner(doc, settings, store)
        replay_id = f"{cycle_id}.replay"
        async with cycle_service(
            settings,
            reasoner=reasoner,
            universe_file=doc.get("universe_file"),
            state_dir=workdir,
            store=store,
            broker=broker,
            config_version=doc.get("config_version"),  # the version in force then
            config_values=doc.get("config_values"),
            notifier=NullNotifier(),  # a replay tells no one
        ) as service:
            service.universe = list(doc["universe"])
            summary = await service.run(date.fromisoformat(doc["as_of"]), cycle_id=replay_id)
        replayed = intents_of(store.messages_by_cycle(replay_id))
        await broker.disconnect()
    finally:
        store.close()
    return {
        "cycle_id": cycle_id,
        "replay_cycle_id": replay_id,
        "date": doc["as_of"],
        "llm": replay_llm,
        "same_orders": original == replayed,
        "differences": intent_differences(original, replayed),
        "original": original,
        "replayed": replayed,
        "summary": summary,
    }


async def run_simulation(
    settings: Settings,
    start: date,
    end: date,
    *,
    llm: str | None = None,
    universe_file: str | Path | None = None,
    name: str | None = None,
    fresh: bool = False,
    on_day: Callable[[dict[str, Any]], None] | None = None,
    market: MarketData | None = None,
) -> SimulationResult:
    """``quorum simulate``: the full graph once per session, on a paper account of its own
    (``<state_dir>/simulations/<name>/``), so the real paper account is never touched.
    Re-running the same name resumes it (finished days are read back); ``fresh`` starts
    over."""
    import shutil

    from adapters.brokers.paper import PaperBroker, PaperBrokerConfig
    from adapters.storage.sqlite import SqliteStore
    from workflows.simulate import simulate, trading_sessions

    if end < start:
        raise ConfigurationError(f"--to {end} is before --from {start}")
    market = market or load_market(settings, universe_file)
    symbols = resolve_universe(settings, market, universe_file)
    if not trading_sessions(market, symbols, start, end):  # before any directory is made
        first, last = data_span(market, symbols)
        raise ConfigurationError(
            f"no trading session with bars between --from {start} and --to {end};"
            f" the market data covers {first} .. {last}"
        )
    name = name or f"{start.isoformat()}_{end.isoformat()}"
    sim_dir = settings.state_dir / "simulations" / name
    if fresh and sim_dir.exists():
        shutil.rmtree(sim_dir)
    store = SqliteStore(sim_dir / "quorum.db")
    broker = PaperBroker(store, PaperBrokerConfig(starting_cash=settings.broker.starting_cash))
    try:
        await broker.connect()
        async with cycle_service(
            settings,
            llm=llm,
            universe_file=universe_file,
            state_dir=sim_dir,
            store=store,
            market=market,
            broker=broker,
            reports_dir=settings.state_dir / "reports",
            meta={"simulation": name},
            notifier=NullNotifier(),  # simulated days are not news
        ) as service:
            return await simulate(
                service, name, start, end, settings.broker.starting_cash, on_day=on_day
            )
    finally:
        await broker.disconnect()
        store.close()
