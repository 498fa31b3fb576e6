"""A TWS API (text protocol, server version 176) simulator for ib_async, with faults."""

from adapters.brokers.ibkr_sim.faults import Faults
from adapters.brokers.ibkr_sim.server import TwsSimulator

__all__ = ["Faults", "TwsSimulator"]
