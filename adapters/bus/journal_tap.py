"""Publish every journaled A2A message on the bus, so other processes (chat bots,
dashboards, workers) follow a cycle as it happens.

A decorator around the ``Store``: the journal stays the record (written first, and a
failed publish never loses or blocks it); the bus is the live feed. Message ids are
stable across crash re-runs, so consumers dedupe with ``IdempotentConsumer``.
"""

from __future__ import annotations

import logging
from typing import Any, cast

from core import topics
from core.errors import TemporaryError
from core.messages import Envelope
from core.ports import Bus, Store

log = logging.getLogger(__name__)


class JournalTap:
    def __init__(self, store: Store, bus: Bus, topic: str = topics.A2A) -> None:
        self._store = store
        self._bus = bus
        self._topic = topic
        self.publish_failures = 0

    def append_message(self, message: Envelope) -> None:
        self._store.append_message(message)
        try:
            self._bus.publish(self._topic, message)
        except TemporaryError as exc:
            # The journal already holds it; live followers catch up from the journal.
            self.publish_failures += 1
            log.warning("bus publish failed for message %s: %s", message.id, exc)

    def close(self) -> None:
        self._store.close()
        self._bus.close()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._store, name)


def tapped(store: Store, bus: Bus) -> Store:
    """``store`` whose journal appends are also published on ``bus``."""
    return cast(Store, JournalTap(store, bus))
