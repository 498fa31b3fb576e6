"""Choose the broker the settings ask for. The one place that knows every implementation."""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import TYPE_CHECKING

from core.errors import ConfigurationError
from core.ports import Broker, Store

if TYPE_CHECKING:
    from adapters.brokers.paper import PaperBrokerConfig
    from config.settings import Settings

IBKR_MODULE = "adapters.brokers.ibkr"
IBKR_ENTRY_POINT = "create_broker"  # create_broker(settings: Settings, store: Store) -> Broker

BrokerFactory = Callable[["Settings", Store], Broker]


def make_broker(
    settings: Settings, store: Store, *, paper_config: PaperBrokerConfig | None = None
) -> Broker:
    """The paper broker (default) or the IBKR broker, per ``settings.broker.kind``.

    The IBKR module is imported only when asked for, so paper trading never loads
    ib_async. ``paper_config`` overrides the paper defaults (starting cash still comes
    from the settings unless the override sets it).
    """
    kind = settings.broker.kind
    if kind == "paper":
        from adapters.brokers.paper import PaperBroker, PaperBrokerConfig
        from tools.costs import SlippageModel

        config = paper_config or PaperBrokerConfig(
            starting_cash=settings.broker.starting_cash,
            slippage=SlippageModel(bps=settings.broker.paper.slippage_bps),
            max_volume_share=settings.broker.paper.max_volume_share,
        )
        return PaperBroker(store, config)
    if kind == "ibkr":
        return _ibkr_factory()(settings, store)
    raise ConfigurationError(f"unknown broker kind {kind!r}: expected 'paper' or 'ibkr'")


def _ibkr_factory() -> BrokerFactory:
    try:
        module = importlib.import_module(IBKR_MODULE)
    except ModuleNotFoundError as exc:
        if exc.name is None or not IBKR_MODULE.startswith(exc.name):
            raise  # a dependency of the module is missing: show the real cause
        raise ConfigurationError(
            f"broker.kind = 'ibkr' but {IBKR_MODULE} is not installed in this build"
        ) from exc
    factory: BrokerFactory | None = getattr(module, IBKR_ENTRY_POINT, None)
    if not callable(factory):
        raise ConfigurationError(f"{IBKR_MODULE} has no {IBKR_ENTRY_POINT}(settings, store)")
    return factory
