"""What every route needs: the operator service (run on a loop of its own), the data
source and its store, the authenticator, and the one way a route calls the service.

The service is async but its stores are synchronous, and some commands are slow (a
proposal's evidence is a backtest); it runs on a dedicated event loop in a daemon thread
(``ServiceLoop``, as for chat), so the server's loop keeps serving the SSE feed and
other requests meanwhile.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from fastapi import Request

from adapters.api.auth import Authenticator, Principal
from adapters.api.errors import ApiError
from adapters.api.schemas import Answer
from adapters.api.source import DataSource
from adapters.chat.bridge import ServiceLoop
from config.settings import Settings
from core.ports import Store
from workflows.operator import (
    Caller,
    CommandRequest,
    CommandResult,
    DenialCode,
    OperatorService,
    Platform,
)

V = TypeVar("V")


@dataclass(frozen=True)
class FeedOptions:
    heartbeat_s: float = 15.0  # an SSE heartbeat at least this often
    poll_s: float = 1.0  # how often the journal is tailed without a Redis bus
    backlog: int = 20  # messages sent on connect, newest last


@dataclass
class ApiContext:
    settings: Settings
    store: Store  # main: operators, tokens, audit, trading state, proposals, config
    data: Store  # where the reads come from (``store`` itself for the main source)
    source: DataSource
    service: OperatorService
    auth: Authenticator
    loop: ServiceLoop
    feed: FeedOptions = field(default_factory=FeedOptions)
    closers: list[Callable[[], Any]] = field(default_factory=list)

    @property
    def label(self) -> str:
        return self.source.label

    @staticmethod
    def caller(principal: Principal) -> Caller:
        return Caller(
            platform=Platform.API, user_id=principal.operator.name, display=f"api:{principal.via}"
        )

    async def execute(
        self, principal: Principal, command: str, args: list[str], totp: str | None = None
    ) -> CommandResult:
        """Run a command as the principal's operator; a refusal raises ``ApiError`` with
        the service's code (the service has audited the attempt either way)."""
        request = CommandRequest(
            caller=self.caller(principal), command=command, args=args, totp=totp
        )
        result = await self.loop.acall(self.service.execute(request))
        if not result.ok:
            raise ApiError.from_result(result)
        return result

    async def answer(
        self,
        principal: Principal,
        view: type[V],
        command: str,
        args: list[str],
        totp: str | None = None,
    ) -> Answer[V]:
        result = await self.execute(principal, command, args, totp)
        if not isinstance(result.data, view):  # pragma: no cover - a service contract break
            raise ApiError(500, DenialCode.COMMAND_FAILED.value, f"command={command} view?")
        return self.wrap(principal, result.command, result.message, result.data)

    def read(self, principal: Principal, request: Request, like: str) -> None:
        """Before a read only the API offers: the role the service's ``like`` command
        needs (the service's role table, no second one here), and an audit record."""
        spec = self.service.command_spec(like)
        op = principal.operator
        path = request.url.path
        query = str(request.url.query)
        if spec is None or not op.role.allows(spec.min_role):
            needs = spec.min_role.value if spec else "?"
            self.service.control.audit.append(
                op.name,
                "api:read",
                {"path": path, "query": query, "outcome": "denied", "code": "ROLE_FORBIDDEN"},
            )
            raise ApiError(
                403,
                DenialCode.ROLE_FORBIDDEN.value,
                f"ROLE_FORBIDDEN: path={path} role={op.role.value} needs={needs}",
                outcome="denied",
            )
        self.service.control.audit.append(
            op.name,
            "api:read",
            {"path": path, "query": query, "outcome": "ok", "source": self.label},
        )

    def wrap(self, principal: Principal, command: str, message: str, data: V) -> Answer[V]:
        return Answer(
            source=self.label,
            operator=principal.operator.name,
            command=command,
            message=message,
            data=data,
        )

    def close(self) -> None:
        self.loop.close()
        for closer in reversed(self.closers):
            with contextlib.suppress(Exception):
                closer()


def context_of(request: Request) -> ApiContext:
    ctx = request.app.state.ctx
    assert isinstance(ctx, ApiContext)
    return ctx


def principal(request: Request) -> Principal:
    """The FastAPI dependency of every protected route (a plain function: FastAPI runs
    it in a worker thread, since resolving a token reads the store)."""
    ctx = context_of(request)
    found = ctx.auth.authenticate(request)
    request.state.principal = found
    return found
