"""Crash-resume: a cycle process SIGKILLed at a node boundary (or inside execution, right
after the broker accepted the order) and re-run with the same cycle id completes, and the
broker holds exactly one order per client_ref.

The child process runs the real graph, checkpointer, store, paper broker and shipped
bars, with the scripted agents of ``tests.unit.workflows.scripted`` (which always make
one order, so every kill point has an order at stake).
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

import pytest

from adapters.storage.sqlite import SqliteStore
from tests.conftest import REPO_ROOT
from workflows.runner import KILL_AFTER_ENV

CYCLE_ID = "crash-2013-02-27"
AS_OF = "2013-02-27"
KILL_IN_EXECUTION_ENV = "QUORUM_TEST_KILL_IN_EXECUTION"


def _child(state_dir: str) -> None:
    from adapters.runtime import cycle_service
    from config.settings import load_settings
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

    async def go() -> dict:
        s = load_settings(state_dir=Path(state_dir))
        async with cycle_service(s, registry=registry) as service:
            return await service.run(date.fromisoformat(AS_OF), cycle_id=CYCLE_ID)

    print(json.dumps(asyncio.run(go()), default=str))


def _run_child(state_dir: Path, env_extra: dict[str, str]) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("QUORUM_TEST_")}
    env.update(env_extra)
    env["QUORUM_UNIVERSE__SYMBOLS"] = '["AAPL", "MSFT"]'  # fewer files to load per child
    return subprocess.run(
        [sys.executable, "-m", "tests.integration.test_cycle_crash", str(state_dir)],
        cwd=REPO_ROOT,
        check=False,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.mark.parametrize(
    "kill",
    [
        {KILL_AFTER_ENV: "portfolio_manager"},  # intents made, nothing sent
        {KILL_IN_EXECUTION_ENV: "1"},  # sent, not yet checkpointed or journaled
    ],
    ids=["before-execution", "inside-execution"],
)
def test_cycle_when_killed_then_rerun_resumes_and_sends_each_order_once(
    tmp_path: Path, kill: dict[str, str]
) -> None:
    state_dir = tmp_path / "var"
    crashed = _run_child(state_dir, kill)
    assert crashed.returncode == -signal.SIGKILL, crashed.stderr[-2000:]

    resumed = _run_child(state_dir, {})
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    summary = json.loads(resumed.stdout)
    assert summary["status"] == "completed"
    assert [(o["symbol"], o["qty"]) for o in summary["orders"]] == [("AAPL", 10)]

    store = SqliteStore(state_dir / "quorum.db")
    try:
        refs = Counter(o.client_ref for o in store.orders() if CYCLE_ID in o.client_ref)
        assert list(refs.values()) == [1]
        assert summary["orders"][0]["client_ref"] in refs
        topics = [m.payload.topic for m in store.messages_by_kind("note", CYCLE_ID)]
        assert "cycle_resumed" in topics
        assert topics.count("cycle_report") == 1
    finally:
        store.close()


def test_cycle_run_cli_when_killed_after_execution_then_rerun_completes_with_one_order_per_ref(
    tmp_path: Path,
) -> None:
    """The real command and the 22 registry agents: SIGKILL after execution (orders sent,
    reconciliation not run), then the same command again."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("QUORUM_")}
    env["QUORUM_STATE_DIR"] = str(tmp_path / "var")
    command = [sys.executable, "-m", "adapters.cli.main", "cycle", "run", "--date", "2013-02-27"]
    crashed = subprocess.run(
        command, cwd=REPO_ROOT, env={**env, KILL_AFTER_ENV: "execution"},
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert crashed.returncode == -signal.SIGKILL, crashed.stderr[-2000:]
    store = SqliteStore(tmp_path / "var" / "quorum.db")
    sent = sorted(o.client_ref for o in store.orders())
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
        assert sorted(o.client_ref for o in store.orders()) == sent  # nothing sent twice
        resumed_notes = [
            m for m in store.messages_by_kind("note", "cycle-2013-02-27")
            if m.payload.topic == "cycle_resumed"
        ]  # fmt: skip
        assert len(resumed_notes) == 1
    finally:
        store.close()


if __name__ == "__main__":
    _child(sys.argv[1])
