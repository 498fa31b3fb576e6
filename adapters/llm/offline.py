"""The offline backend: no model at all. Agents see the name "offline" and go straight
to their deterministic judgement, so ``complete`` is never called on the normal path."""

from __future__ import annotations

from core.errors import ConfigurationError
from core.ports import ReasonRequest, ReasonResponse

OFFLINE = "offline"


class OfflineReasoner:
    @property
    def name(self) -> str:
        return OFFLINE

    def complete(self, request: ReasonRequest) -> ReasonResponse:
        # Reaching here means a caller skipped the offline check: fail loudly rather than
        # invent a response that would look like a model's.
        raise ConfigurationError(
            f"{request.agent}: the offline reasoner has no model; use the offline judgement"
        )
