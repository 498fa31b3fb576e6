"""The daemon end to end: the real runtime (lock, store, cycle service, paper broker,
checkpointer) over Thanksgiving week 2012 on a fake clock; and real `quorum daemon`
processes: a second instance refused naming the first, health and metrics served while it
sleeps, SIGTERM mid-cycle exiting cleanly and `quorum cycle run` finishing that cycle."""

from __future__ import annotations

import json
import os
import select
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from adapters.daemon.runtime import DaemonOptions, run_daemon
from adapters.storage.sqlite import SqliteStore
from config.settings import load_settings
from core.notifications import CycleFinished, Notification
from tests.conftest import REPO_ROOT
from tests.fixtures.clock import NY, FakeClock
from tests.unit.workflows.scripted import MemoryMarket, scripted_registry
from workflows.daemon import DaemonRecord, EventKind
from workflows.service import CYCLES

SYMBOLS = ["AAPL", "MSFT"]


class Notes:
    def __init__(self) -> None:
        self.sent: list[Notification] = []

    def notify(self, notification: Notification) -> None:
        self.sent.append(notification)


async def test_daemon_when_run_over_thanksgiving_week_then_exactly_the_four_sessions_trade(
    tmp_path: Path,
) -> None:
    from datetime import datetime

    settings = load_settings(state_dir=tmp_path / "var", universe={"symbols": SYMBOLS})
    clock = FakeClock(datetime(2012, 11, 19, 12, tzinfo=NY), datetime(2012, 11, 26, 12, tzinfo=NY))
    notes = Notes()
    await run_daemon(
        settings,
        DaemonOptions(health=False),
        clock=clock,
        notifier=notes,
        market=lambda: MemoryMarket(SYMBOLS, "2012-10-01", 60),  # business days, 22nd too
        registry=scripted_registry(),
    )
    store = SqliteStore(tmp_path / "var" / "quorum.db")
    try:
        finished = sorted(d["cycle_id"] for d in store.documents(CYCLES) if d.get("summary"))
        events = DaemonRecord(store).events()
        orders = store.orders()
    finally:
        store.close()
    sessions = ["2012-11-19", "2012-11-20", "2012-11-21", "2012-11-23"]
    assert finished == [f"cycle-{d}" for d in sessions]  # no cycle on Thanksgiving Day
    assert [(e.kind, e.session.isoformat()) for e in events] == [
        (EventKind.RAN, "2012-11-19"),
        (EventKind.RAN, "2012-11-20"),
        (EventKind.RAN, "2012-11-21"),
        (EventKind.HOLIDAY, "2012-11-22"),
        (EventKind.RAN, "2012-11-23"),
    ]
    assert [n.as_of for n in notes.sent if isinstance(n, CycleFinished)] == sessions
    assert {o.client_ref.split("-", 1)[1][:16] for o in orders} == {f"cycle-{d}" for d in sessions}


@pytest.fixture
def child_env(tmp_path: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("QUORUM_", "PYTHONDONT"))}
    env["QUORUM_STATE_DIR"] = str(tmp_path / "var")
    env["QUORUM_MASTER_KEY_FILE"] = str(tmp_path / "no-such.key")
    return env


QUORUM = [sys.executable, "-m", "adapters.cli.main"]


def _start(env: dict[str, str], *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [*QUORUM, *args], cwd=REPO_ROOT, env=env, text=True,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )  # fmt: skip


def _wait_for_line(proc: subprocess.Popen[str], needle: str, timeout: float = 120.0) -> str:
    """Read the child's stderr until a line contains ``needle``; returns that line."""
    assert proc.stderr is not None
    deadline = time.monotonic() + timeout
    seen: list[str] = []
    while time.monotonic() < deadline:
        ready, _, _ = select.select([proc.stderr], [], [], 0.5)
        if not ready:
            if proc.poll() is not None:
                break
            continue
        line = proc.stderr.readline()
        if not line and proc.poll() is not None:
            break
        seen.append(line)
        if needle in line:
            return line
    proc.kill()
    raise AssertionError(f"{needle!r} not seen; stderr: {''.join(seen)[-3000:]}")


