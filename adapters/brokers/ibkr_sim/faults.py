"""Scriptable faults. Each call arms a one-shot fault that the server consumes.

Tests script a scenario before (or during) a session, e.g.::

    sim.faults.reject_next_order(code=201)
    sim.faults.drop_connection_after_order(fill_while_away=True)
    await sim.faults.connectivity_lost_then_restored()
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

REJECT_REASONS = {
    201: "Order rejected - reason:Simulated rejection",
    203: "The security is not available or allowed for this account.",
}


@dataclass
class OrderReject:
    code: int
    text: str


@dataclass
class Faults:
    """Armed faults; the server pops them as the matching events happen."""

    rejects: list[OrderReject] = field(default_factory=list)
    drops: list[bool] = field(default_factory=list)  # fill_while_away per armed drop
    partials: list[list[float]] = field(default_factory=list)
    duplicate_execs: int = 0
    status_delays: list[float] = field(default_factory=list)
    pacing: dict[str, int] = field(default_factory=dict)  # request kind -> count
    client_id_collisions: int = 0
    lost_updates: int = 0
    history_delays: list[float] = field(default_factory=list)
    _connectivity: Callable[[float, int], Awaitable[None]] | None = None

    def reject_next_order(self, code: int = 201, text: str | None = None) -> None:
        """The next placed order is refused with ``code`` (201 rejected, 203 not allowed)."""
        self.rejects.append(OrderReject(code, text or REJECT_REASONS.get(code, "Rejected")))

    def drop_connection_after_order(self, fill_while_away: bool = True) -> None:
        """Accept the next order, then close the client's socket before acknowledging it;
        with ``fill_while_away`` the order fills while nobody is connected."""
        self.drops.append(fill_while_away)

    def partial_fills(self, chunks: list[float]) -> None:
        """The next order fills in these chunks; any remainder rests until the next price."""
        if not chunks or any(c <= 0 for c in chunks):
            raise ValueError("chunks must be positive quantities")
        self.partials.append(list(chunks))

    def duplicate_exec_details(self, times: int = 1) -> None:
        """The next ``times`` executions are reported twice (same execId)."""
        self.duplicate_execs += times

    def delay_status(self, seconds: float) -> None:
        """Messages about the next order (status, executions) arrive ``seconds`` late."""
        self.status_delays.append(seconds)

    def pacing_violation(self, request: str = "order", times: int = 1) -> None:
        """The next ``times`` requests of kind ``order`` or ``contract`` get error 100;
        of kind ``history`` (historical bars) error 162, pacing violation."""
        if request not in {"order", "contract", "history"}:
            raise ValueError("request must be 'order', 'contract' or 'history'")
        self.pacing[request] = self.pacing.get(request, 0) + times

    def delay_history(self, seconds: float) -> None:
        """The answer to the next historical data request is held back ``seconds``
        (a ``cancelHistoricalData`` meanwhile drops it)."""
        self.history_delays.append(seconds)

    def lose_order_updates(self, times: int = 1) -> None:
        """Nothing about the next ``times`` orders is pushed to the client after placing
        (statuses and executions are lost on the wire); requests still answer truthfully."""
        self.lost_updates += times

    def client_id_in_use(self, times: int = 1) -> None:
        """The next ``times`` API handshakes are refused with 326, as if the id were taken."""
        self.client_id_collisions += times

    async def connectivity_lost_then_restored(self, gap: float = 0.05, code: int = 1102) -> None:
        """Send 1100 to every client, wait ``gap`` seconds, then ``code`` (1102 or 1101)."""
        if self._connectivity is None:
            raise RuntimeError("simulator not started")
        await self._connectivity(gap, code)

    # ---- consumed by the server -----------------------------------------------------
    def take(self, kind: str) -> object | None:
        queues: dict[str, list[Any]] = {
            "reject": self.rejects,
            "drop": self.drops,
            "partial": self.partials,
            "delay": self.status_delays,
        }
        queue = queues[kind]
        return queue.pop(0) if queue else None

    def take_pacing(self, request: str) -> bool:
        left = self.pacing.get(request, 0)
        if left:
            self.pacing[request] = left - 1
        return bool(left)

    def take_history_delay(self) -> float:
        return self.history_delays.pop(0) if self.history_delays else 0.0

    def take_duplicate(self) -> bool:
        if self.duplicate_execs:
            self.duplicate_execs -= 1
            return True
        return False

    def take_lost_updates(self) -> bool:
        if self.lost_updates:
            self.lost_updates -= 1
            return True
        return False

    def take_client_id_collision(self) -> bool:
        if self.client_id_collisions:
            self.client_id_collisions -= 1
            return True
        return False
