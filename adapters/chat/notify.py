"""Notifications to the configured Slack channel and Discord channel.

``make_notifier(settings)`` returns a ``core.notifications.Notifier``:
- ``NullNotifier`` when no channel is configured (``QUORUM_CHAT__SLACK_CHANNEL`` with
  ``QUORUM_CHAT__SLACK_BOT_TOKEN``, ``QUORUM_CHAT__DISCORD_CHANNEL_ID`` with
  ``QUORUM_CHAT__DISCORD_BOT_TOKEN``);
- otherwise a ``ChatNotifier``: ``notify`` only puts the notification on a queue (never
  blocks, never raises); one background thread renders it for each channel and sends it
  (Slack ``chat.postMessage``, Discord ``POST /channels/{id}/messages``), each message
  retried ``notify_attempts`` times with exponential backoff and jitter from
  ``notify_backoff_s``, then given up with a log line. Pending messages are drained, for a
  bounded time, when the process exits.

A proposal waiting for review carries Approve / Reject buttons on both platforms.
"""

from __future__ import annotations

import atexit
import functools
import logging
import queue
import random
import threading
import urllib.error
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Protocol

from adapters.chat import slack_blocks
from adapters.chat.delivery import DeliveryFailure, PermanentError, TransientError, deliver
from adapters.chat.discord_api import DiscordApi, message_payload, proposal_buttons
from adapters.chat.split import DISCORD_MESSAGE_LIMIT, split_texts
from config.logging import redact_text
from core.notifications import (
    CycleFailed,
    CycleFinished,
    CycleMissed,
    GuardTripped,
    Notification,
    Notifier,
    NullNotifier,
    OrderFilled,
    OrderRejected,
    ProposalPending,
)

if TYPE_CHECKING:
    from slack_sdk import WebClient

    from config.settings import Settings

log = logging.getLogger("quorum.chat.notify")

QUEUE_SIZE = 1_000
EXIT_DRAIN_S = 10.0
IDLE_EXIT_S = 30.0
_STOP = object()
TRANSIENT_SLACK_ERRORS = frozenset(
    {"ratelimited", "internal_error", "fatal_error", "service_unavailable", "request_timeout"}
)


def _kv(values: dict[str, Any]) -> str:
    return ", ".join(f"{k}={v}" for k, v in values.items())


def notification_text(n: Notification) -> str:
    """The words of a notification, the same on every platform."""
    if isinstance(n, CycleFinished):
        equity = "n/a" if n.equity is None else f"{n.equity:,.2f}"
        text = (
            f"Cycle {n.cycle_id} finished ({n.as_of}): equity {equity}, {n.orders} orders,"
            f" {n.fills} fills, {n.rejections} rejections"
        )
        return text + (f"\nReport: {n.report}" if n.report else "")
    if isinstance(n, CycleFailed):
        return f"Cycle {n.cycle_id} FAILED ({n.as_of}): {n.error}"
    if isinstance(n, CycleMissed):
        return f"Cycle missed: session {n.session} was not run: {n.reason}"
    if isinstance(n, OrderFilled):
        return (
            f"Order filled: {n.side.upper()} {n.quantity:g} {n.symbol} @ {n.price:,.4g}"
            f" (order {n.order_id}, ref {n.client_ref})"
        )
    if isinstance(n, OrderRejected):
        order = f"order {n.order_id}, " if n.order_id else ""
        return f"Order rejected: {n.symbol} {n.code}: {n.reason} ({order}ref {n.client_ref})"
    if isinstance(n, GuardTripped):
        return f"Guard tripped: {n.guard} {n.code}: {n.detail} (by {n.actor})"
    lines = [f"Proposal {n.proposal_id} waiting for review: {n.title} (by {n.author})"]
    if n.changes:
        lines.append(f"changes: {_kv(n.changes)}")
    if n.evidence:
        lines.append(f"evidence: {_kv(n.evidence)}")
    lines.append(f"Approve needs a one-time code: /quorum proposals approve {n.proposal_id}")
    return "\n".join(lines)


class Channel(Protocol):
    name: str

    def payloads(self, n: Notification) -> list[dict[str, Any]]: ...
    def post(self, payload: dict[str, Any]) -> None: ...


class SlackChannel:
    def __init__(self, client: WebClient, channel: str) -> None:
        self.client = client
        self.channel = channel
        self.name = f"slack channel={channel}"

    def payloads(self, n: Notification) -> list[dict[str, Any]]:
        actions = (
            slack_blocks.proposal_actions(n.proposal_id) if isinstance(n, ProposalPending) else None
        )
        return slack_blocks.messages(redact_text(notification_text(n)), actions)

    def post(self, payload: dict[str, Any]) -> None:
        from slack_sdk.errors import SlackApiError

        try:
            self.client.chat_postMessage(channel=self.channel, unfurl_links=False, **payload)
        except SlackApiError as exc:
            status, error = exc.response.status_code, str(exc.response.get("error", ""))
            if status == 429 or error == "ratelimited":
                headers = {k.lower(): v for k, v in (exc.response.headers or {}).items()}
                after = headers.get("retry-after")
                wait = float(after[0] if isinstance(after, list) else after) if after else None
                code, detail = DeliveryFailure.RATE_LIMITED, "slack ratelimited"
                raise TransientError(code, detail, wait) from None
            if status >= 500 or error in TRANSIENT_SLACK_ERRORS:
                code, detail = DeliveryFailure.SERVER_ERROR, f"slack {status} {error}"
                raise TransientError(code, detail) from None
            raise PermanentError(DeliveryFailure.REFUSED, f"slack error={error}") from None
        except (urllib.error.URLError, OSError) as exc:
            raise TransientError(DeliveryFailure.CONNECTION_ERROR, type(exc).__name__) from None