def _run(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*QUORUM, *args], cwd=REPO_ROOT, env=env, text=True,
                          capture_output=True, timeout=300, check=False)  # fmt: skip


def _scrape(port: int) -> dict[str, float]:
    text = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=5).text
    return {s.name: s.value for f in text_string_to_metric_families(text) for s in f.samples
            if not s.labels}  # fmt: skip


def test_daemon_when_a_second_instance_starts_then_it_is_refused_naming_the_first(
    child_env: dict[str, str],
) -> None:
    first = _start(child_env, "daemon", "--health-port", "0")
    try:
        ready = _wait_for_line(first, "health on http://127.0.0.1:")
        port = int(ready.split("http://127.0.0.1:")[1].split("/")[0])
        health = httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=5).json()
        assert health["lock_held"] is True and health["broker"]["kind"] == "paper"
        assert _scrape(port)["quorum_daemon_lock_held"] == 1

        second = _run(child_env, "daemon", "--once", "--session", "2013-02-27")
        assert second.returncode == 2, second.stderr
        assert f"another quorum daemon is running (pid {first.pid} on " in second.stderr
        assert second.stderr.count("\n") == 1 and "Traceback" not in second.stderr

        status = json.loads(_run(child_env, "daemon", "status", "--json").stdout)
        assert status["running"] is True and status["holder"]["pid"] == first.pid
    finally:
        first.send_signal(signal.SIGTERM)
        _, err = first.communicate(timeout=60)
    assert first.returncode == 0, err[-2000:]
    assert "quorum daemon stopped" in err
    after = json.loads(_run(child_env, "daemon", "status", "--json").stdout)
    assert after["running"] is False and after["holder"] is None


def test_daemon_when_sigterm_mid_cycle_then_exits_cleanly_and_cycle_run_finishes_it(
    child_env: dict[str, str], tmp_path: Path
) -> None:
    """The 22 registry agents on the shipped bars: SIGTERM as soon as the first step is
    done; the daemon stops after its current step (exit 0, checkpoint kept), then the
    ordinary `quorum cycle run` for that date resumes the cycle and completes it."""
    proc = _start(child_env, "daemon", "--once", "--session", "2013-02-27")
    _wait_for_line(proc, "cycle step done")
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err[-3000:]
    assert out.startswith("2013-02-27 stopped: cycle cycle-2013-02-27 stopped on request after")
    assert "SIGTERM received: stopping after the current step" in err

    resumed = _run(child_env, "cycle", "run", "--date", "2013-02-27", "--json")
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    summary: dict[str, Any] = json.loads(resumed.stdout)
    assert summary["cycle_id"] == "cycle-2013-02-27" and summary["status"] == "completed"

    store = SqliteStore(tmp_path / "var" / "quorum.db")
    try:
        notes = [m.payload.topic for m in store.messages_by_cycle("cycle-2013-02-27")
                 if m.kind == "note"]  # type: ignore[union-attr]  # fmt: skip
        kinds = [e.kind for e in DaemonRecord(store).events()]
    finally:
        store.close()
    assert notes.count("cycle_resumed") == 1  # it resumed; it did not start over
    assert kinds == [EventKind.STOPPED]
    again = _run(child_env, "daemon", "--once", "--session", "2013-02-27", "--json")
    assert again.returncode == 0 and json.loads(again.stdout)["kind"] == "already_run"


def test_daemon_once_when_session_is_a_holiday_then_refused_with_exit_2(
    child_env: dict[str, str],
) -> None:
    result = _run(child_env, "daemon", "--once", "--session", "2012-11-22")
    assert result.returncode == 2
    assert "2012-11-22 is not a XNYS session (weekend or holiday)" in result.stderr
