"""The paper broker: Quorum's default, simulated ``Broker`` persisted in the ``Store``."""

from adapters.brokers.paper.broker import PaperBroker
from adapters.brokers.paper.config import PaperBrokerConfig

__all__ = ["PaperBroker", "PaperBrokerConfig"]
