"""Crash-resume: a cycle process SIGKILLed at a node boundary (or inside execution, right
after the broker accepted the order) and re-run with the same cycle id completes, the
broker holds exactly one order per client_ref, and the journal holds what an
uninterrupted cycle journals (a re-run step is not journaled twice).

The child process runs the real graph, checkpointer, store and paper broker on seeded
bars, with the scripted agents of ``tests.unit.workflows.scripted`` (which always make
one order, so every kill point has an order at stake). The CLI test runs the real
command with the 22 registry agents on the shipped bars.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
from collections import Counter
from datetime import date
from pathlib import Path
from typing import Any

import pytest

from adapters.storage.sqlite import SqliteStore
from core.orders import bracket_parent_ref
from tests.conftest import REPO_ROOT
from workflows.runner import KILL_AFTER_ENV

CYCLE_ID = "crash-2013-02-27"
AS_OF = "2013-02-27"
SYMBOLS = ["AAPL", "MSFT"]  # fewer files to load per child
KILL_IN_EXECUTION_ENV = "QUORUM_TEST_KILL_IN_EXECUTION"


def _registry() -> dict:
    from tests.unit.workflows import scripted

    async def execution_then_die(ctx, inbox):  # type: ignore[no-untyped-def]
        produced = await scripted.execution(ctx, inbox)
        if os.environ.get(KILL_IN_EXECUTION_ENV):
            os.kill(os.getpid(), signal.SIGKILL)  # the order is at the broker, unreported
        return produced

    registry = scripted.scripted_registry()
    registry["execution"] = registry["execution"].__class__(
        **{**registry["execution"].__dict__, "run": execution_then_die, "is_async": True}
    )
    return registry


async def _run_cycle(state_dir: Path) -> dict:
    from adapters.runtime import cycle_service
    from config.settings import load_settings
    from tests.unit.workflows.scripted import MemoryMarket

    s = load_settings(state_dir=state_dir, universe={"symbols": SYMBOLS})
    market = MemoryMarket(SYMBOLS, "2012-11-01", 90)  # seeded bars: no pandas to import
    async with cycle_service(s, registry=_registry(), market=market) as service:
        return await service.run(date.fromisoformat(AS_OF), cycle_id=CYCLE_ID)


def _child(state_dir: str) -> None:
    print(json.dumps(asyncio.run(_run_cycle(Path(state_dir))), default=str))


@pytest.fixture(scope="module")
def child_env(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """The children's environment. Bytecode goes to a cache of this test module (never
    beside the sources): the first child compiles the imports, the others load them."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("QUORUM_", "PYTHONDONT"))}
    env["PYTHONPYCACHEPREFIX"] = str(tmp_path_factory.mktemp("pycache"))
    return env


def _run_child(
    env: dict[str, str], state_dir: Path, extra: dict[str, str]
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "tests.integration.test_cycle_crash", str(state_dir)],
        cwd=REPO_ROOT, env={**env, **extra},
        check=False, capture_output=True, text=True, timeout=120,
    )  # fmt: skip


def _journal(state_dir: Path) -> tuple[list[Any], list[Any]]:
    store = SqliteStore(state_dir / "quorum.db")
    try:
        return store.messages_by_cycle(CYCLE_ID), store.orders()
    finally:
        store.close()


def _shape(message: Any) -> tuple[str, str, str]:
    topic = getattr(message.payload, "topic", "")
    return (message.sender, message.kind, topic if isinstance(topic, str) else "")


# Each crash resumes the previous one's checkpoint: mid risk fan-out (some agents' writes
# saved, others not: they run again), after the intents were made but before anything
# was sent, and inside execution right after the broker accepted the order.
KILLS = [
    ("risk_agent", {KILL_AFTER_ENV: "risk_agent"}),
    ("portfolio_manager", {KILL_AFTER_ENV: "portfolio_manager"}),
    ("inside execution", {KILL_IN_EXECUTION_ENV: "1"}),
]


