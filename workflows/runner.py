"""Running one cycle on a compiled graph: start, resume after a crash, or return the
result of a cycle that already finished.

The thread id is the cycle id. A cycle with a checkpoint but unfinished is resumed from
its last completed step, after reconciling with the broker first (fills that arrived
while the process was down are saved before any node runs again).

A clean stop: with ``stop`` given, the graph runs one superstep per ``astream`` call
(``interrupt_before="*"``: LangGraph pauses before every step, right after the previous
step's checkpoint) and ``stop()`` is asked between steps; when it says yes the run ends with
``CycleStoppedError`` and the checkpoint is that of the last finished step, so running the
same cycle id again resumes at the next one. Nothing in flight is cancelled: a fan-out step
(the four risk agents) always finishes as a whole. Without ``stop`` the graph streams in
one call, as before. The daemon passes its SIGTERM flag here.

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

from core.errors import QuorumError
from core.messages import Envelope, Note
from workflows.state import CycleDeps, CycleState

KILL_AFTER_ENV = "QUORUM_TEST_KILL_AFTER"

UpdateHook = Callable[[str, dict[str, Any]], None]
StopProbe = Callable[[], bool]
Graph = CompiledStateGraph[CycleState, CycleDeps, CycleState, CycleState]


class CycleStoppedError(QuorumError):
    """A stop was asked for: the cycle ended between two steps, checkpointed after
    ``after`` (the last node that finished). Re-running ``cycle_id`` resumes it."""

    def __init__(self, cycle_id: str, after: str | None) -> None:
        super().__init__(
            f"cycle {cycle_id} stopped on request after {after or 'its start'};"
            " running the same cycle id again resumes it"
        )
        self.cycle_id = cycle_id
        self.after = after


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
    stop: StopProbe | None = None,
) -> CycleState:
    """Run (or resume, or just read back) cycle ``cycle_id``; returns the final state.
    With ``stop``, raises ``CycleStoppedError`` between two steps once ``stop()`` is true."""
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
    last_node: str | None = None
    while True:
        async for chunk in app.astream(  # type: ignore[call-overload]
            payload,
            config,
            context=deps,
            stream_mode="updates",
            durability="sync",
            interrupt_before="*" if stop is not None else None,
        ):
            for node, update in chunk.items():
                if node.startswith("__"):  # "__interrupt__": the pause before a step
                    continue
                last_node = node
                if on_update is not None:
                    on_update(node, update if isinstance(update, dict) else {})
                if kill_after and node == kill_after:
                    os.kill(os.getpid(), signal.SIGKILL)
        if stop is None:
            break
        payload = None  # from here on, resume from the checkpoint
        if not (await app.aget_state(config)).next:  # type: ignore[arg-type]
            break  # the graph has finished
        if stop():
            raise CycleStoppedError(cycle_id, last_node)
    final = await app.aget_state(config)  # type: ignore[arg-type]
    return cast(CycleState, final.values)
