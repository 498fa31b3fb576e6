"""Interactive Brokers (TWS / IB Gateway) through ib_async. Only ``client.py`` imports it."""

from adapters.brokers.ibkr.broker import AmbiguousContractError, ContractNotFoundError, IBKRBroker
from adapters.brokers.ibkr.config import IbkrConfig
from adapters.brokers.ibkr.pacing import bucket_shape
from config.settings import Settings
from core.ports import RateLimiter, SharedState, Store

__all__ = [
    "AmbiguousContractError",
    "ContractNotFoundError",
    "IBKRBroker",
    "IbkrConfig",
    "create_broker",
    "shared_pacing_limiter",
]


def create_broker(settings: Settings, store: Store) -> IBKRBroker:
    """Entry point for ``adapters.brokers.factory``: settings.broker.ibkr + mode guard.

    With a Redis bus, the message pacing budget lives in the shared state too: every
    process talking to the same TWS / Gateway (host and port) draws from one bucket.
    """
    config = IbkrConfig.from_settings(settings)
    shared = None
    if settings.bus.kind == "redis":
        from adapters.factories import make_state

        shared = shared_pacing_limiter(make_state(settings), config)
    return IBKRBroker(config, store, shared_pacing=shared)


def shared_pacing_limiter(state: SharedState, config: IbkrConfig) -> RateLimiter:
    """The cross-process message bucket for one TWS endpoint (same burst and refill as
    the local pacer, so together they never exceed ``messages_per_second``)."""
    capacity, refill = bucket_shape(config.messages_per_second)
    return state.rate_limiter(
        f"ibkr.messages.{config.host}:{config.port}", capacity=capacity, refill_per_s=refill
    )
