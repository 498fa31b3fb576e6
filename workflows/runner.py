"""Running one cycle on a compiled graph: start, resume after a crash, or return the
result of a cycle that already finished.

The thread id is the cycle id. A cycle with a checkpoint but unfinished is resumed from
its last completed step, after reconciling with the broker first (fills that arrived
while the process was down are saved before any node runs again).

Test-only crash hook: with ``QUORUM_TEST_KILL_AFTER=<node>`` in the environment the
process SIGKILLs itself as soon as that node's update has been streamed (off unless set;
used by the crash-resume tests to kill a subprocess at a chosen node boundary).
"""

from __future__ import annotations

import os
import signal
import uuid
from collections.abc import Callable
from datetime import date
from typing import Any, cast

from langgraph.graph.state import CompiledStateGraph

from core.messages import Envelope, Note
from workflows.state import CycleDeps, CycleState

KILL_AFTER_ENV = "QUORUM_TEST_KILL_AFTER"

UpdateHook = Callable[[str, dict[str, Any]], None]
Graph = CompiledStateGraph[CycleState, CycleDeps, CycleState, CycleState]


def thread_config(cycle_id: str) -> dict[str, Any]:
    return {"configurable": {"thread_id": cycle_id}}


async def cycle_status(app: Graph, cycle_id: str) -> str:
    """``new`` (no checkpoint), ``interrupted`` (resumable) or ``finished``."""
    snapshot = await app.aget_state(thread_config(cycle_id))  # type: ignore[arg-type]
    if not snapshot.values:
        return "new"
    return "interrupted" if snapshot.next else "finished"


async def reconcile_before_resume(deps: CycleDeps, cycle_id: str) -> Envelope:
    """Settle with the broker before a resumed cycle runs another node: save every fill the
    broker reports (idempotent by fill id) and journal what was found."""
    open_orders, fills_saved = 0, 0
    if deps.broker is not None:
        open_orders = len(await deps.broker.open_orders())
        for fill in await deps.broker.executions():
            fills_saved += int(deps.store.save_fill(fill))
    note = Envelope(
        cycle_id=cycle_id,
        sender="daily_cycle",
        payload=Note(
            topic="cycle_resumed",
            data={"open_orders": open_orders, "new_fills_saved": fills_saved},
        ),
    )
    deps.store.append_message(note)
    return note


async def run_cycle(
    app: Graph,
    deps: CycleDeps,
    cycle_id: str,
    as_of: date,
    universe: list[str],
    on_update: UpdateHook | None = None,
) -> CycleState:
    """Run (or resume, or just read back) cycle ``cycle_id``; returns the final state."""
    config = thread_config(cycle_id)
    status = await cycle_status(app, cycle_id)
    if status == "finished":
        snapshot = await app.aget_state(config)  # type: ignore[arg-type]
        return cast(CycleState, snapshot.values)
    payload: CycleState | None = None
    if status == "interrupted":
        await reconcile_before_resume(deps, cycle_id)
    else:
        payload = {
            "cycle_id": cycle_id,
            "run_id": uuid.uuid4().hex,
            "as_of": as_of.isoformat(),
            "universe": list(universe),
            "messages": [],
            "steps": [],
        }
    kill_after = os.environ.get(KILL_AFTER_ENV)
    async for chunk in app.astream(  # type: ignore[call-overload]
        payload,
        config,
        context=deps,
        stream_mode="updates",
        durability="sync",
    ):
        for node, update in chunk.items():
            if on_update is not None:
                on_update(node, update if isinstance(update, dict) else {})
            if kill_after and node == kill_after:
                os.kill(os.getpid(), signal.SIGKILL)
    final = await app.aget_state(config)  # type: ignore[arg-type]
    return cast(CycleState, final.values)
