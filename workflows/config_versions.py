"""Versioned configuration in the store: the ``ConfigDesk`` port.

Every proposable key (``workflows/config_keys.py``) has its value in a numbered
``ConfigVersion`` (documents ``config_versions``), with the diff against the version it
came from, its author, approver, evidence and time. One version is active (kv
``config.active``, whose history is the activation log). A cycle reads the active
version when it opens and records its number; ``cycle replay`` uses the recorded one.

- Version 1 is made from the settings the first time anything asks.
- When the settings' own values change later (someone edited ``quorum.toml`` or the
  environment), the change is recorded as a new version by ``settings`` (only the keys
  whose settings value changed; the settings validation already enforced the caps), so
  the history never silently disagrees with the files. Unchanged settings leave the
  active version alone: an approval or a rollback stands.
- A rollback makes an older version active again (no new version; the activation log and
  the audit chain say who, when and why).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any

from core.audit import AuditLog
from core.orders import utcnow
from core.ports import Store
from core.proposals import ConfigVersion, ProposalRefusal, ProposalRefusedError

VERSIONS = "config_versions"
ACTIVE_KEY = "config.active"
BASELINE_KEY = "config.settings_baseline"
SETTINGS_AUTHOR = "settings"


def _key(number: int) -> str:
    return f"{number:08d}"


def diff_values(old: Mapping[str, Any], new: Mapping[str, Any]) -> dict[str, list[Any]]:
    """key → [old, new] for every key whose value differs (``None`` where absent)."""
    keys = sorted(set(old) | set(new))
    return {k: [old.get(k), new.get(k)] for k in keys if old.get(k) != new.get(k)}


class ConfigVersions:
    """The configuration history of one store. ``baseline`` is every proposable key's
    value from the settings (``config_keys.settings_values``): version 1, and what later
    settings edits are compared against. It may be given as a function, called the first
    time it is needed (reading the history of a store that has one never needs it)."""

    def __init__(
        self,
        store: Store,
        audit: AuditLog | None = None,
        baseline: Mapping[str, Any] | Callable[[], Mapping[str, Any]] | None = None,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self._store = store
        self._audit = audit
        self._baseline_source = baseline
        self._baseline_values: dict[str, Any] | None = None
        self._clock = clock

    @property
    def _baseline(self) -> dict[str, Any] | None:
        source = self._baseline_source
        if source is None:
            return None
        if self._baseline_values is None:
            self._baseline_values = dict(source() if callable(source) else source)
        return self._baseline_values

    # -- reading ---------------------------------------------------------------------
    def _raw(self) -> list[dict[str, Any]]:
        docs = [d for d in self._store.documents(VERSIONS) if "version" in d]
        if not docs and self._baseline is not None:
            docs = [self._first().model_dump(mode="json")]
        return sorted(docs, key=lambda d: int(d["version"]))

    def _active_number(self, docs: list[dict[str, Any]]) -> int:
        raw = self._store.kv_get(ACTIVE_KEY)
        if isinstance(raw, dict) and raw.get("version"):
            return int(raw["version"])
        return int(docs[-1]["version"]) if docs else 0

    def history(self) -> list[ConfigVersion]:
        docs = self._raw()
        active = self._active_number(docs)
        return [
            ConfigVersion.model_validate({**d, "active": int(d["version"]) == active}) for d in docs
        ]

    def version(self, number: int | None = None) -> ConfigVersion:
        versions = self.history()
        if not versions:
            raise ProposalRefusedError(
                ProposalRefusal.UNKNOWN_VERSION, "no configuration version yet (run a cycle)"
            )
        for v in versions:
            if (number is None and v.active) or v.version == number:
                return v
        raise ProposalRefusedError(
            ProposalRefusal.UNKNOWN_VERSION,
            f"version={number} known=1..{versions[-1].version}",
        )

    def diff(self, a: int, b: int) -> dict[str, list[Any]]:
        return diff_values(self.version(a).values, self.version(b).values)

    def activations(self) -> list[dict[str, Any]]:
        """Every activation, oldest first: version, actor, reason, time."""
        return [
            {**e.value, "actor": e.actor, "ts": e.ts.isoformat()}
            for e in self._store.kv_history(ACTIVE_KEY)
            if isinstance(e.value, dict)
        ]

    def for_proposal(self, proposal_id: str) -> ConfigVersion | None:
        return next((v for v in self.history() if v.proposal_id == proposal_id), None)

    # -- writing ---------------------------------------------------------------------
    def _first(self) -> ConfigVersion:
        assert self._baseline is not None
        first = ConfigVersion(
            version=1,
            values=self._baseline,
            author=SETTINGS_AUTHOR,
            reason="initial configuration, from the settings",
            created_at=self._clock(),
        )
        self._store.put_document(VERSIONS, _key(1), first.model_dump(mode="json"))
        self._store.kv_set(BASELINE_KEY, self._baseline, actor=SETTINGS_AUTHOR)
        self._activate(1, SETTINGS_AUTHOR, first.reason)
        return first.model_copy(update={"active": True})

    def _activate(self, number: int, actor: str, reason: str) -> None:
        self._store.kv_set(ACTIVE_KEY, {"version": number, "reason": reason}, actor=actor)

    def _record(self, action: str, actor: str, data: dict[str, Any]) -> None:
        if self._audit is not None:
            self._audit.append(actor, action, data)

    def create(
        self,
        values: Mapping[str, Any],
        author: str,
        reason: str,
        *,
        approver: str | None = None,
        proposal_id: str | None = None,
        evidence: dict[str, Any] | None = None,
    ) -> ConfigVersion:
        """A new version with ``values``, made active; its diff is against the version
        active until now. Idempotent per proposal: applying one twice (a resumed review)
        returns the version it made the first time."""
        if proposal_id is not None:
            made = self.for_proposal(proposal_id)
            if made is not None:
                return made
        current = self.version()
        number = self.history()[-1].version + 1
        made = ConfigVersion(
            version=number,
            values=dict(values),
            diff=diff_values(current.values, values),
            author=author,
            approver=approver,
            reason=reason,
            proposal_id=proposal_id,
            evidence=evidence,
            created_at=self._clock(),
        )
        self._store.put_document(VERSIONS, _key(number), made.model_dump(mode="json"))
        self._activate(number, approver or author, reason)
        self._record(
            "config:version",
            approver or author,
            {"version": number, "from": current.version, "diff": made.diff,
             "proposal_id": proposal_id, "author": author, "reason": reason},
        )  # fmt: skip
        return made.model_copy(update={"active": True})

    def rollback(self, number: int, reason: str, actor: str) -> ConfigVersion:
        target = self.version(number)
        current = self.version()
        if target.version == current.version:
            raise ProposalRefusedError(
                ProposalRefusal.NO_CHANGE, f"version={number} rule=already the active version"
            )
        if not reason.strip():
            raise ProposalRefusedError(
                ProposalRefusal.INVALID_VALUE, "reason=<empty> rule=say why (kept in the audit)"
            )
        self._activate(number, actor, f"rollback: {reason}")
        self._record(
            "config:rollback",
            actor,
            {"from": current.version, "to": number, "reason": reason,
             "diff": diff_values(current.values, target.values)},
        )  # fmt: skip
        return target.model_copy(update={"active": True})

    def ensure(self) -> ConfigVersion:
        """The active version for a cycle about to open, after recording any change of
        the settings' own values since they were last seen (see the module docstring)."""
        active = self.version()
        if self._baseline is None:
            return active
        seen = self._store.kv_get(BASELINE_KEY)
        seen = seen if isinstance(seen, dict) else {}
        edited = {
            k: v for k, v in self._baseline.items() if k not in seen or seen[k] != v
        }  # keys new in this release count as edited: they get their default
        if not edited:
            return active
        self._store.kv_set(BASELINE_KEY, self._baseline, actor=SETTINGS_AUTHOR)
        values = {**active.values, **edited}
        if values == active.values:
            return active
        keys = ", ".join(sorted(k for k in edited if active.values.get(k) != edited[k]))
        return self.create(values, SETTINGS_AUTHOR, f"settings changed outside review: {keys}")

    def values(self, number: int | None = None) -> dict[str, Any]:
        """The values of version ``number`` (default: active), with any key this release
        knows and the version predates filled in from the settings."""
        stored = self.version(number).values
        return {**(self._baseline or {}), **stored}
