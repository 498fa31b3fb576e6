"""The chat endpoints on a real uvicorn server on 127.0.0.1, driven with signed requests
over loopback exactly as Slack and Discord send them; everything the app sends out
(response_url posts, views.open, Discord follow-ups, notifications) lands on a loopback
stand-in of the platforms' APIs."""

from __future__ import annotations

import json
import time
import urllib.parse
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pyotp
import pytest

from adapters.chat.server import build_chat_app
from adapters.factories import make_control
from adapters.storage.sqlite import SqliteStore
from config.settings import Settings, load_settings
from core.ports import TradingStatus
from core.proposals import ProposalStatus
from core.risk import TradingState
from tests.fixtures.chat import (
    DISCORD_APP_ID,
    SLACK_SECRET,
    ApiStandIn,
    MemoryProposalDesk,
    Seen,
    UvicornThread,
    api_stand_in,
    discord_headers,
    discord_key,
    slack_headers,
)
from workflows.operator import OperatorService
from workflows.operators import OperatorRegistry, Role

ADMIN, TRADER, VIEWER, STRANGER = "U0ADMIN", "U0TRADER", "U0VIEWER", "U0NOBODY"
D_ADMIN, D_VIEWER, D_STRANGER = "300000000000000001", "300000000000000002", "399999999999999999"


