"""Fixtures for agent tests: the shipped bars, a SQLite store, a context factory and the
messages of the data and strategy desks on one day (what later desks read)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import date
from pathlib import Path
from typing import Any

import pytest

from adapters.marketdata.files import FileMarketData
from adapters.storage.sqlite import SqliteStore
from agents.base import AgentContext
from core.messages import Envelope, Note
from core.ports import Reasoner
from core.risk import RiskLimits
from tests.conftest import DATA_DIR

DAY = date(2013, 1, 24)  # a Thursday, an XNYS session, with sample news that week
UNIVERSE = ("AAPL", "MSFT", "IBM", "GOOG")

MakeContext = Callable[..., AgentContext]


@pytest.fixture(scope="session")
def market() -> FileMarketData:
    return FileMarketData(DATA_DIR / "us_daily")


@pytest.fixture
def store(tmp_path: Path) -> SqliteStore:
    s = SqliteStore(tmp_path / "q.db")
    yield s
    s.close()


@pytest.fixture
def make_ctx(market: FileMarketData, store: SqliteStore) -> MakeContext:
    def make(
        *,
        as_of: date = DAY,
        reasoner: Reasoner | None = None,
        cycle_id: str = "c-test",
        universe: Sequence[str] = UNIVERSE,
        **kwargs: Any,
    ) -> AgentContext:
        return AgentContext(
            cycle_id=cycle_id,
            as_of=as_of,
            market=kwargs.pop("market", market),
            store=store,
            limits=kwargs.pop("limits", RiskLimits()),
            universe=tuple(universe),
            reasoner=reasoner,
            **kwargs,
        )

    return make


def run_desks(ctx: AgentContext, *modules: Any, inbox: Sequence[Envelope] = ()) -> list[Envelope]:
    """Run agents one after the other, each seeing what the previous ones produced."""
    messages = list(inbox)
    for module in modules:
        messages += module.run(ctx, messages)
    return messages


def shortlist(ctx: AgentContext, symbols: Sequence[str]) -> Envelope:
    return ctx.message("daily_cycle", Note(topic="shortlist", data={"symbols": list(symbols)}))


@pytest.fixture
def analysed(make_ctx: MakeContext) -> list[Envelope]:
    """Data desk and signal agents on ``DAY`` (offline), plus a shortlist note."""
    from agents.data import fundamentals, market_data, market_regime, news_sentiment
    from agents.strategy import ma_crossover, mean_reversion, momentum, technical_analyst

    ctx = make_ctx()
    msgs = run_desks(ctx, market_data, fundamentals, news_sentiment, market_regime)
    msgs = run_desks(ctx, momentum, mean_reversion, ma_crossover, technical_analyst, inbox=msgs)
    return [*msgs, shortlist(ctx, ["GOOG", "IBM", "AAPL"])]
