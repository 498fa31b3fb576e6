"""Notifications from real cycles on the shipped data, caught by a loopback stand-in of
the Slack and Discord APIs: a proposal drawn from a simulation's lessons reaches both
channels with its Approve / Reject buttons, and each cycle's finish is announced."""

from __future__ import annotations

import asyncio
from datetime import date
from pathlib import Path

import pytest

from adapters.runtime import cycle_service
from config.settings import load_settings
from tests.fixtures.chat import Seen, api_stand_in
from workflows.simulate import simulate

START, END = date(2013, 2, 1), date(2013, 2, 20)
SESSIONS = 13  # XNYS, 2013-02-01 .. 02-20 (Presidents' Day closed): one "finished" each
CHANNEL = "/discord/api/v10/channels/900000000000000001/messages"


def slack_posts(r: Seen) -> bool:
    return r.path == "/slack/api/chat.postMessage"


def test_cycles_when_a_lesson_becomes_a_proposal_then_channels_get_it_with_buttons(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for key, value in {
        "QUORUM_STATE_DIR": str(tmp_path / "var"),
        "QUORUM_PROPOSALS__LESSON_SCORE_THRESHOLD": "-1",
        "QUORUM_PROPOSALS__LESSON_HORIZON": "2",
        "QUORUM_PROPOSALS__EVIDENCE_SESSIONS": "4",
    }.items():
        monkeypatch.setenv(key, value)
    with api_stand_in() as api:
        settings = load_settings(
            chat={
                "slack_bot_token": "xoxb-notify",
                "slack_api_url": api.url("/slack/api/"),
                "slack_channel": "C0NOTIFY",
                "discord_bot_token": "discord-notify",
                "discord_api_url": api.url("/discord/api/v10"),
                "discord_channel_id": "900000000000000001",
                "notify_backoff_s": 0.01,
            }
        )

        async def run() -> None:
            async with cycle_service(settings, llm="offline") as service:
                await simulate(service, "loop", START, END, settings.broker.starting_cash)

        asyncio.run(run())
        pending = api.wait_for(lambda r: slack_posts(r) and "waiting for review" in r.json["text"])
        buttons = api.wait_for(lambda r: r.path == CHANNEL and "components" in r.json)
        finished = api.wait_for(
            lambda r: slack_posts(r) and "finished" in r.json["text"], count=SESSIONS
        )
    [slack] = pending
    actions = slack.json["blocks"][-1]
    proposal_id = actions["elements"][0]["value"]
    assert [e["action_id"] for e in actions["elements"]] == [
        "quorum_proposal_approve",
        "quorum_proposal_reject",
    ]
    assert "agents.research_manager.enter_threshold" in slack.json["text"]
    [discord] = buttons
    assert [b["custom_id"] for b in discord.json["components"][0]["components"]] == [
        f"proposal:approve:{proposal_id}",
        f"proposal:reject:{proposal_id}",
    ]
    assert len({r.json["text"].split(":")[0] for r in finished}) == len(finished) == SESSIONS
