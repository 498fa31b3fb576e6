"""Slack: a Bolt for Python app (sync ``slack_bolt.App``) over the operator service.

One function, ``register_listeners``, puts the same listeners on an App for both modes:
HTTP (``POST /slack/events`` in adapters/chat/server.py; Bolt verifies the request
signature and the 5-minute timestamp window, 401 otherwise; ``url_verification`` is
answered with its challenge) and Socket Mode (``run_socket_mode``, for operators without
a public URL; Slack then authenticates the websocket with the app-level token).

- Slash command ``/quorum <command line>``: answered in the acknowledgement when the
  result is ready within the reply budget; a ``slow`` command (or one that overruns) is
  acknowledged with "working…" and its result posted to the command's ``response_url``.
  Answers go to the channel; denials only to whoever asked (ephemeral).
- Proposal buttons (``block_actions``; the button value is the proposal id): Approve opens
  a modal asking for the one-time code, Reject one asking for the reason (``views.open``);
  on ``view_submission`` the decision runs; a refused code keeps the modal open with the
  reason under the field; an outcome replaces the proposal's message (buttons removed).
  Without a bot token no modal can open: the reply says to run
  ``/quorum proposals approve ID --totp CODE`` instead. An unknown user, or a role that may
  not decide, gets the service's refusal at once, not a form.

No ``auth.test`` call is ever made: the bot token is handed to Bolt by an ``authorize``
function (single workspace), so starting the app, or a test against a loopback stand-in
of the Web API, never calls Slack. ``token_verification_enabled=False`` says the same.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from slack_bolt import App
from slack_bolt.authorization import AuthorizeResult
from slack_bolt.context.respond import Respond
from slack_sdk.errors import SlackApiError

from adapters.chat import slack_blocks as blocks
from adapters.chat.bridge import WORKING, ChatBridge, is_public, pending_proposal, result_text
from adapters.chat.delivery import DeliveryFailure, PermanentError, TransientError, deliver
from core.errors import ConfigurationError
from workflows.operator import Caller, CommandRequest, CommandResult, DenialCode, Platform

if TYPE_CHECKING:
    from slack_bolt.adapter.socket_mode import SocketModeHandler

    from config.settings import Settings

log = logging.getLogger("quorum.chat.slack")

RESPOND_ATTEMPTS = 4
RESPOND_BACKOFF_S = 0.5
FORM_CODES = frozenset(
    {
        DenialCode.TOTP_REQUIRED,
        DenialCode.TOTP_INVALID,
        DenialCode.TOTP_REUSED,
        DenialCode.OPERATOR_LOCKED,
        DenialCode.BAD_ARGUMENTS,
    }
)


def slack_messages(result: CommandResult) -> list[dict[str, Any]]:
    proposal = pending_proposal(result)
    actions = blocks.proposal_actions(proposal) if proposal else None
    kind = "in_channel" if is_public(result) else "ephemeral"
    return [{**m, "response_type": kind} for m in blocks.messages(result_text(result), actions)]


def post(respond: Respond, message: dict[str, Any], what: str) -> None:
    """One message to a ``response_url``, retried on 429 / 5xx / connection errors."""

    def send() -> None:
        try:
            response = respond(**message)
        except OSError as exc:
            raise TransientError(DeliveryFailure.CONNECTION_ERROR, type(exc).__name__) from None
        status = response.status_code
        if status == 429:
            raise TransientError(DeliveryFailure.RATE_LIMITED, "status=429")
        if status >= 500:
            raise TransientError(DeliveryFailure.SERVER_ERROR, f"status={status}")
        if status >= 400:
            detail = f"status={status} body={response.body[:200]}"
            raise PermanentError(DeliveryFailure.REFUSED, detail)

    deliver(send, what=what, attempts=RESPOND_ATTEMPTS, backoff_s=RESPOND_BACKOFF_S)


def _caller(user: dict[str, Any]) -> Caller:
    display = str(user.get("username") or user.get("name") or "")
    return Caller(platform=Platform.SLACK, user_id=str(user.get("id", "")), display=display)


def register_listeners(app: App, bridge: ChatBridge) -> None:
    """The slash command, the proposal buttons and their modals, on ``app``."""

    @app.command(re.compile(r"^/.+"))
    def on_command(ack: Callable[..., Any], body: dict[str, Any], respond: Respond) -> None:
        caller = Caller(
            platform=Platform.SLACK,
            user_id=str(body.get("user_id", "")),
            display=str(body.get("user_name", "")),
        )
        text = str(body.get("text", ""))
        future = bridge.start_text(caller, text)
        result = bridge.settle(future, bridge.is_slow(caller, text))
        if result is None:
            ack(text=WORKING, response_type="ephemeral")
            rest = slack_messages(future.result())
        else:
            first, *rest = slack_messages(result)
            ack(**first)
        for message in rest:
            post(respond, message, "slack command reply")

    def on_button(approve: bool) -> Callable[..., None]:
        def handler(
            ack: Callable[..., Any],
            body: dict[str, Any],
            action: dict[str, Any],
            client: Any,
            respond: Respond,
        ) -> None:
            ack()
            # our buttons carry the id as their value; `proposal:approve:<id>` ids work too
            action_id = str(action.get("action_id", ""))
            proposal_id = str(action.get("value") or action_id.rsplit(":", 1)[-1])
            caller = _caller(body.get("user") or {})
            verb = "approve" if approve else "reject"
            if not bridge.may_ask(caller, f"proposals {verb}"):
                request = CommandRequest(
                    caller=caller, command="proposals", args=[verb, proposal_id]
                )
                result = bridge.start(request).result()
                for message in slack_messages(result):
                    post(respond, {**message, "replace_original": False}, "slack refusal")
                return
            view = blocks.proposal_modal(
                proposal_id,
                approve=approve,
                response_url=body.get("response_url"),
                channel=(body.get("channel") or {}).get("id"),
            )
            try:
                client.views_open(trigger_id=body["trigger_id"], view=view)
            except (SlackApiError, KeyError, OSError) as exc:
                error = exc.response.get("error") if isinstance(exc, SlackApiError) else exc
                hint = (
                    f"cannot open the form ({error}); run `/quorum proposals {verb} "
                    f"{proposal_id} {'--totp CODE' if approve else 'REASON'}` instead"
                )
                log.warning("views.open failed: %s", error)
                message = {"text": blocks.escape(hint), "response_type": "ephemeral"}
                post(respond, {**message, "replace_original": False}, "slack form hint")

        return handler

    app.action(re.compile(r"approve"))(on_button(approve=True))  # quorum_proposal_approve
    app.action(re.compile(r"reject"))(on_button(approve=False))  # quorum_proposal_reject

    def on_view(approve: bool) -> Callable[..., None]:
        def handler(ack: Callable[..., Any], body: dict[str, Any], view: dict[str, Any]) -> None:
            meta = json.loads(view.get("private_metadata") or "{}")
            proposal_id = str(meta.get("proposal", ""))
            caller = _caller(body.get("user") or {})
            if approve:
                code = blocks.modal_input(view, blocks.TOTP_BLOCK, blocks.TOTP_INPUT)
                request = CommandRequest(
                    caller=caller,
                    command="proposals",
                    args=["approve", proposal_id],
                    totp=code or None,
                )
                field = blocks.TOTP_BLOCK
            else:
                reason = blocks.modal_input(view, blocks.REASON_BLOCK, blocks.REASON_INPUT)
                args = ["reject", proposal_id, *reason.split()]
                request = CommandRequest(caller=caller, command="proposals", args=args)
                field = blocks.REASON_BLOCK
            future = bridge.start(request)
            result = bridge.settle(future, slow=False)
            if result is not None and result.code in FORM_CODES:
                ack(response_action="errors", errors={field: result.message[:150]})
                return
            ack()
            outcome = result or future.result()
            url = meta.get("response_url")
            if not url:
                log.warning("no response_url for proposal %s: outcome not posted", proposal_id)
                return
            respond = Respond(response_url=url)
            for i, message in enumerate(slack_messages(outcome)):
                replace = outcome.ok and i == 0  # the proposal's message shows the outcome
                post(respond, {**message, "replace_original": replace}, "slack decision")

        return handler

    app.view(blocks.APPROVE_VIEW)(on_view(approve=True))
    app.view(blocks.REJECT_VIEW)(on_view(approve=False))


def build_slack_app(settings: Settings, bridge: ChatBridge, *, socket_mode: bool = False) -> App:
    """The Bolt app, its Web API client at ``chat.slack_api_url``. HTTP mode needs the
    signing secret; Socket Mode the app-level token instead (checked by the caller)."""
    from slack_sdk import WebClient

    from adapters.chat.notify import slack_api_base

    chat = settings.chat
    secret = chat.slack_signing_secret.get_secret_value() if chat.slack_signing_secret else ""
    if not secret and not socket_mode:
        raise ConfigurationError(
            "Slack needs its signing secret: set QUORUM_CHAT__SLACK_SIGNING_SECRET"
            " (Slack app → Basic Information → App Credentials)"
        )
    bot_token = chat.slack_bot_token.get_secret_value() if chat.slack_bot_token else None

    def authorize(
        enterprise_id: str | None, team_id: str | None, user_id: str | None
    ) -> AuthorizeResult:
        return AuthorizeResult(
            enterprise_id=enterprise_id, team_id=team_id, user_id=user_id, bot_token=bot_token
        )

    app = App(
        name="quorum",
        signing_secret=secret,
        # HTTP: the signature and the 5-minute timestamp window are checked on every
        # request (401 otherwise). Only a Socket Mode app without a secret turns it off:
        # its requests come over Slack's authenticated websocket, never over HTTP.
        request_verification_enabled=bool(secret) or not socket_mode,
        token_verification_enabled=False,  # no auth.test at startup (see the module doc)
        client=WebClient(token=None, base_url=slack_api_base(settings)),  # token: authorize()
        authorize=authorize,
        url_verification_enabled=True,
        process_before_response=False,  # ack first, then the work (response_url)
        logger=logging.getLogger("quorum.chat.slack.bolt"),
    )
    register_listeners(app, bridge)
    return app


def socket_mode_handler(settings: Settings, bridge: ChatBridge) -> SocketModeHandler:
    """The Socket Mode handler (not connected yet) over the same listeners as HTTP."""
    from slack_bolt.adapter.socket_mode import SocketModeHandler

    token = app_token(settings)
    if settings.chat.slack_bot_token is None:
        log.warning("no QUORUM_CHAT__SLACK_BOT_TOKEN: proposal buttons cannot open their form")
    app = build_slack_app(settings, bridge, socket_mode=True)
    return SocketModeHandler(app, token)


def app_token(settings: Settings) -> str:
    token = settings.chat.slack_app_token
    if token is None or not token.get_secret_value():
        raise ConfigurationError(
            "Socket Mode needs an app-level token (xapp-…, scope connections:write):"
            " set QUORUM_CHAT__SLACK_APP_TOKEN"
        )
    return token.get_secret_value()


def serve_socket_mode(settings: Settings) -> None:
    """``quorum chat slack socket``: the operator service on the configured store, and
    Slack over Socket Mode until interrupted."""
    from adapters.chat.bridge import ServiceLoop
    from adapters.chat.notify import make_notifier
    from adapters.factories import make_operator_service, make_store

    app_token(settings)  # before anything is opened
    store = make_store(settings)
    loop = ServiceLoop()
    try:
        service = make_operator_service(settings, store, notifier=make_notifier(settings))
        handler = socket_mode_handler(settings, ChatBridge(service=service, loop=loop))
        handler.start()  # type: ignore[no-untyped-call]  # blocks; Ctrl-C ends it
    finally:
        loop.close()
        store.close()
