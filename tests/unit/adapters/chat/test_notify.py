"""Notifications: rendered per platform, sent from a background thread with retries and
backoff, given up with a log line that names no secret; never raising, never blocking."""

from __future__ import annotations

import logging
import random
from collections.abc import Iterator
from pathlib import Path

import pytest

from adapters.chat.delivery import (
    DeliveryFailure,
    PermanentError,
    TransientError,
    backoff_delay,
    deliver,
)
from adapters.chat.notify import ChatNotifier, make_notifier, notification_text
from config.settings import Settings, load_settings
from core.notifications import (
    CycleFailed,
    CycleFinished,
    CycleMissed,
    GuardTripped,
    NullNotifier,
    OrderFilled,
    OrderRejected,
    ProposalPending,
)
from tests.fixtures.chat import ApiStandIn, api_stand_in

BOT = "xoxb-secret-bot-token-123"
DISCORD_BOT = "discord-secret-bot-token-456"
FINISHED = CycleFinished(
    cycle_id="cycle-2024-01-17", as_of="2024-01-17", equity=100512.5, orders=2, fills=1,
    rejections=3, report="/var/reports/cycle-2024-01-17.html",
)  # fmt: skip
PENDING = ProposalPending(
    proposal_id="p-7", title="risk.max_position_weight 0.30 -> 0.25", author="proposal_author",
    changes={"risk.max_position_weight": 0.25},
)  # fmt: skip


@pytest.fixture
def api() -> Iterator[ApiStandIn]:
    with api_stand_in() as stand_in:
        yield stand_in


def settings_for(tmp_path: Path, api: ApiStandIn, **chat: object) -> Settings:
    values: dict[str, object] = {
        "slack_bot_token": BOT,
        "slack_api_url": api.url("/slack/api/"),
        "slack_channel": "C0NOTIFY",
        "discord_bot_token": DISCORD_BOT,
        "discord_api_url": api.url("/discord/api/v10"),
        "discord_channel_id": "900",
        "notify_attempts": 3,
        "notify_backoff_s": 0.001,
        **chat,
    }
    return load_settings(state_dir=tmp_path, chat=values)


def notifier(tmp_path: Path, api: ApiStandIn, **chat: object) -> ChatNotifier:
    made = make_notifier(settings_for(tmp_path, api, **chat))
    assert isinstance(made, ChatNotifier)
    return made


def test_notification_text_when_each_type_then_names_what_happened() -> None:
    assert notification_text(FINISHED) == (
        "Cycle cycle-2024-01-17 finished (2024-01-17): equity 100,512.50, 2 orders, 1 fills,"
        " 3 rejections\nReport: /var/reports/cycle-2024-01-17.html"
    )
    texts = [
        notification_text(CycleFailed(cycle_id="c", as_of="d", error="boom")),
        notification_text(CycleMissed(session="2024-01-18", reason="daemon down")),
        notification_text(OrderFilled(order_id="o1", client_ref="r1", symbol="AAPL",
                                      side="BUY", quantity=5, price=190.25)),
        notification_text(OrderRejected(client_ref="r2", symbol="MSFT", code="BROKER_REJECTED",
                                        reason="201: margin")),
        notification_text(GuardTripped(guard="drawdown_guard", code="MAX_DRAWDOWN_BREACHED",
                                       detail="HALTED: drawdown=0.06")),
        notification_text(PENDING),
    ]  # fmt: skip
    assert texts[0] == "Cycle c FAILED (d): boom"
    assert "session 2024-01-18 was not run: daemon down" in texts[1]
    assert texts[2] == "Order filled: BUY 5 AAPL @ 190.2 (order o1, ref r1)"
    assert texts[3] == "Order rejected: MSFT BROKER_REJECTED: 201: margin (ref r2)"
    assert texts[4].startswith("Guard tripped: drawdown_guard MAX_DRAWDOWN_BREACHED")
    assert "risk.max_position_weight=0.25" in texts[5]
    assert "/quorum proposals approve p-7" in texts[5]


def test_notify_when_both_channels_then_slack_post_message_and_discord_channel_message(
    tmp_path: Path, api: ApiStandIn
) -> None:
    sender = notifier(tmp_path, api)
    sender.notify(FINISHED)
    assert sender.flush(10)
    [slack] = api.seen(lambda r: r.path == "/slack/api/chat.postMessage")
    assert slack.headers["authorization"] == f"Bearer {BOT}"
    assert slack.json["channel"] == "C0NOTIFY"
    assert "Report: /var/reports/cycle-2024-01-17.html" in slack.json["text"]
    [discord] = api.seen(lambda r: r.path == "/discord/api/v10/channels/900/messages")
    assert discord.headers["authorization"] == f"Bot {DISCORD_BOT}"
    assert discord.json["allowed_mentions"] == {"parse": []}
    assert discord.json["content"].startswith("Cycle cycle-2024-01-17 finished")
    sender.close()


def test_notify_when_proposal_pending_then_buttons_on_both_platforms(
    tmp_path: Path, api: ApiStandIn
) -> None:
    sender = notifier(tmp_path, api)
    sender.notify(PENDING)
    assert sender.flush(10)
    [slack] = api.seen(lambda r: r.path == "/slack/api/chat.postMessage")
    actions = slack.json["blocks"][-1]
    assert actions["type"] == "actions"
    assert [(e["action_id"], e["value"]) for e in actions["elements"]] == [
        ("quorum_proposal_approve", "p-7"),
        ("quorum_proposal_reject", "p-7"),
    ]
    [discord] = api.seen(lambda r: "/channels/900/messages" in r.path)
    [row] = discord.json["components"]
    assert [b["custom_id"] for b in row["components"]] == [
        "proposal:approve:p-7",
        "proposal:reject:p-7",
    ]
    sender.close()


