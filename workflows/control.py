"""Operator control of trading: state (ACTIVE / REDUCING / HALTED) and the kill switch.

One chat-agnostic service; the CLI (and later Slack / Discord) are thin transports over
it. Every change is written to the store (key-value with history, so it survives restarts
and is seen by the next cycle in any process on this machine), to the shared state when
processes share one (Redis: seen by every process at once), and to the audit chain.
The state in force is the most restrictive of the two sources.
"""

from __future__ import annotations

from datetime import UTC, datetime

from core.audit import AuditLog
from core.ports import SharedState, Store, TradingStatus
from core.risk import TradingState

CONTROL_KEY = "control.trading_status"
_SEVERITY = {TradingState.ACTIVE: 0, TradingState.REDUCING: 1, TradingState.HALTED: 2}


def most_restrictive(*states: TradingState) -> TradingState:
    return max(states, key=lambda s: _SEVERITY[s])


class TradingControl:
    def __init__(self, store: Store, audit: AuditLog, shared: SharedState | None = None) -> None:
        self._store = store
        self._audit = audit
        self._shared = shared

    @property
    def audit(self) -> AuditLog:
        """The audit chain this control writes to (the operator service shares it)."""
        return self._audit

    def _stored(self) -> TradingStatus:
        raw = self._store.kv_get(CONTROL_KEY)
        return TradingStatus.model_validate(raw) if raw else TradingStatus()

    def status(self) -> TradingStatus:
        """The status in force: the stored one, tightened by the shared one if any."""
        stored = self._stored()
        if self._shared is None:
            return stored
        shared = self._shared.status()
        if _SEVERITY[shared.effective] > _SEVERITY[stored.effective]:
            return shared
        return stored

    def effective(self) -> TradingState:
        return self.status().effective

    def _write(self, status: TradingStatus, action: str) -> TradingStatus:
        self._store.kv_set(CONTROL_KEY, status.model_dump(mode="json"), actor=status.actor)
        self._audit.append(
            status.actor,
            action,
            {
                "state": status.state.value,
                "kill_switch": status.kill_switch,
                "reason": status.reason,
            },
        )
        return status

    def _next(self, actor: str, reason: str, **changes: object) -> TradingStatus:
        current = self._stored()
        return current.model_copy(
            update={
                **changes,
                "actor": actor,
                "reason": reason,
                "changed_at": datetime.now(UTC),
                "version": current.version + 1,
            }
        )

    def set_state(self, state: TradingState, reason: str, actor: str) -> TradingStatus:
        if self._shared is not None:
            self._shared.set_state(state, reason, actor)
        return self._write(self._next(actor, reason, state=state), f"set_state:{state.value}")

    def engage_kill_switch(self, reason: str, actor: str) -> TradingStatus:
        """Stop everything: no order passes until an operator releases it."""
        if self._shared is not None:
            self._shared.engage_kill_switch(reason, actor)
        return self._write(self._next(actor, reason, kill_switch=True), "kill_switch:engage")

    def release_kill_switch(self, reason: str, actor: str) -> TradingStatus:
        if self._shared is not None:
            self._shared.release_kill_switch(reason, actor)
        return self._write(self._next(actor, reason, kill_switch=False), "kill_switch:release")
