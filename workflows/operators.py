"""Operators, roles, one-time passwords and API tokens, kept in the store.

- ``operators`` documents (key: the operator's name) hold the role, the Slack / Discord
  user ids the operator is known by, and the TOTP shared secret. The secret has to be
  stored retrievable, not hashed: a TOTP code is an HMAC of the current time step keyed by
  that secret, so checking a code means recomputing it from the secret. It is never put
  on ``Operator``, never logged (it is registered with the log redactor) and never audited.
- ``operator_tokens`` documents (key: the SHA-256 of the token) map an API token to its
  operator. The token itself is shown once when issued and never stored.
- ``operator.totp.<name>`` (key-value, with history) records failed codes and the lockout;
  ``operator.totp_used.<name>`` records each accepted time step. Both survive a restart.
  A code is accepted once: its step is claimed by appending it, and a claim whose step is
  not above every earlier claim (another process got there first) is refused as a reuse.

Every change is a record in the audit chain (who did it, what, never a secret).
"""

from __future__ import annotations

import builtins
import hashlib
import re
import secrets
import threading
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any

import pyotp
from pydantic import BaseModel, ConfigDict

from config.logging import register_secrets
from core.audit import AuditLog
from core.errors import QuorumError
from core.ports import Store

OPERATORS = "operators"  # document collection, key: operator name
TOKENS = "operator_tokens"  # document collection, key: sha256(token)
TOTP_STATE_KEY = "operator.totp.{name}"
TOTP_USED_KEY = "operator.totp_used.{name}"
TOKEN_PREFIX = "qrm_"  # noqa: S105 - a marker for secret scanners, not a secret
TOTP_VALID_WINDOW = 1  # one 30 s step either side: clocks drift, people type slowly
NAME_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.@-]{0,63}$")

Clock = Callable[[], datetime]


def utc_now() -> datetime:
    return datetime.now(UTC)


class Platform(StrEnum):
    CLI = "cli"
    CONSOLE = "console"
    SLACK = "slack"
    DISCORD = "discord"
    API = "api"


class Role(StrEnum):
    VIEWER = "viewer"
    TRADER = "trader"
    ADMIN = "admin"

    @property
    def rank(self) -> int:
        return _RANK[self]

    def allows(self, needed: Role) -> bool:
        return self.rank >= needed.rank


_RANK = {Role.VIEWER: 0, Role.TRADER: 1, Role.ADMIN: 2}


class OperatorRefusal(StrEnum):
    INVALID_NAME = "INVALID_NAME"
    DUPLICATE_OPERATOR = "DUPLICATE_OPERATOR"
    DUPLICATE_PLATFORM_ID = "DUPLICATE_PLATFORM_ID"
    UNKNOWN_OPERATOR = "UNKNOWN_OPERATOR"


class OperatorError(QuorumError):
    """A registry change broke a rule: ``code`` names it, the message gives the context."""

    def __init__(self, code: OperatorRefusal, message: str) -> None:
        super().__init__(f"{code.value}: {message}")
        self.code = code


class TotpOutcome(StrEnum):
    OK = "ok"
    REQUIRED = "required"  # no code given
    INVALID = "invalid"  # wrong code (counted)
    REUSED = "reused"  # a code (time step) already used
    LOCKED = "locked"  # too many wrong codes: wait until ``locked_until``


class TotpCheck(BaseModel):
    model_config = ConfigDict(frozen=True)

    outcome: TotpOutcome
    failures: int = 0
    remaining: int = 0  # wrong codes left before the lockout
    locked_until: datetime | None = None

    @property
    def ok(self) -> bool:
        return self.outcome is TotpOutcome.OK


