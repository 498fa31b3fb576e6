"""Interactive Brokers (TWS / IB Gateway) through ib_async. Only ``client.py`` imports it."""

from adapters.brokers.ibkr.broker import AmbiguousContractError, ContractNotFoundError, IBKRBroker
from adapters.brokers.ibkr.config import IbkrConfig

__all__ = ["AmbiguousContractError", "ContractNotFoundError", "IBKRBroker", "IbkrConfig"]
