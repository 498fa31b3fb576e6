"""Every bus topic and stream name, in one place. Lowercase and dotted."""

from __future__ import annotations

A2A = "a2a.messages"
ORDERS_EVENTS = "orders.events"
FILLS = "orders.fills"
STATE = "control.state"
NOTIFICATIONS = "ops.notifications"
CYCLE_LOCK = "lock.cycle"  # held by the one process running a cycle or simulation
DAEMON_LOCK = "lock.daemon"  # held by the one `quorum daemon` (with a Redis bus)


def desk(topic: str, desk_name: str) -> str:
    """A per-desk sub-topic, e.g. ``desk(ORDERS_EVENTS, "execution")``."""
    return f"{topic}.{desk_name}"


def dead_letter(topic: str) -> str:
    return f"{topic}.dead"