def test_notify_when_server_errors_and_rate_limit_then_retried_until_delivered(
    tmp_path: Path, api: ApiStandIn
) -> None:
    api.script("/discord/", [(500, {"message": "oops"}), (429, {"retry_after": 0.001})])
    api.script("/slack/api/chat.postMessage", [(200, {"ok": False, "error": "ratelimited"})])
    sender = notifier(tmp_path, api, notify_attempts=4)
    sender.notify(FINISHED)
    assert sender.flush(10)
    assert len(api.seen(lambda r: r.path.startswith("/discord/"))) == 3
    assert len(api.seen(lambda r: r.path.startswith("/slack/"))) == 2
    sender.close()


def test_notify_when_every_attempt_fails_then_gives_up_with_a_log_line_without_secrets(
    tmp_path: Path, api: ApiStandIn, caplog: pytest.LogCaptureFixture
) -> None:
    api.script("/discord/", [(503, {})] * 3)
    api.script("/slack/", [(200, {"ok": False, "error": "channel_not_found"})])
    sender = notifier(tmp_path, api)
    with caplog.at_level(logging.WARNING, logger="quorum.chat.delivery"):
        sender.notify(FINISHED)
        assert sender.flush(10)
    assert len(api.seen(lambda r: r.path.startswith("/discord/"))) == 3  # notify_attempts
    assert len(api.seen(lambda r: r.path.startswith("/slack/"))) == 1  # permanent: no retry
    assert "gave up after 3 attempts" in caplog.text and "SERVER_ERROR" in caplog.text
    assert "REFUSED: slack error=channel_not_found" in caplog.text
    assert BOT not in caplog.text and DISCORD_BOT not in caplog.text
    sender.close()


def test_notify_when_api_unreachable_then_returns_at_once_and_logs(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with api_stand_in() as gone:
        settings = settings_for(tmp_path, gone, notify_attempts=2)
    sender = make_notifier(settings)  # the stand-in is closed: nothing listens there now
    assert isinstance(sender, ChatNotifier)
    with caplog.at_level(logging.WARNING, logger="quorum.chat.delivery"):
        sender.notify(FINISHED)  # queued; the caller goes on
        assert sender.flush(20)
    assert "CONNECTION_ERROR" in caplog.text
    sender.close()


def test_make_notifier_when_no_channel_then_null_notifier(tmp_path: Path) -> None:
    assert isinstance(make_notifier(load_settings(state_dir=tmp_path)), NullNotifier)


def test_make_notifier_when_channel_without_token_then_null_and_names_the_setting(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    settings = load_settings(state_dir=tmp_path, chat={"slack_channel": "C1"})
    with caplog.at_level(logging.WARNING):
        assert isinstance(make_notifier(settings), NullNotifier)
    assert "QUORUM_CHAT__SLACK_BOT_TOKEN" in caplog.text


def test_deliver_when_transient_then_backs_off_exponentially_with_jitter() -> None:
    waits: list[float] = []
    calls = iter([TransientError(DeliveryFailure.SERVER_ERROR, "x")] * 3 + [None])

    def send() -> str:
        failure = next(calls)
        if failure is not None:
            raise failure
        return "sent"

    result = deliver(send, what="t", attempts=5, backoff_s=1.0, rng=random.Random(3),
                     sleep=waits.append)  # fmt: skip
    assert result == "sent"
    assert len(waits) == 3
    for attempt, wait in enumerate(waits):
        base = 2.0**attempt
        assert base / 2 <= wait <= base  # equal jitter: half fixed, half random


def test_deliver_when_rate_limited_then_waits_at_least_retry_after() -> None:
    waits: list[float] = []
    failures = iter([TransientError(DeliveryFailure.RATE_LIMITED, "429", retry_after=7.5)])

    def send() -> None:
        failure = next(failures, None)
        if failure is not None:
            raise failure

    deliver(send, what="t", attempts=2, backoff_s=0.01, rng=random.Random(1), sleep=waits.append)
    assert waits == [7.5]


def test_deliver_when_permanent_then_one_attempt_and_none() -> None:
    calls: list[int] = []

    def send() -> None:
        calls.append(1)
        raise PermanentError(DeliveryFailure.REFUSED, "status=403")

    assert deliver(send, what="t", attempts=5, backoff_s=0.0, sleep=lambda _: None) is None
    assert calls == [1]


def test_backoff_delay_when_attempts_grow_then_capped() -> None:
    rng = random.Random(0)
    assert all(15.0 <= backoff_delay(rng, 20, 1.0) <= 30.0 for _ in range(20))


def test_notify_when_slack_api_url_lacks_trailing_slash_then_methods_still_under_it(
    tmp_path: Path, api: ApiStandIn
) -> None:
    sender = make_notifier(settings_for(tmp_path, api, slack_api_url=api.url("/slack/api")))
    assert isinstance(sender, ChatNotifier)
    sender.notify(FINISHED)
    assert sender.flush(10)
    assert len(api.seen(lambda r: r.path == "/slack/api/chat.postMessage")) == 1
    sender.close()
