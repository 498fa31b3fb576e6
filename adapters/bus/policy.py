"""Delivery policy shared by every bus implementation, so both behave the same."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class StreamPolicy(BaseModel):
    """How long streams grow, when a delivery counts as abandoned, when it is dead.

    - ``maxlen``: a stream keeps about this many newest messages (Redis trims with
      ``MAXLEN ~``, so it may briefly hold up to one macro node more).
    - ``claim_idle_ms``: an unacked delivery idle this long is assumed lost (its consumer
      crashed) and is delivered again to whichever consumer of the group asks next.
    - ``max_deliveries``: a message delivered this many times without an ack (failed or
      abandoned) goes to the dead-letter stream ``topics.dead_letter(topic)``.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    maxlen: int = Field(default=100_000, ge=1)
    dead_maxlen: int = Field(default=10_000, ge=1)
    claim_idle_ms: int = Field(default=30_000, ge=1)
    max_deliveries: int = Field(default=5, ge=1)

    @property
    def reclaim_interval_s(self) -> float:
        """How often a consumer looks for abandoned deliveries (a fraction of the timeout)."""
        return min(self.claim_idle_ms / 2, 1000) / 1000


def check_consume_args(count: int, block_ms: int) -> None:
    """Both buses refuse the same nonsense (Redis would read COUNT 0 as "no limit")."""
    if count < 1:
        raise ValueError(f"consume count must be >= 1, got {count}")
    if block_ms < 0:
        raise ValueError(f"consume block_ms must be >= 0, got {block_ms}")