class Operator(BaseModel):
    """An operator as everyone may see it: no secret here."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str
    role: Role
    slack_id: str | None = None
    discord_id: str | None = None
    created_at: datetime
    created_by: str
    totp_rotated_at: datetime | None = None

    def platform_ids(self) -> dict[str, str]:
        ids = {"slack": self.slack_id, "discord": self.discord_id}
        return {k: v for k, v in ids.items() if v}


class Enrolment(BaseModel):
    """What enrolment (or a TOTP rotation) hands back once: the secret and its URI."""

    model_config = ConfigDict(frozen=True)

    operator: Operator
    secret: str
    uri: str


def matching_step(secret: str, code: str, when: datetime) -> int | None:
    """The time step ``code`` is valid for at ``when`` (one step of drift either way),
    or None. The step, not the code, is what replay protection remembers."""
    totp = pyotp.TOTP(secret)
    if not (code.isdigit() and len(code) == totp.digits):
        return None
    if not totp.verify(code, for_time=when, valid_window=TOTP_VALID_WINDOW):
        return None
    now_step = totp.timecode(when)
    for offset in range(-TOTP_VALID_WINDOW, TOTP_VALID_WINDOW + 1):
        if pyotp.utils.strings_equal(code, totp.at(when, counter_offset=offset)):
            return now_step + offset
    return None  # pragma: no cover - verify() said one of them matched


def _hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


class OperatorRegistry:
    """Store-backed operators. ``actor`` on every change is who made it (audited)."""

    def __init__(
        self,
        store: Store,
        audit: AuditLog,
        *,
        issuer: str = "Quorum",
        max_failed_totp: int = 5,
        lockout_minutes: int = 15,
        clock: Clock | None = None,
    ) -> None:
        self._store = store
        self._audit = audit
        self._issuer = issuer
        self._max_failed = max_failed_totp
        self._lockout = timedelta(minutes=lockout_minutes)
        self._clock = clock or utc_now
        self._lock = threading.Lock()

    # -- reading -------------------------------------------------------------------------
    def _doc(self, name: str) -> dict[str, Any] | None:
        doc = self._store.get_document(OPERATORS, name)
        return None if doc is None or doc.get("removed") else doc

    @staticmethod
    def _operator(doc: dict[str, Any]) -> Operator:
        fields = {k: doc.get(k) for k in Operator.model_fields}
        return Operator.model_validate(fields)

    def get(self, name: str) -> Operator | None:
        doc = self._doc(name)
        return None if doc is None else self._operator(doc)

    def list(self) -> builtins.list[Operator]:
        docs = [d for d in self._store.documents(OPERATORS) if not d.get("removed")]
        return sorted((self._operator(d) for d in docs), key=lambda o: o.name)

    def by_platform(self, platform: Platform, user_id: str) -> Operator | None:
        """The operator a platform user is: by name for cli / console / api (the API
        resolves its token to a name first), by the enrolled id for Slack and Discord."""
        if not user_id:
            return None
        if platform in (Platform.CLI, Platform.CONSOLE, Platform.API):
            return self.get(user_id)
        field = {Platform.SLACK: "slack_id", Platform.DISCORD: "discord_id"}[platform]
        for op in self.list():
            if getattr(op, field) == user_id:
                return op
        return None

    def require(self, name: str) -> Operator:
        """The operator, or ``OperatorError`` UNKNOWN_OPERATOR."""
        return self._operator(self._require(name))

    def _require(self, name: str) -> dict[str, Any]:
        doc = self._doc(name)
        if doc is None:
            raise OperatorError(OperatorRefusal.UNKNOWN_OPERATOR, f"name={name}")
        return doc

    # -- changes -------------------------------------------------------------------------
    def _new_secret(self, name: str) -> tuple[str, str]:
        secret = pyotp.random_base32()
        register_secrets([secret])
        uri = pyotp.TOTP(secret).provisioning_uri(name=name, issuer_name=self._issuer)
        return secret, uri

    def _check_ids(self, name: str, slack_id: str | None, discord_id: str | None) -> None:
        for op in self.list():
            if op.name == name:
                continue
            for platform, mine, theirs in (
                ("slack", slack_id, op.slack_id),
                ("discord", discord_id, op.discord_id),
            ):
                if mine and mine == theirs:
                    raise OperatorError(
                        OperatorRefusal.DUPLICATE_PLATFORM_ID,
                        f"platform={platform} id={mine} already belongs to operator={op.name}",
                    )

    def enrol(
        self,
        name: str,
        role: Role,
        *,
        actor: str,
        slack_id: str | None = None,
        discord_id: str | None = None,
    ) -> Enrolment:
        if not NAME_PATTERN.match(name):
            raise OperatorError(
                OperatorRefusal.INVALID_NAME,
                f"name={name!r} rule=letters, digits and _ . @ - (at most 64, no leading symbol)",
            )
        slack_id, discord_id = slack_id or None, discord_id or None
        with self._lock:
            if self._doc(name) is not None:
                raise OperatorError(OperatorRefusal.DUPLICATE_OPERATOR, f"name={name}")
            self._check_ids(name, slack_id, discord_id)
            secret, uri = self._new_secret(name)
            now = self._clock()
            operator = Operator(
                name=name,
                role=role,
                slack_id=slack_id,
                discord_id=discord_id,
                created_at=now,
                created_by=actor,
                totp_rotated_at=now,
            )
            doc = {**operator.model_dump(mode="json"), "totp_secret": secret, "removed": False}
            self._store.put_document(OPERATORS, name, doc)
            self._clear_totp_state(name, actor)
        self._audit.append(actor, "operator:enrol", self._public(operator))
        return Enrolment(operator=operator, secret=secret, uri=uri)

    @staticmethod
    def _public(operator: Operator) -> dict[str, Any]:
        return {"name": operator.name, "role": operator.role.value, **operator.platform_ids()}

    def remove(self, name: str, *, actor: str) -> Operator:
        """Forget an operator: the TOTP secret is erased and every token revoked."""
        with self._lock:
            doc = self._require(name)
            operator = self._operator(doc)
            removed_at = self._clock().isoformat()
            tombstone = {**doc, "totp_secret": "", "removed": True, "removed_at": removed_at}
            self._store.put_document(OPERATORS, name, tombstone)
        revoked = self.revoke_tokens(name, actor=actor)
        self._audit.append(actor, "operator:remove", {**self._public(operator), "tokens": revoked})
        return operator

    def rotate_totp(self, name: str, *, actor: str) -> Enrolment:
        """A new TOTP secret (the old one stops working at once); clears a lockout."""
        with self._lock:
            doc = self._require(name)
            secret, uri = self._new_secret(name)
            now = self._clock()
            doc = {**doc, "totp_secret": secret, "totp_rotated_at": now.isoformat()}
            self._store.put_document(OPERATORS, name, doc)
            self._clear_totp_state(name, actor)
        operator = self._operator(doc)
        self._audit.append(actor, "operator:rotate_totp", self._public(operator))
        return Enrolment(operator=operator, secret=secret, uri=uri)

    # -- one-time passwords --------------------------------------------------------------
    def _totp_state(self, name: str) -> dict[str, Any]:
        raw = self._store.kv_get(TOTP_STATE_KEY.format(name=name))
        return dict(raw) if isinstance(raw, dict) else {"failures": 0, "locked_until": None}

    def _clear_totp_state(self, name: str, actor: str) -> None:
        state = self._totp_state(name)
        if state.get("failures") or state.get("locked_until"):
            self._store.kv_set(
                TOTP_STATE_KEY.format(name=name), {"failures": 0, "locked_until": None}, actor
            )

    def locked_until(self, name: str) -> datetime | None:
        """When the operator's lockout ends, or None if not locked now."""
        raw = self._totp_state(name).get("locked_until")
        until = datetime.fromisoformat(raw) if raw else None
        return until if until is not None and self._clock() < until else None

    def _claim_step(self, name: str, step: int) -> bool:
        """Append ``step`` to the used steps; True if it is above every earlier claim."""
        key = TOTP_USED_KEY.format(name=name)
        entry = self._store.kv_set(key, {"step": step}, actor=name)
        earlier = [e for e in self._store.kv_history(key) if e.version < entry.version]
        return all(int(e.value["step"]) < step for e in earlier)

    def verify_totp(self, name: str, code: str | None) -> TotpCheck:
        """Check ``code`` for operator ``name`` now (the injected clock). A wrong code
        counts towards the lockout; a missing or reused code, or one sent while locked,
        does not (it is refused without being checked)."""
        with self._lock:
            doc = self._require(name)
            now = self._clock()
            state = self._totp_state(name)
            until = datetime.fromisoformat(state["locked_until"]) if state["locked_until"] else None
            if until is not None and now < until:
                return TotpCheck(
                    outcome=TotpOutcome.LOCKED, failures=state["failures"], locked_until=until
                )
            failures = 0 if until is not None else int(state["failures"])  # lockout served
            if not code:
                return TotpCheck(
                    outcome=TotpOutcome.REQUIRED,
                    failures=failures,
                    remaining=self._max_failed - failures,
                )
            register_secrets([doc["totp_secret"]])  # loaded from the store: never log it
            step = matching_step(doc["totp_secret"], code, now)
            if step is None:
                return self._failed(name, failures + 1, now)
            used = self._store.kv_get(TOTP_USED_KEY.format(name=name))
            if (used and int(used["step"]) >= step) or not self._claim_step(name, step):
                return TotpCheck(outcome=TotpOutcome.REUSED, failures=failures)
            if state["failures"] or state["locked_until"]:
                self._clear_totp_state(name, name)
            return TotpCheck(outcome=TotpOutcome.OK, remaining=self._max_failed)

    def _failed(self, name: str, failures: int, now: datetime) -> TotpCheck:
        locked = failures >= self._max_failed
        until = now + self._lockout if locked else None
        state = {"failures": failures, "locked_until": until.isoformat() if until else None}
        self._store.kv_set(TOTP_STATE_KEY.format(name=name), state, actor=name)
        if locked:
            self._audit.append(
                "system",
                "operator:locked",
                {"name": name, "failures": failures, "locked_until": state["locked_until"]},
            )
        return TotpCheck(
            outcome=TotpOutcome.LOCKED if locked else TotpOutcome.INVALID,
            failures=failures,
            remaining=max(self._max_failed - failures, 0),
            locked_until=until,
        )

    # -- API tokens ----------------------------------------------------------------------
    def issue_token(self, name: str, *, actor: str | None = None) -> str:
        """A new API token for ``name``, returned once; only its SHA-256 is stored. The
        operator's earlier tokens are revoked: one live token per operator."""
        self._require(name)
        self.revoke_tokens(name, actor=actor or name)
        token = TOKEN_PREFIX + secrets.token_urlsafe(32)
        register_secrets([token])
        digest = _hash_token(token)
        doc = {
            "hash": digest,  # the document key too: documents() returns bodies only
            "name": name,
            "created_at": self._clock().isoformat(),
            "revoked_at": None,
        }
        self._store.put_document(TOKENS, digest, doc)
        self._audit.append(actor or name, "operator:token_issue", {"name": name})
        return token

    def resolve_token(self, token: str) -> Operator | None:
        """The operator a live token belongs to; None for an unknown or revoked token,
        or one whose operator was removed."""
        if not token or not token.startswith(TOKEN_PREFIX):
            return None
        doc = self._store.get_document(TOKENS, _hash_token(token))
        if doc is None or doc.get("revoked_at"):
            return None
        register_secrets([token])  # a live token: keep it out of every log line
        return self.get(str(doc["name"]))

    def revoke_tokens(self, name: str, *, actor: str) -> int:
        """Revoke every live token of ``name``; returns how many."""
        revoked = 0
        when = self._clock().isoformat()
        for doc in self._store.documents(TOKENS):
            if doc.get("name") == name and not doc.get("revoked_at"):
                self._store.put_document(TOKENS, doc["hash"], {**doc, "revoked_at": when})
                revoked += 1
        if revoked:
            self._audit.append(actor, "operator:token_revoke", {"name": name, "tokens": revoked})
        return revoked
