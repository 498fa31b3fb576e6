"""Errors classed by what the caller should do about them.

- ``TemporaryError``: retry later (connectivity, pacing, timeouts).
- ``OrderError``: this order is wrong or was refused; fix or drop the order.
- ``ConfigurationError``: stop; a human must change settings, keys or files.
- ``DataValidationError``: input data is invalid; nothing downstream was changed.

A broker's own error code is kept on the exception (``broker_code``), never discarded.
"""

from __future__ import annotations


class QuorumError(Exception):
    """Base of every error Quorum raises on purpose."""


class TemporaryError(QuorumError):
    """A transient failure: the same call may succeed later."""

    def __init__(self, message: str, *, broker_code: int | None = None) -> None:
        super().__init__(message)
        self.broker_code = broker_code


class OrderError(QuorumError):
    """An order problem: the order is invalid or was refused by the broker."""

    def __init__(self, message: str, *, broker_code: int | None = None) -> None:
        super().__init__(message)
        self.broker_code = broker_code


class ConfigurationError(QuorumError):
    """Settings, keys or files are wrong: stop and tell the operator."""


class IllegalTransitionError(QuorumError):
    """An order state machine was asked for a transition its table does not allow."""


class DataValidationError(QuorumError):
    """Input data failed validation; ``problems`` lists each one with file, row and rule."""

    def __init__(self, message: str, problems: list[str] | None = None) -> None:
        super().__init__(message)
        self.problems = problems or []


class AuditChainError(QuorumError):
    """The audit hash chain does not verify."""


class BudgetExhaustedError(QuorumError):
    """The LLM budget of this cycle is spent: use the offline judgement instead."""

    def __init__(self, message: str, *, spent_usd: float = 0.0, budget_usd: float = 0.0) -> None:
        super().__init__(message)
        self.spent_usd = spent_usd
        self.budget_usd = budget_usd
