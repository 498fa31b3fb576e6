"""The operator service's request and result types (re-exported by ``workflows.operator``)."""

from __future__ import annotations

from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field

from core.errors import QuorumError
from workflows.operator_views import ResultView
from workflows.operators import Platform


class Caller(BaseModel):
    """Who is asking, as the transport knows them."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    platform: Platform
    # Slack user id (U…), Discord user id (snowflake), or the operator NAME for
    # cli / console / api (the API resolves its token to a name first).
    user_id: str
    display: str = ""  # the platform's display name, for the audit only


class CommandRequest(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    caller: Caller
    command: str  # "status", "halt", "proposals", "cycle", "config", ...
    args: list[str] = Field(default_factory=list)  # ["approve", "p-123"], ["news", "shock"]
    totp: str | None = None  # a 6-digit code for critical commands


class Outcome(StrEnum):
    OK = "ok"
    DENIED = "denied"  # refused: who asked, the role, the code, or a rule
    FAILED = "failed"  # allowed, but it could not be done (bad input, nothing found, error)


class DenialCode(StrEnum):
    UNKNOWN_USER = "UNKNOWN_USER"
    ROLE_FORBIDDEN = "ROLE_FORBIDDEN"
    TOTP_REQUIRED = "TOTP_REQUIRED"
    TOTP_INVALID = "TOTP_INVALID"
    TOTP_REUSED = "TOTP_REUSED"
    OPERATOR_LOCKED = "OPERATOR_LOCKED"
    UNKNOWN_COMMAND = "UNKNOWN_COMMAND"
    BAD_ARGUMENTS = "BAD_ARGUMENTS"
    SELF_APPROVAL = "SELF_APPROVAL"
    NOT_FOUND = "NOT_FOUND"
    NOT_AVAILABLE = "NOT_AVAILABLE"
    PROPOSAL_REFUSED = "PROPOSAL_REFUSED"
    COMMAND_FAILED = "COMMAND_FAILED"  # the command ran and raised: the message says why


# Refusals of the caller or of a rule; every other code is a failure of the command.
DENIALS = frozenset(
    {
        DenialCode.UNKNOWN_USER,
        DenialCode.ROLE_FORBIDDEN,
        DenialCode.TOTP_REQUIRED,
        DenialCode.TOTP_INVALID,
        DenialCode.TOTP_REUSED,
        DenialCode.OPERATOR_LOCKED,
        DenialCode.SELF_APPROVAL,
        DenialCode.PROPOSAL_REFUSED,
    }
)


class CommandResult(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    command: str  # the resolved command ("proposals approve"), else as asked
    outcome: Outcome
    code: DenialCode | None = None
    message: str  # one line: "ROLE_FORBIDDEN: command=halt role=viewer needs=trader"
    data: ResultView | None = None
    operator: str | None = None  # the resolved operator's name, if any

    @property
    def ok(self) -> bool:
        return self.outcome is Outcome.OK


class CommandRefusedError(QuorumError):
    """Raised by a command's parser or runner: becomes a result with ``code``."""

    def __init__(self, code: DenialCode, message: str, *, outcome: Outcome | None = None) -> None:
        super().__init__(f"{code.value}: {message}")
        self.code = code
        self.outcome = outcome or (Outcome.DENIED if code in DENIALS else Outcome.FAILED)
