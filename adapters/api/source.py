"""Where the API reads trading data from: the main store, or a simulation's own store.

``quorum demo`` / ``quorum simulate`` keep their journal and paper account in
``<state_dir>/simulations/<name>/quorum.db``, never in the main store. The rule:

- ``--source main``: the main store.
- ``--source simulation:NAME``: that simulation's store (it must exist).
- ``--source auto`` (the default): the main store once it has run a cycle; before that,
  the newest simulation if there is one (so ``quorum serve`` right after ``make demo``
  shows the demo), else the main store.

It is decided once, when the server starts. Operators, API tokens, the audit chain, the
trading state and proposals always live in the main store, whatever the source.
"""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path

from pydantic import BaseModel, ConfigDict

from core.errors import ConfigurationError
from core.ports import Store

SIMULATIONS_DIR = "simulations"
DB_NAME = "quorum.db"
AUTO = "auto"


class SourceKind(StrEnum):
    MAIN = "main"
    SIMULATION = "simulation"


class DataSource(BaseModel):
    """The store the reads come from, and why that one."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    kind: SourceKind
    name: str | None = None  # the simulation's name
    path: str | None = None  # the simulation's store file
    reason: str

    @property
    def label(self) -> str:
        """``main`` or ``simulation:<name>``: what every response and the dashboard say."""
        return "main" if self.kind is SourceKind.MAIN else f"simulation:{self.name}"


def simulations(state_dir: Path) -> list[tuple[str, Path]]:
    """The simulations under ``state_dir``, newest first (by when their store was last
    written: the write-ahead log counts)."""
    root = state_dir / SIMULATIONS_DIR
    if not root.is_dir():
        return []
    found: list[tuple[float, str, Path]] = []
    for sub in root.iterdir():
        db = sub / DB_NAME
        if sub.is_dir() and db.is_file():
            stamps = [p.stat().st_mtime for p in (db, Path(f"{db}-wal")) if p.exists()]
            found.append((max(stamps), sub.name, db))
    found.sort(key=lambda f: (f[0], f[1]), reverse=True)
    return [(name, db) for _, name, db in found]


def main_has_run(store: Store) -> bool:
    """Has the main account run a cycle (a cycle document or an equity point)?"""
    from workflows.service import CYCLES, EQUITY_KEY

    return bool(store.documents(CYCLES)) or bool(store.kv_history(EQUITY_KEY))


def parse_source(text: str) -> tuple[SourceKind | None, str | None]:
    """``auto`` → (None, None); ``main``; ``simulation:NAME``. Raises ConfigurationError."""
    value = text.strip()
    if value == AUTO:
        return None, None
    if value == SourceKind.MAIN.value:
        return SourceKind.MAIN, None
    kind, sep, name = value.partition(":")
    if kind == SourceKind.SIMULATION.value and sep and name.strip():
        return SourceKind.SIMULATION, name.strip()
    raise ConfigurationError(
        f"--source {text!r} rule=auto | main | simulation:NAME (a directory under"
        f" <state_dir>/{SIMULATIONS_DIR}/)"
    )


def choose_source(state_dir: Path, main: Store, wanted: str = AUTO) -> DataSource:
    """The data source ``wanted`` names (see the module docstring)."""
    kind, name = parse_source(wanted)
    sims = simulations(state_dir)
    if kind is SourceKind.MAIN:
        return DataSource(kind=SourceKind.MAIN, reason="--source main")
    if kind is SourceKind.SIMULATION:
        for sim, db in sims:
            if sim == name:
                return DataSource(
                    kind=SourceKind.SIMULATION, name=sim, path=str(db), reason=f"--source {wanted}"
                )
        have = ", ".join(s for s, _ in sims) or "none"
        raise ConfigurationError(
            f"--source {wanted}: no simulation {name!r} under {state_dir / SIMULATIONS_DIR}"
            f" (have: {have})"
        )
    if main_has_run(main):
        return DataSource(kind=SourceKind.MAIN, reason="auto: the main account has run cycles")
    if not sims:
        return DataSource(
            kind=SourceKind.MAIN, reason="auto: no cycle and no simulation yet; the main store"
        )
    sim, db = sims[0]
    return DataSource(
        kind=SourceKind.SIMULATION,
        name=sim,
        path=str(db),
        reason="auto: the main account has never run a cycle; the newest simulation",
    )
