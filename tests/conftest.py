"""Shared fixtures. Fixture modules live in tests/fixtures/ and are registered here."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings

pytest_plugins = ["tests.fixtures.redis"]

settings.register_profile(
    "quorum", derandomize=True, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
settings.load_profile("quorum")

REPO_ROOT = Path(__file__).resolve().parent.parent
DATA_DIR = REPO_ROOT / "data"


@pytest.fixture(autouse=True)
def _isolated_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Every test runs in its own directory with no stray QUORUM_* settings or keys."""
    for key in list(os.environ):
        if key.startswith("QUORUM_"):
            monkeypatch.delenv(key)
    monkeypatch.setenv("QUORUM_MASTER_KEY_FILE", str(tmp_path / "no-such-master.key"))
    monkeypatch.chdir(tmp_path)
    yield
