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

    again = await replay_cycle(settings, original["cycle_id"], tmp_path / "replay")
    assert again["same_orders"] is True  # a second replay re-runs, it does not resume the first
    assert [i["symbol"] for i in again["replayed"]] == ["AAPL"]

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


def _tamper_cached_answer(db: Path, agent: str, old: str, new: str) -> int:
    """Rewrite recorded LLM answers on disk, as a drifted cache would hold them."""
    import sqlite3

    with sqlite3.connect(str(db)) as conn:
        rows = conn.execute(
            "SELECT key, body FROM documents WHERE collection='llm_cache'"
        ).fetchall()
        changed = 0
        for key, body in rows:
            doc = json.loads(body)
            if doc["agent"] == agent and old in doc["text"]:
                doc["text"] = doc["text"].replace(old, new)
                conn.execute(
                    "UPDATE documents SET body=? WHERE collection='llm_cache' AND key=?",
                    (json.dumps(doc), key),
                )
                changed += 1
    return changed


def test_cycle_replay_cli_when_cached_answer_drifted_then_different_orders_exit_1(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from typer.testing import CliRunner

    from adapters.cli.main import app

    monkeypatch.setenv("QUORUM_STATE_DIR", str(tmp_path / "var"))
    monkeypatch.setenv("QUORUM_UNIVERSE__SYMBOLS", json.dumps(UNIVERSE))
    answers = tmp_path / "answers.jsonl"
    lines = [_decision("MSFT", "FLAT"), _decision("AAPL", "LONG")]
    answers.write_text("".join(json.dumps(line) + "\n" for line in lines))
    run = CliRunner().invoke(
        app, ["cycle", "run", "--date", DAY.isoformat(), "--llm", f"replay:{answers}", "--json"]
    )
    assert run.exit_code == 0, run.output
    [order] = json.loads(run.stdout)["orders"]
    assert (order["symbol"], order["side"]) == ("AAPL", "BUY")
    answers.write_text("")  # only the response cache can answer from here on
    cycle_id = f"cycle-{DAY.isoformat()}"

    same = CliRunner().invoke(app, ["cycle", "replay", cycle_id])
    assert same.exit_code == 0, same.output
    assert "same orders: 1 original, 1 replayed" in same.stdout
    assert "differs:" not in same.stdout

    # The recorded answer that made the order now says FLAT: replay must notice.
    db = tmp_path / "var" / "quorum.db"
    assert _tamper_cached_answer(db, "research_manager", '"LONG"', '"FLAT"') == 1
    drifted = CliRunner().invoke(app, ["cycle", "replay", cycle_id])
    assert drifted.exit_code == 1, drifted.output
    bought = f"BUY {order['qty']} AAPL {order['type']}"
    assert "DIFFERENT orders: 1 original, 0 replayed" in drifted.stdout
    assert f"original: {bought}" in drifted.stdout
    assert f"differs: only in the original: {bought}" in drifted.stdout

    as_json = CliRunner().invoke(app, ["cycle", "replay", cycle_id, "--json"])
    assert as_json.exit_code == 1
    result = json.loads(as_json.stdout)
    assert result["same_orders"] is False and result["replayed"] == []
    [difference] = result["differences"]  # the order and its protective levels
    assert difference.startswith(f"only in the original: {bought} (stop_loss ")
