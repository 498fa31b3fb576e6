"""Interactive Brokers (TWS / IB Gateway) through ib_async. Only ``client.py`` imports it."""

from adapters.brokers.ibkr.broker import AmbiguousContractError, ContractNotFoundError, IBKRBroker
from adapters.brokers.ibkr.config import IbkrConfig
from config.settings import Settings
from core.ports import Store

__all__ = [
    "AmbiguousContractError",
    "ContractNotFoundError",
    "IBKRBroker",
    "IbkrConfig",
    "create_broker",
]


def create_broker(settings: Settings, store: Store) -> IBKRBroker:
    """Entry point for ``adapters.brokers.factory``: settings.broker.ibkr + mode guard."""
    return IBKRBroker(IbkrConfig.from_settings(settings), store)
