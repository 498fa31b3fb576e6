"""quorum cycle replay: a past cycle re-run from its recorded inputs and the response
cache makes the same orders, without touching the real account or journal."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from adapters.runtime import cycle_service, replay_cycle, replay_reasoner
from adapters.storage.sqlite import SqliteStore
from config.settings import load_settings
from core.errors import ConfigurationError
from tests.integration.test_cycle_e2e import DAY, UNIVERSE, _decision


async def test_replay_when_cycle_used_replayed_llm_answers_then_cache_gives_same_orders(
    tmp_path: Path,
) -> None:
    answers = tmp_path / "answers.jsonl"
    lines = [_decision("MSFT", "FLAT"), _decision("AAPL", "LONG")]
    answers.write_text("".join(json.dumps(line) + "\n" for line in lines))
    settings = load_settings(state_dir=tmp_path / "var", universe={"symbols": UNIVERSE})
    async with cycle_service(settings, llm=f"replay:{answers}") as service:
        original = await service.run(DAY)
        orders_before = service.store.orders()
    assert [o["symbol"] for o in original["orders"]] == ["AAPL"]
    answers.write_text("")  # the file is gone: only the response cache can answer now

    result = await replay_cycle(settings, original["cycle_id"], tmp_path / "replay")
    assert result["same_orders"] is True
    assert [i["symbol"] for i in result["replayed"]] == ["AAPL"]
    assert result["summary"]["llm"]["calls"] == 2  # served from the cache, charged as recorded

    async with cycle_service(settings, llm="offline") as service:  # real account untouched
        assert service.store.orders() == orders_before
        assert service.store.messages_by_cycle(result["replay_cycle_id"]) == []


async def test_replay_when_cycle_unknown_then_configuration_error(tmp_path: Path) -> None:
    settings = load_settings(state_dir=tmp_path / "var")
    SqliteStore(settings.sqlite_file).close()
    with pytest.raises(ConfigurationError, match="no recorded cycle"):  # nothing ran here
        await replay_cycle(settings, "cycle-1999-01-01", tmp_path / "replay")


def test_replay_reasoner_when_cycle_used_a_model_then_answers_only_from_cache(
    tmp_path: Path,
) -> None:
    settings = load_settings(state_dir=tmp_path)
    store = SqliteStore(tmp_path / "q.db")
    doc = {"llm": "anthropic", "llm_cache_model": "claude-sonnet-4-5"}
    reasoner, label = replay_reasoner(doc, settings, store)
    assert label == "cache:claude-sonnet-4-5"
    assert reasoner.inner.inner is None  # no backend behind the cache: no paid call
    _, label = replay_reasoner({"llm": "offline"}, settings, store)
    assert label == "offline"
    store.close()
