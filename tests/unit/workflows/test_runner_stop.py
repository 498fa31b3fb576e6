"""A stop request ends a cycle between two steps, checkpointed; the same cycle id then
resumes at the next step and finishes as an uninterrupted cycle would."""

from __future__ import annotations

from collections import Counter
from datetime import date
from pathlib import Path

from adapters.brokers.paper.broker import PaperBroker
from adapters.storage.sqlite import SqliteStore
from tests.unit.workflows import scripted
from workflows.checkpointer import sqlite_checkpointer
from workflows.daily_cycle import build_daily_cycle
from workflows.runner import CycleStoppedError, StopProbe, cycle_status, run_cycle
from workflows.state import CycleConfig, CycleDeps

AS_OF = date(2024, 3, 28)
UNIVERSE = ["AAPL", "MSFT"]


async def _cycle(
    directory: Path, stops: list[StopProbe | None]
) -> tuple[list[list[str]], list[str], dict, SqliteStore]:
    """Run cycle c1 once per stop probe (a stopped run is followed by the next one)."""
    store = SqliteStore(directory / "q.db")
    broker = PaperBroker(store)
    await broker.connect()
    deps = CycleDeps(
        store=store,
        market=scripted.MemoryMarket(UNIVERSE, "2024-01-02", 70),
        registry=scripted.scripted_registry(),
        broker=broker,
        config=CycleConfig(debate_rounds=1, fill_timeout_s=0.0),
    )
    runs: list[list[str]] = []
    statuses: list[str] = []
    state: dict = {}
    async with sqlite_checkpointer(directory) as saver:
        app = build_daily_cycle().compile(checkpointer=saver)
        for stop in stops:
            nodes: list[str] = []
            runs.append(nodes)
            try:
                state = dict(
                    await run_cycle(
                        app,
                        deps,
                        "c1",
                        AS_OF,
                        UNIVERSE,
                        lambda n, _, add=nodes.append: add(n),
                        stop,
                    )
                )
            except CycleStoppedError as exc:
                assert exc.cycle_id == "c1" and exc.after == (nodes[-1] if nodes else None)
            statuses.append(await cycle_status(app, "c1"))
    return runs, statuses, state, store


def yes_after(count: int) -> StopProbe:
    """Says no to the first ``count`` questions, then yes. The runner asks once per step
    (the first question comes after the input step, before open_cycle)."""
    seen = {"n": 0}

    def probe() -> bool:
        seen["n"] += 1
        return seen["n"] > count

    return probe


async def test_run_cycle_when_stop_requested_then_ends_between_steps_and_resumes_to_the_same_end(
    tmp_path: Path,
) -> None:
    clean_runs, _, clean, clean_store = await _cycle(tmp_path / "clean", [None])
    runs, statuses, state, store = await _cycle(tmp_path / "stopped", [yes_after(4), None])

    assert statuses == ["interrupted", "finished"]
    first, second = runs
    # stopped after open_cycle, the data fan-out (4 agents, one step), data_checked and
    # the strategy fan-out: whole steps only, never half a fan-out
    assert first[-4:] == ["strategy_agent"] * 4 and first.count("data_agent") == 4
    assert first + second == clean_runs[0]
    assert state["steps"] == clean["steps"]
    assert (
        [o.symbol for o in store.orders()] == [o.symbol for o in clean_store.orders()] == ["AAPL"]
    )
    shapes = Counter((m.sender, m.kind) for m in store.messages_by_cycle("c1"))
    clean_shapes = Counter((m.sender, m.kind) for m in clean_store.messages_by_cycle("c1"))
    assert shapes - clean_shapes == Counter({("daily_cycle", "note"): 1})  # cycle_resumed


async def test_run_cycle_when_stop_never_requested_then_same_steps_as_streaming_in_one_call(
    tmp_path: Path,
) -> None:
    clean_runs, _, clean, _ = await _cycle(tmp_path / "clean", [None])
    runs, statuses, state, _ = await _cycle(tmp_path / "stepped", [lambda: False])
    assert statuses == ["finished"]
    assert runs == clean_runs and state["steps"] == clean["steps"]


async def test_run_cycle_when_stop_requested_before_the_first_step_then_nothing_ran(
    tmp_path: Path,
) -> None:
    runs, statuses, _, store = await _cycle(tmp_path, [lambda: True])
    assert runs == [[]] and statuses == ["interrupted"]
    assert store.orders() == []
