"""Issue 11's "done when": `quorum daemon --once` runs a cycle on data fetched from the
TWS-protocol simulator through IBKR historical bars (the only provider configured, so no
shipped file can stand in), all as real processes over loopback."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from adapters.storage.sqlite import SqliteStore
from tests.conftest import REPO_ROOT
from tests.fixtures.simulate_process import simulate_process
from workflows.daemon import DaemonRecord, EventKind
from workflows.service import CYCLES

pytestmark = pytest.mark.timeout(300)

QUORUM = [sys.executable, "-m", "adapters.cli.main"]


@pytest.fixture
def simulator() -> Iterator[dict[str, Any]]:
    with simulate_process() as (_, info):
        yield info


def test_daemon_once_when_bars_come_from_the_simulator_then_the_cycle_runs_on_them(
    simulator: dict[str, Any], tmp_path: Path
) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("QUORUM_", "PYTHONDONT"))}
    env.update({
        "QUORUM_STATE_DIR": str(tmp_path / "var"),
        "QUORUM_MASTER_KEY_FILE": str(tmp_path / "no-such.key"),
        "QUORUM_MARKETDATA__PROVIDERS": '["ibkr"]',
        "QUORUM_BROKER__IBKR__PORT": str(simulator["port"]),
    })  # fmt: skip

    def quorum(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([*QUORUM, *args], cwd=REPO_ROOT, env=env, text=True,
                              capture_output=True, timeout=240, check=False)  # fmt: skip

    fetched = quorum("data", "fetch", "--symbols", "AAPL,MSFT,IBM,GOOG", "--from", "2012-09-04")
    assert fetched.returncode == 0, fetched.stderr[-2000:]
    ran = quorum("daemon", "--once", "--json")
    assert ran.returncode == 0, ran.stderr[-3000:]
    event = json.loads(ran.stdout)
    # the newest session with bars at the simulator, which serves the shipped history
    assert (event["kind"], event["session"]) == ("ran", "2013-03-01")
    assert event["summary"]["status"] == "completed" and event["manual"] is True

    store = SqliteStore(tmp_path / "var" / "quorum.db")
    try:
        doc = store.get_document(CYCLES, "cycle-2013-03-01")
        kinds = [e.kind for e in DaemonRecord(store).events()]
    finally:
        store.close()
    assert doc is not None and doc["summary"]["status"] == "completed"
    assert sorted(doc["universe"]) == ["AAPL", "GOOG", "IBM", "MSFT"]
    assert kinds == [EventKind.RAN]
