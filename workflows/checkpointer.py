"""The SQLite checkpointer of the daily cycle: ``<state_dir>/checkpoints.db``.

LangGraph saves the graph state after every step (``durability="sync"``: before the next
step starts), keyed by ``thread_id`` = cycle id, so a killed process resumes a cycle from
its last completed step. Deserialisation is restricted to the domain types the state
holds: the checkpoint file is data, not code.
"""

from __future__ import annotations

import inspect
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from enum import Enum
from pathlib import Path

from langgraph.checkpoint.serde.jsonplus import JsonPlusSerializer
from langgraph.checkpoint.sqlite.aio import AsyncSqliteSaver
from pydantic import BaseModel

import core.messages
import core.orders
import core.ports
import core.risk
import core.signals

CHECKPOINTS_FILE = "checkpoints.db"


def _state_types() -> list[type]:
    """Every pydantic model and enum of the modules whose objects live in the state."""
    found: list[type] = []
    for module in (core.messages, core.orders, core.risk, core.signals, core.ports):
        for _, obj in inspect.getmembers(module, inspect.isclass):
            if obj.__module__ == module.__name__ and issubclass(obj, BaseModel | Enum):
                found.append(obj)
    return found


def serializer() -> JsonPlusSerializer:
    return JsonPlusSerializer(allowed_msgpack_modules=_state_types())


@asynccontextmanager
async def sqlite_checkpointer(state_dir: Path) -> AsyncIterator[AsyncSqliteSaver]:
    """An ``AsyncSqliteSaver`` on ``state_dir/checkpoints.db`` (WAL), closed on exit."""
    import aiosqlite

    state_dir.mkdir(parents=True, exist_ok=True)
    conn = await aiosqlite.connect(str(state_dir / CHECKPOINTS_FILE))
    try:
        await conn.execute("PRAGMA journal_mode=WAL")
        await conn.execute("PRAGMA synchronous=FULL")  # a checkpoint survives SIGKILL
        saver = AsyncSqliteSaver(conn, serde=serializer())
        await saver.setup()
        yield saver
    finally:
        await conn.close()
