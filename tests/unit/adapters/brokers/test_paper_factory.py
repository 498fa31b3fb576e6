"""make_broker: paper by default, IBKR loaded lazily, clear errors when it cannot be."""

from __future__ import annotations

import sys
import types
from pathlib import Path

import pytest

from adapters.brokers import factory
from adapters.brokers.factory import make_broker
from adapters.brokers.paper import PaperBroker, PaperBrokerConfig
from adapters.storage.sqlite import SqliteStore
from config.settings import Settings, load_settings
from core.errors import ConfigurationError
from core.ports import Broker, Store


@pytest.fixture
def store(tmp_path: Path) -> SqliteStore:
    return SqliteStore(tmp_path / "q.db")


def _ibkr_settings() -> Settings:
    return load_settings(broker={"kind": "ibkr", "starting_cash": 5_000.0})


async def test_make_broker_when_paper_then_paper_broker_with_settings_cash(
    store: SqliteStore,
) -> None:
    broker = make_broker(load_settings(broker={"starting_cash": 25_000.0}), store)
    assert isinstance(broker, PaperBroker)
    await broker.connect()
    assert (await broker.account()).cash == 25_000.0


def test_make_broker_when_paper_config_given_then_used(store: SqliteStore) -> None:
    config = PaperBrokerConfig(max_volume_share=0.5)
    broker = make_broker(load_settings(), store, paper_config=config)
    assert isinstance(broker, PaperBroker) and broker.config is config


def test_make_broker_when_ibkr_module_missing_then_configuration_error(
    store: SqliteStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(factory, "IBKR_MODULE", "adapters.brokers.no_such_ibkr")
    with pytest.raises(ConfigurationError, match="not installed"):
        make_broker(_ibkr_settings(), store)


def test_make_broker_when_ibkr_module_lacks_entry_point_then_configuration_error(
    store: SqliteStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(factory, "IBKR_MODULE", "adapters.brokers.paper.config")
    with pytest.raises(ConfigurationError, match="create_broker"):
        make_broker(_ibkr_settings(), store)


def test_make_broker_when_ibkr_dependency_missing_then_real_import_error_shown(
    store: SqliteStore, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    package = tmp_path / "fake_ibkr_pkg"
    package.mkdir()
    (package / "__init__.py").write_text("import no_such_dependency_xyz\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setattr(factory, "IBKR_MODULE", "fake_ibkr_pkg")
    with pytest.raises(ModuleNotFoundError, match="no_such_dependency_xyz"):
        make_broker(_ibkr_settings(), store)


def test_make_broker_when_ibkr_then_calls_its_entry_point(
    store: SqliteStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen: list[tuple[Settings, Store]] = []
    sentinel = PaperBroker(store)

    def create_broker(settings: Settings, st: Store) -> Broker:
        seen.append((settings, st))
        return sentinel

    module = types.ModuleType("fake_ibkr_entry")
    module.create_broker = create_broker  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "fake_ibkr_entry", module)
    monkeypatch.setattr(factory, "IBKR_MODULE", "fake_ibkr_entry")
    settings = _ibkr_settings()
    assert make_broker(settings, store) is sentinel
    assert seen == [(settings, store)]