class Clock:
    def __init__(self) -> None:
        self.now = datetime(2026, 1, 5, 12, 0, 5, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now


@dataclass
class Chat:
    settings: Settings
    store: SqliteStore
    service: OperatorService
    desk: MemoryProposalDesk
    clock: Clock
    api: ApiStandIn
    http: httpx.Client
    secrets: dict[str, str]

    def code(self, name: str, offset_steps: int = 0) -> str:
        when = self.clock.now + timedelta(seconds=30 * offset_steps)
        return pyotp.TOTP(self.secrets[name]).at(when)

    def status(self) -> TradingStatus:
        return self.service.control.status()

    def audit(self) -> list[Any]:
        return self.store.audit_records()

    def attempts(self, action: str) -> list[dict[str, Any]]:
        return [r.data for r in self.audit() if r.action == action]

    def chain_ok(self) -> bool:
        return self.service.control.audit.verify().ok

    # -- Slack -------------------------------------------------------------------------
    def slack_form(self, fields: dict[str, str], **sign: Any) -> httpx.Response:
        body = urllib.parse.urlencode(fields)
        return self.http.post("/slack/events", content=body, headers=slack_headers(body, **sign))

    def slash(self, text: str, user: str = ADMIN, n: int = 1, **sign: Any) -> httpx.Response:
        return self.slack_form(
            {
                "token": "legacy-verification-token",
                "team_id": "T0TEAM",
                "channel_id": "C0OPS",
                "user_id": user,
                "user_name": user.lower(),
                "command": "/quorum",
                "text": text,
                "api_app_id": "A0APP",
                "response_url": self.api.url(f"/slack/hooks/{n}"),
                "trigger_id": f"{n}.1.abc",
            },
            **sign,
        )

    def slack_payload(self, payload: dict[str, Any]) -> httpx.Response:
        return self.slack_form({"payload": json.dumps(payload)})

    # -- Discord -----------------------------------------------------------------------
    def discord(self, payload: dict[str, Any], **sign: Any) -> httpx.Response:
        body = json.dumps(payload).encode()
        headers = discord_headers(body, sign.pop("key", discord_key()), **sign)
        return self.http.post("/discord/interactions", content=body, headers=headers)

    def discord_command(self, text: str, user: str = D_ADMIN, **extra: Any) -> httpx.Response:
        options = [{"name": "command", "type": 3, "value": text}]
        if "totp" in extra:
            options.append({"name": "totp", "type": 3, "value": extra.pop("totp")})
        return self.discord(
            {
                "id": "500000000000000001",
                "application_id": DISCORD_APP_ID,
                "type": 2,
                "token": extra.pop("token", "itoken-1"),
                "version": 1,
                "guild_id": "600000000000000001",
                "channel_id": "700000000000000001",
                "member": {"user": {"id": user, "username": "op"}, "roles": []},
                "data": {
                    "id": "800000000000000001",
                    "name": "quorum",
                    "type": 1,
                    "options": options,
                },
            }
        )


def chat_settings(tmp_path: Path, api: ApiStandIn) -> Settings:
    return load_settings(
        state_dir=tmp_path / "var",
        chat={
            "slack_signing_secret": SLACK_SECRET,
            "slack_bot_token": "xoxb-test-bot-token",
            "slack_api_url": api.url("/slack/api/"),
            "slack_channel": "C0NOTIFY",
            "discord_public_key": discord_key().verify_key.encode().hex(),
            "discord_application_id": DISCORD_APP_ID,
            "discord_bot_token": "test-discord-bot-token",
            "discord_api_url": api.url("/discord/api/v10"),
            "discord_channel_id": "900000000000000001",
            "notify_attempts": 3,
            "notify_backoff_s": 0.01,
        },
    )


@pytest.fixture
def chat(tmp_path: Path) -> Iterator[Chat]:
    with api_stand_in() as api:
        settings = chat_settings(tmp_path, api)
        store = SqliteStore(tmp_path / "chat.db")
        clock = Clock()
        control = make_control(settings, store)
        registry = OperatorRegistry(store, control.audit, clock=clock)
        desk = MemoryProposalDesk([MemoryProposalDesk.pending("p-1")])
        service = OperatorService(
            store=store, control=control, registry=registry, audit=control.audit, proposals=desk
        )
        secrets = {}
        for name, role, slack_id, discord_id in (
            ("ada", Role.ADMIN, ADMIN, D_ADMIN),
            ("tom", Role.TRADER, TRADER, None),
            ("vic", Role.VIEWER, VIEWER, D_VIEWER),
        ):
            enrolment = registry.enrol(
                name, role, actor="test", slack_id=slack_id, discord_id=discord_id
            )
            secrets[name] = enrolment.secret
        app = build_chat_app(settings, service=service)
        with UvicornThread(app) as server, server.client() as http:
            yield Chat(settings, store, service, desk, clock, api, http, secrets)
        store.close()


def hook_posts(api: ApiStandIn, n: int) -> list[Seen]:
    return api.seen(lambda r: r.path == f"/slack/hooks/{n}")


# -- Slack ---------------------------------------------------------------------------------
def test_slack_status_when_signed_slash_command_then_answered_in_the_ack(chat: Chat) -> None:
    response = chat.slash("status")
    assert response.status_code == 200
    reply = response.json()
    assert reply["response_type"] == "in_channel"
    assert "trading" in reply["text"] and "ACTIVE" in reply["text"]
    assert reply["blocks"][0]["type"] == "section"
    [record] = chat.attempts("command:status")
    assert record["platform"] == "slack" and record["outcome"] == "ok"
    assert chat.chain_ok()


def test_slack_url_verification_when_signed_then_challenge_echoed(chat: Chat) -> None:
    challenge = "3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P"
    body = json.dumps({"token": "t", "challenge": challenge, "type": "url_verification"})
    headers = {**slack_headers(body), "Content-Type": "application/json"}
    response = chat.http.post("/slack/events", content=body, headers=headers)
    assert response.status_code == 200
    assert response.json() == {"challenge": challenge}


@pytest.mark.parametrize(
    ("sign", "code"),
    [
        ({"secret": "not-the-signing-secret"}, "BAD_SIGNATURE"),
        ({"ts_offset": -301}, "STALE_TIMESTAMP"),
        ({"ts_offset": 400}, "STALE_TIMESTAMP"),
    ],
)
def test_slack_when_bad_signature_or_stale_timestamp_then_401_audited_and_nothing_runs(
    chat: Chat, sign: dict[str, Any], code: str
) -> None:
    # the offset applies now, not at collection: a long run would bring a "future"
    # timestamp computed at collection back inside the 5-minute window
    if "ts_offset" in sign:
        sign = {"ts": int(time.time()) + sign.pop("ts_offset")}
    chat.service.control.set_state(TradingState.HALTED, "test setup", "test")
    before = chat.status()
    response = chat.slash(f"resume ok --totp {chat.code('ada')}", **sign)
    assert response.status_code == 401
    assert chat.status() == before
    assert chat.attempts("command:resume") == []  # never reached the service
    [refused] = chat.attempts("chat:request_refused")
    assert refused["platform"] == "slack" and refused["code"] == code
    assert chat.chain_ok()


def test_slack_when_signature_headers_missing_or_malformed_then_401(chat: Chat) -> None:
    body = "command=%2Fquorum&text=status&user_id=U0ADMIN"
    form = {"Content-Type": "application/x-www-form-urlencoded"}
    assert chat.http.post("/slack/events", content=body, headers=form).status_code == 401
    malformed = {**slack_headers(body), "X-Slack-Request-Timestamp": "soon"}
    assert chat.http.post("/slack/events", content=body, headers=malformed).status_code == 401
    codes = [r["code"] for r in chat.attempts("chat:request_refused")]
    assert codes == ["MISSING_SIGNATURE", "MALFORMED_TIMESTAMP"]
    assert chat.attempts("command:status") == []


def test_slack_when_unknown_user_then_unknown_user_ephemeral_and_audited(chat: Chat) -> None:
    reply = chat.slash("halt because", user=STRANGER).json()
    assert reply["response_type"] == "ephemeral"
    assert "UNKNOWN_USER" in reply["text"] and STRANGER in reply["text"]
    assert chat.status().state is TradingState.ACTIVE
    [record] = chat.attempts("command:halt")
    assert record["code"] == "UNKNOWN_USER" and record["user_id"] == STRANGER
    assert chat.audit()[-1].actor == f"slack:{STRANGER}"


def test_slack_when_viewer_halts_then_role_forbidden_and_nothing_changes(chat: Chat) -> None:
    before = chat.status()
    reply = chat.slash("halt news shock", user=VIEWER).json()
    assert "ROLE_FORBIDDEN" in reply["text"]
    assert chat.status() == before
    [record] = chat.attempts("command:halt")
    assert (record["outcome"], record["code"]) == ("denied", "ROLE_FORBIDDEN")
    assert chat.chain_ok()


def test_slack_when_trader_halts_then_state_changes_and_reply_is_public(chat: Chat) -> None:
    reply = chat.slash("halt news shock", user=TRADER).json()
    assert reply["response_type"] == "in_channel"
    status = chat.status()
    assert status.state is TradingState.HALTED and status.actor == "tom"


def test_slack_admin_resume_when_no_wrong_reused_codes_and_lockout_then_each_refused(
    chat: Chat,
) -> None:
    chat.service.control.set_state(TradingState.HALTED, "test setup", "test")
    halted = chat.status()

    def attempt(text: str) -> str:
        reply = chat.slash(text).json()
        assert chat.status().state is TradingState.HALTED
        return str(reply["text"])

    assert "TOTP_REQUIRED" in attempt("resume all clear")
    wrong = "000000" if chat.code("ada") != "000000" else "111111"
    assert "TOTP_INVALID" in attempt(f"resume all clear --totp {wrong}")
    assert chat.status() == halted
    good = chat.code("ada")
    assert chat.slash(f"resume all clear --totp {good}").json()["response_type"] == "in_channel"
    assert chat.status().state is TradingState.ACTIVE
    chat.service.control.set_state(TradingState.HALTED, "again", "test")
    assert "TOTP_REUSED" in attempt(f"resume all clear --totp {good}")
    for _ in range(5):  # the success cleared the count: five wrong codes lock the operator
        attempt(f"resume all clear --totp {wrong}")
    chat.clock.now += timedelta(seconds=30)
    assert "OPERATOR_LOCKED" in attempt(f"resume all clear --totp {chat.code('ada')}")
    codes = [r["code"] for r in chat.attempts("command:resume")]
    locking = codes[8]  # the fifth wrong code: refused, and the operator locked with it
    assert (
        codes[:8] == ["TOTP_REQUIRED", "TOTP_INVALID", None, "TOTP_REUSED"] + ["TOTP_INVALID"] * 4
    )
    assert locking in ("TOTP_INVALID", "OPERATOR_LOCKED") and codes[9:] == ["OPERATOR_LOCKED"]
    assert chat.attempts("operator:locked")[0]["name"] == "ada"
    assert all(r["totp"] in (None, "***") for r in chat.attempts("command:resume"))
    assert good not in json.dumps([r.data for r in chat.audit()])  # codes never audited
    assert chat.chain_ok()


def test_slack_slow_command_when_acked_then_result_posted_to_response_url(chat: Chat) -> None:
    reply = chat.slash("report", user=VIEWER, n=7).json()
    assert reply["text"].startswith("working")
    [posted] = chat.api.wait_for(lambda r: r.path == "/slack/hooks/7")
    assert "NOT_FOUND" in posted.json["text"]  # no cycle has run on this store yet


def test_slack_approve_button_when_admin_then_modal_then_code_approves(chat: Chat) -> None:
    button = {
        "type": "block_actions",
        "user": {"id": ADMIN, "username": "ada", "team_id": "T0TEAM"},
        "api_app_id": "A0APP",
        "team": {"id": "T0TEAM"},
        "channel": {"id": "C0NOTIFY"},
        "trigger_id": "9.9.trigger",
        "response_url": chat.api.url("/slack/hooks/42"),
        "container": {"type": "message", "message_ts": "1.2", "channel_id": "C0NOTIFY"},
        "actions": [
            {
                "type": "button",
                "action_id": "quorum_proposal_approve",
                "block_id": "proposal:p-1",
                "value": "p-1",
                "action_ts": "1.3",
            }
        ],
    }
    assert chat.slack_payload(button).status_code == 200
    [opened] = chat.api.wait_for(lambda r: r.path == "/slack/api/views.open")
    assert opened.headers["authorization"] == "Bearer xoxb-test-bot-token"
    sent = opened.json
    view = sent["view"] if isinstance(sent["view"], dict) else json.loads(sent["view"])
    assert sent["trigger_id"] == "9.9.trigger"
    assert view["callback_id"] == "quorum_proposal_approve_view"

    def submit(code: str) -> httpx.Response:
        typed = {"type": "plain_text_input", "value": code}
        return chat.slack_payload(
            {
                "type": "view_submission",
                "user": {"id": ADMIN, "username": "ada"},
                "team": {"id": "T0TEAM"},
                "api_app_id": "A0APP",
                "view": {**view, "id": "V1", "state": {"values": {"totp": {"code": typed}}}},
            }
        )

    refused = submit("000000" if chat.code("ada") != "000000" else "111111")
    assert refused.json()["response_action"] == "errors"
    assert "TOTP_INVALID" in refused.json()["errors"]["totp"]
    assert chat.desk.proposals["p-1"].status is ProposalStatus.PENDING
    accepted = submit(chat.code("ada"))
    assert accepted.status_code == 200 and accepted.text == ""
    [outcome] = chat.api.wait_for(lambda r: r.path == "/slack/hooks/42")
    assert outcome.json["replace_original"] is True
    assert "approved" in outcome.json["text"]
    assert chat.desk.proposals["p-1"].status is ProposalStatus.APPROVED
    codes = [r["code"] for r in chat.attempts("command:proposals")]
    assert codes == ["TOTP_INVALID", None]


def test_slack_approve_button_when_viewer_then_refused_without_a_modal(chat: Chat) -> None:
    button = {
        "type": "block_actions",
        "user": {"id": VIEWER, "username": "vic"},
        "team": {"id": "T0TEAM"},
        "trigger_id": "9.9.t",
        "response_url": chat.api.url("/slack/hooks/43"),
        "actions": [{"type": "button", "action_id": "quorum_proposal_approve", "value": "p-1"}],
    }
    assert chat.slack_payload(button).status_code == 200
    [posted] = chat.api.wait_for(lambda r: r.path == "/slack/hooks/43")
    assert "ROLE_FORBIDDEN" in posted.json["text"]
    assert posted.json["response_type"] == "ephemeral"
    assert chat.api.seen(lambda r: "views.open" in r.path) == []
    assert chat.desk.proposals["p-1"].status is ProposalStatus.PENDING


# -- Discord -------------------------------------------------------------------------------
def test_discord_ping_when_signed_then_pong(chat: Chat) -> None:
    ping = {"id": "1", "application_id": DISCORD_APP_ID, "type": 1, "token": "t", "version": 1}
    response = chat.discord(ping)
    assert response.status_code == 200
    assert response.json() == {"type": 1}


def test_discord_status_when_slash_command_then_channel_message_without_mentions(
    chat: Chat,
) -> None:
    reply = chat.discord_command("status").json()
    assert reply["type"] == 4
    assert "ACTIVE" in reply["data"]["content"]
    assert reply["data"]["allowed_mentions"] == {"parse": []}
    assert "flags" not in reply["data"]
    [record] = chat.attempts("command:status")
    assert (record["platform"], record["user_id"]) == ("discord", D_ADMIN)


@pytest.mark.parametrize(
    ("sign", "code"),
    [
        ({"key": discord_key(bytes(32))}, "BAD_SIGNATURE"),
        ({"ts": int(time.time()) - 3600}, "STALE_TIMESTAMP"),
    ],
)
def test_discord_when_bad_signature_or_stale_then_401_and_audited(
    chat: Chat, sign: dict[str, Any], code: str
) -> None:
    ping = {"id": "1", "application_id": DISCORD_APP_ID, "type": 1, "token": "t"}
    response = chat.discord(ping, **sign)
    assert response.status_code == 401
    assert response.json()["error"].startswith(code)
    assert chat.attempts("chat:request_refused")[0]["code"] == code


def test_discord_when_signature_missing_then_401(chat: Chat) -> None:
    response = chat.http.post("/discord/interactions", json={"type": 1})
    assert response.status_code == 401
    assert response.json()["error"].startswith("MISSING_SIGNATURE")


def test_discord_when_unknown_user_then_ephemeral_refusal_audited(chat: Chat) -> None:
    reply = chat.discord_command("kill now", user=D_STRANGER).json()
    assert reply["type"] == 4 and reply["data"]["flags"] == 64
    assert "UNKNOWN_USER" in reply["data"]["content"]
    assert chat.status().kill_switch is False
    assert chat.attempts("command:kill")[0]["user_id"] == D_STRANGER


def test_discord_resume_when_totp_option_then_critical_command_runs(chat: Chat) -> None:
    chat.service.control.set_state(TradingState.HALTED, "test setup", "test")
    refused = chat.discord_command("resume ok").json()
    assert "TOTP_REQUIRED" in refused["data"]["content"]
    assert chat.status().state is TradingState.HALTED
    chat.discord_command("resume ok", totp=chat.code("ada"))
    assert chat.status().state is TradingState.ACTIVE


def test_discord_slow_command_when_deferred_then_follow_up_edits_original(chat: Chat) -> None:
    reply = chat.discord_command("report", user=D_VIEWER, token="itoken-slow").json()
    assert reply == {"type": 5}
    path = f"/discord/api/v10/webhooks/{DISCORD_APP_ID}/itoken-slow/messages/@original"
    [edit] = chat.api.wait_for(lambda r: r.path == path)
    assert edit.method == "PATCH"
    assert "NOT_FOUND" in edit.json["content"]
    assert edit.json["allowed_mentions"] == {"parse": []}


def test_discord_approve_button_when_admin_then_modal_and_code_decides(chat: Chat) -> None:
    base = {
        "id": "2",
        "application_id": DISCORD_APP_ID,
        "token": "itoken-btn",
        "version": 1,
        "member": {"user": {"id": D_ADMIN, "username": "ada"}},
        "message": {"id": "55", "content": "Proposal p-1 waiting for review"},
    }
    clicked = chat.discord(
        {**base, "type": 3, "data": {"custom_id": "proposal:approve:p-1", "component_type": 2}}
    ).json()
    assert clicked["type"] == 9
    assert clicked["data"]["custom_id"] == "proposal:approve:p-1"
    [row] = clicked["data"]["components"]
    assert row["components"][0]["custom_id"] == "totp"

    def submit(code: str, token: str) -> dict[str, Any]:
        field = {"type": 4, "custom_id": "totp", "value": code}
        data = {
            "custom_id": "proposal:approve:p-1",
            "components": [{"type": 1, "components": [field]}],
        }
        return chat.discord({**base, "type": 5, "token": token, "data": data}).json()

    refused = submit("000000" if chat.code("ada") != "000000" else "111111", "t-bad")
    assert refused["type"] == 4 and refused["data"]["flags"] == 64
    assert "TOTP_INVALID" in refused["data"]["content"]
    assert chat.desk.proposals["p-1"].status is ProposalStatus.PENDING
    updated = submit(chat.code("ada"), "t-good")
    assert updated["type"] == 7  # UPDATE_MESSAGE: the proposal's message shows the outcome
    assert updated["data"]["components"] == []
    assert updated["data"]["content"].startswith("Proposal p-1 waiting for review")
    assert "approved" in updated["data"]["content"]
    assert updated["data"]["allowed_mentions"] == {"parse": []}
    assert chat.desk.proposals["p-1"].status is ProposalStatus.APPROVED
    codes = [r["code"] for r in chat.attempts("command:proposals")]
    assert codes == ["TOTP_INVALID", None]


def test_discord_reject_modal_when_reason_given_then_rejected_with_it(chat: Chat) -> None:
    base = {
        "id": "4",
        "application_id": DISCORD_APP_ID,
        "token": "itoken-rej",
        "member": {"user": {"id": D_ADMIN, "username": "ada"}},
        "message": {"id": "56", "content": "Proposal p-1 waiting for review"},
    }
    clicked = chat.discord({**base, "type": 3, "data": {"custom_id": "proposal:reject:p-1"}})
    [row] = clicked.json()["data"]["components"]
    assert row["components"][0]["custom_id"] == "reason"
    label = {"type": 18, "component": {"type": 4, "custom_id": "reason", "value": "too loose"}}
    data = {"custom_id": "proposal:reject:p-1", "components": [label]}
    reply = chat.discord({**base, "type": 5, "data": data}).json()
    assert reply["type"] == 7 and "rejected" in reply["data"]["content"]
    decided = chat.desk.proposals["p-1"]
    assert (decided.status, decided.decision_reason) == (ProposalStatus.REJECTED, "too loose")


def test_discord_reject_button_when_viewer_then_refused_at_once(chat: Chat) -> None:
    reply = chat.discord(
        {
            "id": "3",
            "application_id": DISCORD_APP_ID,
            "token": "t",
            "type": 3,
            "user": {"id": D_VIEWER, "username": "vic"},
            "data": {"custom_id": "proposal:reject:p-1", "component_type": 2},
        }
    ).json()
    assert reply["type"] == 4 and reply["data"]["flags"] == 64
    assert "ROLE_FORBIDDEN" in reply["data"]["content"]
    assert chat.desk.proposals["p-1"].status is ProposalStatus.PENDING


def test_discord_cycle_run_when_deferred_then_summary_follows_and_channels_are_notified(
    tmp_path: Path,
) -> None:
    """The real cycle on the shipped bars, asked for from Discord: the reply is deferred,
    the summary edits it, and both notification channels hear the cycle finished."""
    from adapters.factories import make_operator_service

    with api_stand_in() as api:
        settings = chat_settings(tmp_path, api)
        store = SqliteStore(settings.sqlite_file)
        service = make_operator_service(settings, store)
        service.registry.enrol("tom", Role.TRADER, actor="test", discord_id=D_ADMIN)
        app = build_chat_app(settings, service=service)
        with UvicornThread(app) as server, server.client() as http:
            chat = Chat(settings, store, service, MemoryProposalDesk(), Clock(), api, http, {})
            reply = chat.discord_command("cycle run 2013-02-27", token="itoken-cycle").json()
            assert reply == {"type": 5}
            edit_path = (
                f"/discord/api/v10/webhooks/{DISCORD_APP_ID}/itoken-cycle/messages/@original"
            )
            [edit] = api.wait_for(lambda r: r.path == edit_path, timeout=240)
            slack = api.wait_for(lambda r: r.path == "/slack/api/chat.postMessage", timeout=30)
            channel = api.wait_for(
                lambda r: r.path.endswith("/channels/900000000000000001/messages")
            )
        store.close()
    assert "cycle-2013-02-27" in edit.json["content"]
    finished = [r.json["text"] for r in slack if "finished" in r.json["text"]]
    assert len(finished) == 1 and "cycle-2013-02-27" in finished[0] and "Report:" in finished[0]
    assert any("Cycle cycle-2013-02-27 finished" in r.json["content"] for r in channel)
    assert all(r.json["allowed_mentions"] == {"parse": []} for r in channel)