class DiscordChannel:
    def __init__(self, api: DiscordApi, channel_id: str) -> None:
        self.api = api
        self.channel_id = channel_id
        self.name = f"discord channel={channel_id}"

    def payloads(self, n: Notification) -> list[dict[str, Any]]:
        pieces = split_texts(redact_text(notification_text(n)), DISCORD_MESSAGE_LIMIT)
        out = [message_payload(p) for p in pieces]
        if isinstance(n, ProposalPending) and out:
            out[-1]["components"] = proposal_buttons(n.proposal_id)
        return out

    def post(self, payload: dict[str, Any]) -> None:
        self.api.channel_message(self.channel_id, payload)


class ChatNotifier:
    """Queue in the caller's thread, send in one background thread."""

    def __init__(
        self,
        channels: list[Channel],
        *,
        attempts: int,
        backoff_s: float,
        rng: random.Random | None = None,
        sleep: Callable[[float], None] | None = None,
    ) -> None:
        self.channels = channels
        self.attempts = attempts
        self.backoff_s = backoff_s
        self._rng = rng or random.Random()
        self._sleep = sleep
        self._queue: queue.Queue[object] = queue.Queue(QUEUE_SIZE)
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self._atexit = False

    def notify(self, notification: Notification) -> None:
        try:
            with self._lock:  # the worker decides to stop under this lock too
                self._ensure_worker()
                self._queue.put_nowait(notification)
        except queue.Full:
            log.warning("notification dropped (queue full): type=%s", notification.type)
        except Exception as exc:  # a notifier never raises into a producer
            log.warning("notification dropped: %s", type(exc).__name__)

    def _ensure_worker(self) -> None:
        if self._thread is None or not self._thread.is_alive():
            self._thread = threading.Thread(
                target=self._work, name="quorum-chat-notify", daemon=True
            )
            self._thread.start()
            if not self._atexit:
                atexit.register(self.close, EXIT_DRAIN_S)
                self._atexit = True

    def _work(self) -> None:
        """Send until told to stop, or until idle: a notifier nobody uses holds no thread
        (the next ``notify`` starts one again)."""
        while True:
            try:
                item = self._queue.get(timeout=IDLE_EXIT_S)
            except queue.Empty:
                with self._lock:
                    if self._queue.empty():
                        self._thread = None
                        return
                continue
            try:
                if item is _STOP:
                    return
                self._send(item)  # type: ignore[arg-type]
            finally:
                self._queue.task_done()

    def _send(self, n: Notification) -> None:
        for channel in self.channels:
            try:
                payloads = channel.payloads(n)
            except Exception as exc:
                log.warning("notification not rendered for %s: %s", channel.name, exc)
                continue
            for payload in payloads:
                kwargs: dict[str, Any] = {"sleep": self._sleep} if self._sleep else {}
                deliver(
                    functools.partial(channel.post, payload),
                    what=f"notification type={n.type} to {channel.name}",
                    attempts=self.attempts,
                    backoff_s=self.backoff_s,
                    rng=self._rng,
                    **kwargs,
                )

    def flush(self, timeout: float = 10.0) -> bool:
        """Wait until everything queued so far was sent or given up; False on timeout."""
        done = threading.Event()

        def wait() -> None:
            self._queue.join()
            done.set()

        threading.Thread(target=wait, daemon=True).start()
        return done.wait(timeout)

    def close(self, timeout: float = EXIT_DRAIN_S) -> None:
        """Drain for at most ``timeout`` seconds, then stop the worker."""
        if self._atexit:
            atexit.unregister(self.close)
            self._atexit = False
        with self._lock:
            thread = self._thread
        if thread is None or not thread.is_alive():
            return
        self.flush(timeout)
        with self._lock:
            try:
                self._queue.put_nowait(_STOP)
            except queue.Full:
                return
            self._thread = None
        thread.join(timeout=1.0)


def slack_api_base(settings: Settings) -> str:
    """``chat.slack_api_url`` with the trailing slash the SDK joins method names onto
    (``…/api`` would otherwise lose its last segment)."""
    return settings.chat.slack_api_url.rstrip("/") + "/"


def slack_client(settings: Settings) -> WebClient:
    """The Web API client every Slack call goes through, at ``chat.slack_api_url``."""
    from slack_sdk import WebClient

    token = settings.chat.slack_bot_token
    return WebClient(
        token=token.get_secret_value() if token else None,
        base_url=slack_api_base(settings),
        retry_handlers=[],  # delivery.deliver retries, with backoff and jitter
    )


def discord_api(settings: Settings) -> DiscordApi:
    token = settings.chat.discord_bot_token
    return DiscordApi(settings.chat.discord_api_url, token.get_secret_value() if token else None)


def make_notifier(settings: Settings) -> Notifier:
    chat = settings.chat
    channels: list[Channel] = []
    if chat.slack_channel:
        if chat.slack_bot_token is None:
            log.warning("Slack notifications off: set QUORUM_CHAT__SLACK_BOT_TOKEN")
        else:
            channels.append(SlackChannel(slack_client(settings), chat.slack_channel))
    if chat.discord_channel_id:
        if chat.discord_bot_token is None:
            log.warning("Discord notifications off: set QUORUM_CHAT__DISCORD_BOT_TOKEN")
        else:
            channels.append(DiscordChannel(discord_api(settings), chat.discord_channel_id))
    if not channels:
        return NullNotifier()
    return ChatNotifier(channels, attempts=chat.notify_attempts, backoff_s=chat.notify_backoff_s)
