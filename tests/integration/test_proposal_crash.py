"""Proposal review survives SIGKILL: a process killed while its proposal waits for review
(or in the middle of computing the evidence) leaves the review in its checkpoint, and a
new process approves it (or finishes the evidence with a sweep, then approves).

The child runs the real review graph, SQLite checkpointer and store on the shipped bars;
the evidence is the walk-forward backtest (a strategy parameter: no simulation needed).
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from adapters.storage.sqlite import SqliteStore
from config.settings import Settings, load_settings
from core.proposals import ProposalStatus
from tests.conftest import REPO_ROOT

KILL_IN_EVIDENCE_ENV = "QUORUM_TEST_KILL_IN_EVIDENCE"
CHANGE = {"strategy.momentum.lookback": "40"}


def _settings(state_dir: Path) -> Settings:
    return load_settings(
        state_dir=state_dir, proposals={"backtest_folds": 2, "backtest_fold_bars": 60}
    )


def _service(state_dir: Path) -> Any:
    from adapters.review import make_proposal_service

    settings = _settings(state_dir)
    store = SqliteStore(settings.sqlite_file)
    service = make_proposal_service(settings, store)
    if os.environ.get(KILL_IN_EVIDENCE_ENV):
        real = service.deps.evidence

        async def die(*args: Any) -> Any:
            os.kill(os.getpid(), signal.SIGKILL)  # validated, evidence not saved
            return await real(*args)

        service.deps.evidence = die
    return service, store


def _child(state_dir: str) -> None:
    service, _ = _service(Path(state_dir))
    proposal = asyncio.run(service.submit(CHANGE, "slower momentum", "alice"))
    print(f"{proposal.id} {proposal.status.value}", flush=True)
    time.sleep(600)  # "waiting for review": the parent kills it here


@pytest.fixture(scope="module")
def child_env(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("QUORUM_", "PYTHONDONT"))}
    env["PYTHONPYCACHEPREFIX"] = str(tmp_path_factory.mktemp("pycache"))
    return env


def _start(env: dict[str, str], state_dir: Path) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "tests.integration.test_proposal_crash", str(state_dir)],
        cwd=REPO_ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip


def test_review_when_killed_while_waiting_then_a_new_process_approves_it(
    tmp_path: Path, child_env: dict[str, str]
) -> None:
    child = _start(child_env, tmp_path / "var")
    assert child.stdout is not None
    line = child.stdout.readline().strip()  # submitted: evidence done, waiting
    assert line == "p-1 pending", child.stderr.read() if child.stderr else ""
    child.send_signal(signal.SIGKILL)
    assert child.wait(timeout=30) == -signal.SIGKILL

    service, store = _service(tmp_path / "var")
    try:
        waiting = service.get_proposal("p-1")
        assert waiting.status is ProposalStatus.PENDING and waiting.evidence
        approved = asyncio.run(service.approve("p-1", "bob"))
        assert approved.status is ProposalStatus.APPROVED and approved.applied_version == 2
        assert service.deps.config.version().values["strategy.momentum.lookback"] == 40
    finally:
        store.close()


def test_review_when_killed_inside_evidence_then_sweep_finishes_it_and_it_can_be_approved(
    tmp_path: Path, child_env: dict[str, str]
) -> None:
    child = _start({**child_env, KILL_IN_EVIDENCE_ENV: "1"}, tmp_path / "var")
    assert child.wait(timeout=120) == -signal.SIGKILL
    service, store = _service(tmp_path / "var")
    try:
        assert service.get_proposal("p-1").status is ProposalStatus.EVALUATING
        assert asyncio.run(service.sweep()) == ["p-1"]  # resumed from its checkpoint
        pending = service.get_proposal("p-1")
        assert pending.status is ProposalStatus.PENDING
        [section] = pending.evidence["sections"]  # type: ignore[index]
        assert section["method"] == "backtest" and len(section["folds"]) == 2
        assert asyncio.run(service.approve("p-1", "bob")).applied_version == 2
    finally:
        store.close()


if __name__ == "__main__":
    _child(sys.argv[1])
