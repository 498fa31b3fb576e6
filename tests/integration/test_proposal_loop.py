"""The proposal loop end to end on the shipped data, offline: a simulation of daily cycles
draws lessons and scores them by the orders that cited them; a scored lesson becomes a
proposal; its evidence is simulated; an admin approves it through the CLI; the next
cycle runs on the new configuration version; a rollback through the CLI restores the
old one; and a replay of the cycle that ran on the new version uses that version and
that day's memory, not what came after."""

from __future__ import annotations

import asyncio
import json
from datetime import date
from pathlib import Path
from typing import Any

import pyotp
import pytest
from typer.testing import CliRunner

from adapters.cli.main import app
from adapters.runtime import cycle_service, replay_cycle
from adapters.storage.sqlite import SqliteStore
from config.settings import Settings, load_settings
from core.proposals import Proposal, ProposalStatus
from workflows.simulate import simulate

runner = CliRunner()
START, END = date(2013, 2, 1), date(2013, 2, 20)
NEXT, AFTER = date(2013, 2, 21), date(2013, 2, 22)


@pytest.fixture
def settings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Settings:
    env = {
        "QUORUM_STATE_DIR": str(tmp_path / "var"),
        "QUORUM_PROPOSALS__LESSON_SCORE_THRESHOLD": "-1",  # any realised score clears it
        "QUORUM_PROPOSALS__LESSON_HORIZON": "2",  # decisions scored two sessions on
        "QUORUM_PROPOSALS__EVIDENCE_SESSIONS": "4",
    }
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    return load_settings()


def _cli(*args: str) -> Any:
    result = runner.invoke(app, [*args, "--json"])
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def _code(secret: str) -> str:
    return pyotp.TOTP(secret).now()


async def _simulate(settings: Settings) -> None:
    async with cycle_service(settings, llm="offline") as service:
        await simulate(service, "loop", START, END, settings.broker.starting_cash)


async def _cycle(settings: Settings, day: date) -> dict[str, Any]:
    async with cycle_service(settings, llm="offline") as service:
        return await service.run(day)


def _notes(store: SqliteStore, cycle_id: str, topic: str) -> list[dict[str, Any]]:
    return [
        m.payload.data
        for m in store.messages_by_kind("note", cycle_id)
        if m.payload.topic == topic  # type: ignore[union-attr]
    ]


def test_loop_when_lessons_score_then_proposal_cli_approval_new_version_rollback_and_replay(
    settings: Settings, tmp_path: Path
) -> None:
    asyncio.run(_simulate(settings))
    store = SqliteStore(settings.sqlite_file)
    try:
        proposals = [Proposal.model_validate(d) for d in store.documents("proposals")]
        [p] = [x for x in proposals if x.status is ProposalStatus.PENDING]
        assert p.author == "proposal_author" and p.lessons == ["lesson:no_ideas"]
        assert p.changes == {"agents.research_manager.enter_threshold": 0.135}
        assert p.origin and p.origin.startswith("sim-loop-")
        [section] = p.evidence["sections"]  # type: ignore[index]
        assert section["method"] == "simulate" and len(section["folds"]) == 2
        assert set(section["overall"]) == {"current", "proposed"}
        assert section["deflated_sharpe"]["trials"] >= 2
        scores = {
            d["id"]: d for d in _notes(store, p.origin.split(":")[0], "lesson_scores")[0]["lessons"]
        }
        assert scores["lesson:no_ideas"]["score"] is not None  # proposed from a scored lesson
    finally:
        store.close()

    bob = _cli("operators", "add", "bob", "--role", "admin")["totp_secret"]
    carol = _cli("operators", "add", "carol", "--role", "admin")["totp_secret"]
    shown = _cli("proposals", "show", p.id)
    assert shown["status"] == "pending" and shown["evidence"]["sections"]
    approved = _cli("proposals", "approve", p.id, "--actor", "bob", "--totp", _code(bob))
    assert approved["status"] == "approved" and approved["applied_version"] == 2

    first = asyncio.run(_cycle(settings, NEXT))
    history = _cli("config", "history")
    assert [v["version"] for v in history["versions"]] == [1, 2]
    assert history["versions"][1]["diff"] == {
        "agents.research_manager.enter_threshold": [0.15, 0.135]
    }
    rolled = _cli("config", "rollback", "1", "--reason", "back to 0.15", "--actor", "carol",
                  "--totp", _code(carol))  # fmt: skip
    assert rolled["version"] == 1 and rolled["active"] is True
    asyncio.run(_cycle(settings, AFTER))

    store = SqliteStore(settings.sqlite_file)
    try:
        versions = {
            d: store.get_document("cycles", f"cycle-{d.isoformat()}")["config_version"]  # type: ignore[index]
            for d in (NEXT, AFTER)
        }
        assert versions == {NEXT: 2, AFTER: 1}  # the new version, then the old one again
        assert _notes(store, first["cycle_id"], "config_version") == [{"version": 2}]
        original_scores = _notes(store, first["cycle_id"], "lesson_scores")
        original_guard = [
            m.payload.figures
            for m in store.messages_by_kind("tool_figures", first["cycle_id"])
            if m.payload.tool == "drawdown"  # type: ignore[union-attr]
        ]
    finally:
        store.close()

    replay = asyncio.run(replay_cycle(settings, first["cycle_id"], tmp_path / "replay"))
    assert replay["same_orders"] is True
    copy = SqliteStore(tmp_path / "replay" / "replay.db")
    try:
        doc = copy.get_document("cycles", replay["replay_cycle_id"])
        assert doc is not None and doc["config_version"] == 2  # not the active version 1
        # that day's memory: the lessons and the guard's equity points of 2013-02-21, not
        # the ones the 2013-02-22 cycle added to the store since
        assert _notes(copy, replay["replay_cycle_id"], "lesson_scores") == original_scores
        replay_guard = [
            m.payload.figures
            for m in copy.messages_by_kind("tool_figures", replay["replay_cycle_id"])
            if m.payload.tool == "drawdown"  # type: ignore[union-attr]
        ]
        assert replay_guard == original_guard
    finally:
        copy.close()


def test_submit_cli_when_loosening_past_the_cap_then_refused_naming_it_and_nothing_recorded(
    settings: Settings,
) -> None:
    result = runner.invoke(
        app, ["proposals", "submit", "--set", "risk.max_position_pct=0.5", "--reason", "test"]
    )
    assert result.exit_code == 1
    assert "LOOSENS_HARD_CAP: key=risk.max_position_pct value=0.5 cap=0.30" in result.output
    assert "30 % hard cap" in result.output
    assert _cli("proposals", "list") == []
