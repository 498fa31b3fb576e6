"""Build the storage, bus and shared-state backends that settings select.

- ``storage.kind``: ``sqlite`` (default, ``state_dir/sqlite_path``) or ``mongo``
  (``storage.mongo_uri``, ``storage.mongo_db``).
- ``bus.kind``: ``memory`` (default: one process) or ``redis`` (``bus.redis_url``).
  The shared trading state (kill switch, locks, rate limiter, caches) follows the bus:
  several processes that share a Redis bus also share their state through it.

Imports are inside the functions: choosing SQLite never imports pymongo or redis.
"""

from __future__ import annotations

from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from adapters.bus.policy import StreamPolicy
from config.settings import Settings
from core.errors import ConfigurationError
from core.ports import ReliableBus, SharedState, Store

if TYPE_CHECKING:
    from collections.abc import Callable
    from datetime import datetime

    from core.notifications import Notifier
    from workflows.control import TradingControl
    from workflows.operator import OperatorService


def _where(url: str) -> str:
    """host:port of a URL, for error messages: never the password in it."""
    parts = urlsplit(url)
    return f"{parts.hostname}:{parts.port}" if parts.hostname else "<unparseable url>"


def make_store(settings: Settings) -> Store:
    if settings.storage.kind == "sqlite":
        from adapters.storage.sqlite import SqliteStore

        return SqliteStore(settings.sqlite_file)
    if settings.storage.mongo_uri is None:
        raise ConfigurationError(
            "storage.kind = mongo needs storage.mongo_uri (env QUORUM_STORAGE__MONGO_URI)"
        )
    import pymongo.errors

    from adapters.storage.mongo import MongoStore

    uri = settings.storage.mongo_uri.get_secret_value()
    try:
        return MongoStore.from_uri(uri, settings.storage.mongo_db)
    except pymongo.errors.PyMongoError as exc:
        raise ConfigurationError(
            f"cannot open MongoDB at {_where(uri)}: {type(exc).__name__}"
        ) from None


def _redis_url(settings: Settings) -> str:
    url = settings.bus.redis_url.get_secret_value()
    import redis

    try:
        client = redis.Redis.from_url(url, socket_connect_timeout=3)
        client.ping()
        client.close()
    except redis.RedisError as exc:
        raise ConfigurationError(
            f"cannot reach Redis at {_where(url)}: {type(exc).__name__}"
        ) from None
    return url


def make_bus(settings: Settings, policy: StreamPolicy | None = None) -> ReliableBus:
    """The configured bus; its stream policy comes from ``[bus]`` unless one is given."""
    policy = policy or StreamPolicy(
        maxlen=settings.bus.maxlen,
        claim_idle_ms=settings.bus.claim_idle_ms,
        max_deliveries=settings.bus.max_deliveries,
    )
    if settings.bus.kind == "memory":
        from adapters.bus.memory import InMemoryBus

        return InMemoryBus(policy)
    from adapters.bus.redis import RedisStreamBus

    return RedisStreamBus.from_url(_redis_url(settings), policy=policy)


def make_state(settings: Settings) -> SharedState:
    if settings.bus.kind == "memory":
        from adapters.state.memory import MemorySharedState

        return MemorySharedState()
    from adapters.state.redis_state import RedisSharedState

    return RedisSharedState.from_url(_redis_url(settings))


def make_control(settings: Settings, store: Store) -> TradingControl:
    """The operator's trading control: the store always, the shared state when processes
    share one (Redis bus), the audit chain for every change."""
    from config.secrets import audit_key
    from core.audit import AuditLog
    from workflows.control import TradingControl

    secret = settings.secrets.audit_key
    key = audit_key(secret.get_secret_value() if secret else None, settings.state_dir)
    shared = make_state(settings) if settings.bus.kind == "redis" else None
    return TradingControl(store, AuditLog(store, key), shared)


def make_operator_service(
    settings: Settings,
    store: Store,
    *,
    notifier: Notifier | None = None,
    clock: Callable[[], datetime] | None = None,
    data_store: Store | None = None,
) -> OperatorService:
    """The operator command service every transport uses: the trading control and its
    audit chain, the operator registry, and a cycle runner on this store. ``clock``
    (tests) moves time for TOTP checks and lockouts. ``data_store`` (the REST API showing
    a simulation's own store) is where the read commands look: status's equity and last
    cycle, positions, orders, pnl, explain, report. Operators, tokens, audit, trading
    state, proposals, config and cycle runs stay on ``store``. (``mode live|paper``
    records its confirmation on the read store too: a transport with a ``data_store``
    only reads and changes the trading state, never the mode.)"""
    from datetime import date
    from typing import Any

    from adapters.review import config_desk, make_proposal_service
    from adapters.runtime import (
        check_cycle_date,
        cycle_service,
        data_span,
        load_market,
        resolve_universe,
    )
    from config.settings import LIVE_PORTS
    from workflows.operator import OperatorService, ServiceOptions
    from workflows.operators import OperatorRegistry

    control = make_control(settings, store)
    ops = settings.operators
    registry = OperatorRegistry(
        store,
        control.audit,
        issuer=ops.totp_issuer,
        max_failed_totp=ops.max_failed_totp,
        lockout_minutes=ops.lockout_minutes,
        clock=clock,
    )

    async def run_cycle(as_of: date | None) -> dict[str, Any]:
        market = load_market(settings)
        symbols = resolve_universe(settings, market)
        day = as_of or data_span(market, symbols)[1]
        check_cycle_date(market, symbols, day)
        # The cycle announces itself (finished, fills, guards, a pending proposal) through
        # this notifier, and runs the proposal review like `quorum cycle run` and the daemon.
        async with cycle_service(
            settings, store=store, market=market, notifier=notifier, review=True
        ) as service:
            return await service.run(day)

    broker = settings.broker
    options = ServiceOptions(
        mode=settings.mode,
        live_confirmed=settings.live_confirmed,
        live_port=broker.kind == "ibkr" and broker.ibkr.port in LIVE_PORTS,
        snapshot_labels=("paper", "book") if broker.kind == "paper" else ("book",),
        starting_cash=broker.starting_cash,
        reports_dir=settings.state_dir / "reports",
    )
    return OperatorService(
        store=data_store or store,
        control=control,
        registry=registry,
        audit=control.audit,
        options=options,
        cycle_runner=run_cycle,
        notifier=notifier,
        proposals=make_proposal_service(settings, store, notifier=notifier, clock=clock),
        config=config_desk(settings, store),
    )
