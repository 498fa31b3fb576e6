"""The data-source rule of `quorum serve`: main once it has run a cycle, else the newest
simulation, else main; explicit choices must exist."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

from adapters.api.source import SourceKind, choose_source, parse_source, simulations
from adapters.storage.sqlite import SqliteStore
from core.errors import ConfigurationError
from workflows.service import CYCLES, EQUITY_KEY


def make_sim(state_dir: Path, name: str, mtime: float) -> Path:
    db = state_dir / "simulations" / name / "quorum.db"
    db.parent.mkdir(parents=True)
    SqliteStore(db).close()
    for suffix in ("", "-wal", "-shm"):
        path = Path(f"{db}{suffix}")
        if path.exists():
            os.utime(path, (mtime, mtime))
    return db


@pytest.fixture
def main(tmp_path: Path) -> SqliteStore:
    store = SqliteStore(tmp_path / "var" / "quorum.db")
    yield store  # type: ignore[misc]
    store.close()


def test_auto_when_main_never_ran_and_simulations_exist_then_the_newest(
    tmp_path: Path, main: SqliteStore
) -> None:
    state = tmp_path / "var"
    make_sim(state, "old", 1_000_000)
    newest = make_sim(state, "new", 2_000_000)
    chosen = choose_source(state, main)
    assert (chosen.kind, chosen.name, chosen.path) == (SourceKind.SIMULATION, "new", str(newest))
    assert chosen.label == "simulation:new" and "never run a cycle" in chosen.reason
    assert [n for n, _ in simulations(state)] == ["new", "old"]


@pytest.mark.parametrize("marker", ["cycle", "equity"])
def test_auto_when_main_has_run_a_cycle_then_main(
    tmp_path: Path, main: SqliteStore, marker: str
) -> None:
    state = tmp_path / "var"
    make_sim(state, "demo", 1_000_000)
    if marker == "cycle":
        main.put_document(CYCLES, "cycle-2013-02-28", {"cycle_id": "cycle-2013-02-28"})
    else:
        main.kv_set(EQUITY_KEY, {"date": "2013-02-28", "equity": 1.0})
    chosen = choose_source(state, main)
    assert chosen.kind is SourceKind.MAIN and chosen.label == "main"


def test_auto_when_nothing_at_all_then_main(tmp_path: Path, main: SqliteStore) -> None:
    assert choose_source(tmp_path / "var", main).kind is SourceKind.MAIN


def test_explicit_when_named_then_that_one_even_if_older_or_main_empty(
    tmp_path: Path, main: SqliteStore
) -> None:
    state = tmp_path / "var"
    make_sim(state, "old", 1_000_000)
    make_sim(state, "new", 2_000_000)
    assert choose_source(state, main, "simulation:old").name == "old"
    assert choose_source(state, main, "main").kind is SourceKind.MAIN


def test_explicit_when_simulation_unknown_then_error_lists_the_ones_there(
    tmp_path: Path, main: SqliteStore
) -> None:
    state = tmp_path / "var"
    make_sim(state, "demo", 1_000_000)
    with pytest.raises(ConfigurationError, match=r"no simulation 'nope'.*have: demo"):
        choose_source(state, main, "simulation:nope")
    with pytest.raises(ConfigurationError, match=r"have: demo"):
        choose_source(state, main, "simulation:../demo")


@pytest.mark.parametrize("text", ["", "sim", "simulation:", "simulation", "mainly", "MAIN"])
def test_parse_when_not_a_source_then_one_line_rule(text: str) -> None:
    with pytest.raises(ConfigurationError, match=re.escape("rule=auto | main | simulation:NAME")):
        parse_source(text)


def test_simulations_when_a_directory_has_no_store_then_ignored(tmp_path: Path) -> None:
    state = tmp_path / "var"
    (state / "simulations" / "empty").mkdir(parents=True)
    make_sim(state, "real", 1_000_000)
    assert [n for n, _ in simulations(state)] == ["real"]
