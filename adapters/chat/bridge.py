"""What the Slack and Discord transports share: one event loop for the operator service,
the reply deadline, and how a result becomes text.

The operator service is async and keeps its store on one thread; Bolt runs its listeners
in worker threads and the Discord endpoint runs on the server's loop. ``ServiceLoop``
runs every service call on one loop of its own (a daemon thread), whoever asks.

Both platforms want an answer within 3 seconds. ``ChatBridge.start`` begins a command and
``settle`` waits for it at most ``reply_budget_s``: a command that is done by then is
answered in the reply itself; one that is not (or is ``slow`` by its spec) gets a
"working…" reply and its result follows (Slack ``response_url``, Discord webhook).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import threading
from collections.abc import Coroutine
from dataclasses import dataclass
from typing import Any, TypeVar

from adapters.chat.render import render_text
from config.logging import redact_text
from core.proposals import ProposalStatus
from workflows.operator import (
    Caller,
    CommandRequest,
    CommandResult,
    DenialCode,
    OperatorService,
    Outcome,
)
from workflows.operator_commands import parse_text

log = logging.getLogger("quorum.chat")

T = TypeVar("T")
REPLY_BUDGET_S = 2.0  # of the platforms' 3 s: the rest is network and rendering
WORKING = "working… the result follows here"


class ServiceLoop:
    """An asyncio loop in a daemon thread; ``call`` / ``acall`` run a coroutine on it."""

    def __init__(self, name: str = "quorum-chat-service") -> None:
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name=name, daemon=True)
        self._thread.start()

    def submit(self, coro: Coroutine[Any, Any, T]) -> concurrent.futures.Future[T]:
        return asyncio.run_coroutine_threadsafe(coro, self._loop)

    def call(self, coro: Coroutine[Any, Any, T], timeout: float | None = None) -> T:
        return self.submit(coro).result(timeout)

    async def acall(self, coro: Coroutine[Any, Any, T]) -> T:
        return await asyncio.wrap_future(self.submit(coro))

    def close(self) -> None:
        if self._loop.is_closed():
            return
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=5.0)
        if not self._thread.is_alive():
            self._loop.close()


def failed_result(command: str, exc: BaseException) -> CommandResult:
    """A transport never shows a traceback: an unexpected error becomes a FAILED result."""
    log.warning("chat command crashed: command=%s error=%s", command, type(exc).__name__)
    return CommandResult(
        command=command or "<unparsed>",
        outcome=Outcome.FAILED,
        code=DenialCode.COMMAND_FAILED,
        message=redact_text(f"COMMAND_FAILED: command={command} error={type(exc).__name__}"),
    )


@dataclass
class ChatBridge:
    service: OperatorService
    loop: ServiceLoop
    reply_budget_s: float = REPLY_BUDGET_S

    def is_slow(self, caller: Caller, text: str, totp: str | None = None) -> bool:
        """Deferred at once: the command's spec says it may take long, and the service
        will run it (a known operator whose role allows it, with a code if it needs one).
        A refusal is quick, and answered in the reply itself, privately."""
        try:
            parsed = parse_text(text.strip() or "help")
        except ValueError:
            return False
        spec = self.service.command_spec(parsed.command, parsed.args)
        if spec is None or not spec.slow:
            return False
        if spec.critical and not (totp or parsed.totp):
            return False
        operator = self.service.identify(caller)
        return operator is not None and operator.role.allows(spec.min_role)

    def start_text(
        self, caller: Caller, text: str, totp: str | None = None
    ) -> concurrent.futures.Future[CommandResult]:
        """Run one command line (``totp``: a code given beside it, e.g. a Discord option)."""
        line = text.strip() or "help"
        if totp:
            line = f"{line} --totp {totp.strip()}"
        return self.loop.submit(self._guard(line, self.service.run_text(caller, line)))

    def start(self, request: CommandRequest) -> concurrent.futures.Future[CommandResult]:
        """Run a request built from a button or a modal (no text to parse)."""
        name = " ".join([request.command, *request.args[:1]])
        return self.loop.submit(self._guard(name, self.service.execute(request)))

    @staticmethod
    async def _guard(line: str, coro: Coroutine[Any, Any, CommandResult]) -> CommandResult:
        try:
            return await coro
        except Exception as exc:  # the service should not raise; never crash
            return failed_result(line.split(" ", 1)[0], exc)

    def settle(
        self, future: concurrent.futures.Future[CommandResult], slow: bool
    ) -> CommandResult | None:
        """The result if it is ready within the reply budget; None (defer) for a slow one,
        always, so a slow command is answered the same way however quick it was."""
        if slow:
            return None
        try:
            return future.result(self.reply_budget_s)
        except concurrent.futures.TimeoutError:
            return None

    async def asettle(
        self, future: concurrent.futures.Future[CommandResult], slow: bool
    ) -> CommandResult | None:
        if slow:
            return None
        wrapped = asyncio.wrap_future(future)
        done, _ = await asyncio.wait({wrapped}, timeout=self.reply_budget_s)
        return wrapped.result() if done else None

    def may_ask(self, caller: Caller, command: str) -> bool:
        """Whether to show a form (a modal) before running ``command``: only to a known
        operator whose role allows it. Anyone else gets the service's own audited refusal
        at once (UNKNOWN_USER, ROLE_FORBIDDEN), not a form to fill in first."""
        operator = self.service.identify(caller)
        spec = self.service.command_spec(command)
        return operator is not None and spec is not None and operator.role.allows(spec.min_role)


def result_text(result: CommandResult) -> str:
    """The platform-neutral rendering, with every known secret masked."""
    try:
        return redact_text(render_text(result))
    except Exception as exc:  # a rendering bug must still answer
        log.warning("render failed: view=%s error=%s", result.data, type(exc).__name__)
        return redact_text(result.message)


def is_public(result: CommandResult) -> bool:
    """Denials are shown only to whoever asked; answers go to the channel."""
    return result.outcome is not Outcome.DENIED


def pending_proposal(result: CommandResult) -> str | None:
    """The id of the proposal a result shows, when it still waits for a decision."""
    data = result.data
    if data is not None and getattr(data, "view", None) == "proposal":
        proposal = data.proposal  # type: ignore[union-attr]
        if proposal.status == ProposalStatus.PENDING:
            return str(proposal.id)
    return None
