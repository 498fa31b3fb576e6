"""Online backups of the SQLite state, with retention (``quorum backup``).

Each backup is a directory ``<dest>/quorum-<UTC stamp>/`` holding:
- ``quorum.db``: the store (journal, orders, fills, kv, documents, audit chain), copied
  with SQLite's online backup API: a consistent snapshot taken while the daemon keeps
  writing (WAL readers never block), then checked with ``PRAGMA integrity_check``;
- ``checkpoints.db``: the LangGraph checkpoints (an interrupted cycle resumes from them);
- ``audit.key`` when the audit key is the state dir's file (without it the restored audit
  chain cannot be verified);
- ``manifest.json``: each file's size, SHA-256 and integrity check.

The directory is written under a ``.partial`` name and renamed when complete, so a
directory named ``quorum-*`` is always a whole backup. Then all but the newest ``keep``
are deleted. Directories are 0700 and files 0600: the journal and the key are private.
With ``storage.kind = "mongo"`` the store is not SQLite: back it up with ``mongodump``;
the checkpoints are still copied here.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import sqlite3
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from pydantic import BaseModel, ConfigDict

from core.errors import ConfigurationError

if TYPE_CHECKING:
    from config.settings import Settings

PREFIX = "quorum-"
MANIFEST = "manifest.json"


class BackedUpFile(BaseModel):
    model_config = ConfigDict(frozen=True)

    name: str
    source: str
    bytes: int
    sha256: str
    integrity: str  # "ok", or "n/a" for a plain file


class BackupResult(BaseModel):
    model_config = ConfigDict(frozen=True)

    path: str
    created: str
    files: list[BackedUpFile]
    removed: list[str]  # older backups deleted by the retention
    notes: list[str]


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def copy_database(source: Path, target: Path) -> str:
    """Online copy of one SQLite database; returns its integrity check ("ok")."""
    src = sqlite3.connect(f"file:{source}?mode=ro", uri=True, timeout=30.0)
    dst = sqlite3.connect(target)
    try:
        src.backup(dst)  # one step: a consistent snapshot of the source
        integrity = str(dst.execute("PRAGMA integrity_check").fetchone()[0])
    except sqlite3.DatabaseError as exc:
        raise ConfigurationError(f"{source}: cannot back up: {exc}") from None
    finally:
        dst.close()
        src.close()
    if integrity != "ok":
        raise ConfigurationError(f"{source}: the copy fails its integrity check: {integrity}")
    return integrity


def sources(settings: Settings) -> tuple[list[tuple[str, Path]], list[str]]:
    """The databases and files to back up (name in the backup, path), and notes."""
    from workflows.checkpointer import CHECKPOINTS_FILE

    found: list[tuple[str, Path]] = []
    notes: list[str] = []
    if settings.storage.kind == "sqlite":
        found.append(("quorum.db", settings.sqlite_file))
    else:
        notes.append("storage.kind = mongo: back the store up with mongodump")
    found.append((CHECKPOINTS_FILE, settings.state_dir / CHECKPOINTS_FILE))
    if settings.secrets.audit_key is None:
        found.append(("audit.key", settings.state_dir / "audit.key"))
    present = [(name, path) for name, path in found if path.is_file()]
    notes += [f"{path}: not there yet, skipped" for name, path in found if not path.is_file()]
    return present, notes


def backups_in(dest: Path) -> list[Path]:
    """Complete backups in ``dest``, oldest first (stamps sort as text)."""
    if not dest.is_dir():
        return []
    return sorted(p for p in dest.iterdir() if p.is_dir() and p.name.startswith(PREFIX))


def backup(settings: Settings, dest: Path, keep: int, now: datetime | None = None) -> BackupResult:
    if keep < 1:
        raise ConfigurationError(f"--keep must be at least 1, not {keep}")
    files, notes = sources(settings)
    if not any(name.endswith(".db") for name, _ in files):
        raise ConfigurationError(f"nothing to back up in {settings.state_dir} (no database yet)")
    when = (now or datetime.now(UTC)).astimezone(UTC)
    stamp = when.strftime("%Y%m%dT%H%M%SZ")
    dest.mkdir(parents=True, exist_ok=True, mode=0o700)
    final = dest / f"{PREFIX}{stamp}"
    if final.exists():
        raise ConfigurationError(f"{final} already exists (two backups in one second?)")
    partial = dest / f".{PREFIX}{stamp}.partial"
    shutil.rmtree(partial, ignore_errors=True)
    partial.mkdir(mode=0o700)
    done: list[BackedUpFile] = []
    try:
        for name, path in files:
            target = partial / name
            if name.endswith(".db"):
                integrity = copy_database(path, target)
            else:
                shutil.copyfile(path, target)
                integrity = "n/a"
            os.chmod(target, 0o600)
            done.append(
                BackedUpFile(
                    name=name,
                    source=str(path),
                    bytes=target.stat().st_size,
                    sha256=_sha256(target),
                    integrity=integrity,
                )
            )
        manifest = {
            "created": when.isoformat(),
            "state_dir": str(settings.state_dir),
            "files": [f.model_dump() for f in done],
        }
        (partial / MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n")
        os.chmod(partial / MANIFEST, 0o600)
        partial.rename(final)
    except BaseException:
        shutil.rmtree(partial, ignore_errors=True)
        raise
    removed: list[str] = []
    for old in backups_in(dest)[:-keep]:
        shutil.rmtree(old)
        removed.append(str(old))
    return BackupResult(
        path=str(final), created=when.isoformat(), files=done, removed=removed, notes=notes
    )