def test_cycle_when_killed_at_successive_nodes_then_each_rerun_resumes_and_sends_one_order(
    tmp_path: Path, child_env: dict[str, str]
) -> None:
    state_dir = tmp_path / "var"
    for where, kill in KILLS:
        crashed = _run_child(child_env, state_dir, kill)
        assert crashed.returncode == -signal.SIGKILL, (where, crashed.stderr[-2000:])
    _, orders = _journal(state_dir)
    assert [o.symbol for o in orders] == ["AAPL"], "the order was at the broker when killed"

    resumed = _run_child(child_env, state_dir, {})
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    summary = json.loads(resumed.stdout)
    assert summary["status"] == "completed"
    assert [(o["symbol"], o["qty"]) for o in summary["orders"]] == [("AAPL", 10)]

    messages, orders = _journal(state_dir)
    refs = Counter(o.client_ref for o in orders)
    assert refs == Counter({summary["orders"][0]["client_ref"]: 1})  # sent once
    resumes = [m for m in messages if _shape(m)[2] == "cycle_resumed"]
    assert len(resumes) == len(KILLS)  # every kill came after the first checkpoint
    # The journal of the crashed-and-resumed cycle holds exactly what an uninterrupted
    # cycle journals (plus one note per resume): re-run steps are not journaled twice.
    clean_summary = asyncio.run(_run_cycle(tmp_path / "clean"))
    clean, _ = _journal(tmp_path / "clean")
    assert Counter(_shape(m) for m in messages if m not in resumes) == Counter(
        _shape(m) for m in clean
    )
    assert len({m.id for m in messages}) == len(messages)
    assert [o["client_ref"] for o in clean_summary["orders"]] != []


def test_cycle_run_cli_when_killed_after_execution_then_rerun_completes_with_one_order_per_ref(
    tmp_path: Path, child_env: dict[str, str]
) -> None:
    """The real command and the 22 registry agents: SIGKILL after execution (orders sent,
    reconciliation not run), then the same command again."""
    env = dict(child_env)
    env["QUORUM_STATE_DIR"] = str(tmp_path / "var")
    command = [sys.executable, "-m", "adapters.cli.main", "cycle", "run", "--date", "2013-02-27"]
    crashed = subprocess.run(
        command, cwd=REPO_ROOT, env={**env, KILL_AFTER_ENV: "execution"},
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert crashed.returncode == -signal.SIGKILL, crashed.stderr[-2000:]
    progress = crashed.stderr  # the interactive run prints one line per finished step
    for desk, step in [("data desk", "data:market_data"), ("risk desk", "risk_gate"),
                       ("execution desk", "execution")]:  # fmt: skip
        assert any(desk in line and step in line for line in progress.splitlines()), progress
    assert "reconciliation" not in progress  # killed right after execution
    store = SqliteStore(tmp_path / "var" / "quorum.db")
    placed = sorted(o.client_ref for o in store.orders())  # protective legs included
    sent = [ref for ref in placed if bracket_parent_ref(ref) is None]
    store.close()
    assert sent, "the cycle had sent its orders before it was killed"

    resumed = subprocess.run(
        [*command, "--json"], cwd=REPO_ROOT, env=env,
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    summary = json.loads(resumed.stdout)
    assert summary["status"] == "completed"
    assert sorted(o["client_ref"] for o in summary["orders"]) == sent
    store = SqliteStore(tmp_path / "var" / "quorum.db")
    try:
        assert sorted(o.client_ref for o in store.orders()) == placed  # nothing sent twice
        resumed_notes = [
            m for m in store.messages_by_kind("note", "cycle-2013-02-27")
            if m.payload.topic == "cycle_resumed"
        ]  # fmt: skip
        assert len(resumed_notes) == 1
    finally:
        store.close()


if __name__ == "__main__":
    _child(sys.argv[1])
