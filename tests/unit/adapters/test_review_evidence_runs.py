"""The evidence step's simulations (``adapters.review.simulate_values``): the agent graph
on a scratch paper account, whose directory is deleted afterwards — so no cycle report
(an HTML page with a matplotlib chart, a third of a proposal's wait) is drawn for it."""

from __future__ import annotations

import asyncio
from datetime import date
from pathlib import Path
from typing import Any

import pytest

from adapters.review import EVIDENCE_RUNS, simulate_values
from adapters.runtime import load_market
from adapters.storage.sqlite import SqliteStore
from config.settings import load_settings
from workflows.config_keys import settings_values

SESSIONS = [date(2013, 2, 27), date(2013, 2, 28)]


def test_simulate_values_when_evidence_runs_then_cycles_run_and_no_report_is_drawn(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def no_report(*args: Any, **kwargs: Any) -> Path:
        raise AssertionError("an evidence run drew a cycle report")

    monkeypatch.setattr("workflows.service.write_cycle_report", no_report)
    settings = load_settings(state_dir=tmp_path / "var")
    store = SqliteStore(tmp_path / "quorum.db")
    try:
        values = settings_values(settings)
        run = asyncio.run(simulate_values(settings, store, load_market(settings), values, SESSIONS))
        assert len(run.equity) == len(SESSIONS) and len(run.fills) == len(SESSIONS)
        assert all(e > 0 for e in run.equity)
        assert len(store.documents(EVIDENCE_RUNS)) == 1  # cached for the next proposal
    finally:
        store.close()
    assert not list((tmp_path / "var").glob("evidence-*"))  # the scratch dir is gone
