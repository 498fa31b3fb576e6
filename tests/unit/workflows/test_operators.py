"""The operator registry on a real SQLite store: enrolment, platform ids, TOTP (window,
replay, lockout that survives a restart), API tokens, and no secret in the audit."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from adapters.storage.sqlite import SqliteStore
from core.audit import AuditLog
from tests.unit.workflows.operator_kit import Clock, audit_text, code, wrong_code
from workflows.operators import (
    OperatorError,
    OperatorRefusal,
    OperatorRegistry,
    Platform,
    Role,
    TotpOutcome,
)

KEY = b"k" * 32


def _registry(path: Path, clock: Clock, **kw: int) -> tuple[OperatorRegistry, SqliteStore]:
    store = SqliteStore(path)
    return OperatorRegistry(store, AuditLog(store, KEY), clock=clock, **kw), store  # type: ignore[arg-type]


@pytest.fixture
def clock() -> Clock:
    return Clock()


def test_enrol_when_new_then_listed_with_uri_and_audited_without_secret(
    tmp_path: Path, clock: Clock
) -> None:
    reg, store = _registry(tmp_path / "q.db", clock)
    e = reg.enrol("alice", Role.ADMIN, actor="cli:root", slack_id="U1", discord_id="42")
    assert e.uri.startswith("otpauth://totp/Quorum:alice?secret=" + e.secret)
    assert [o.name for o in reg.list()] == ["alice"]
    assert reg.by_platform(Platform.SLACK, "U1") == e.operator
    assert reg.by_platform(Platform.DISCORD, "42") == e.operator
    assert reg.by_platform(Platform.CONSOLE, "alice") == e.operator
    assert reg.by_platform(Platform.SLACK, "alice") is None  # a name is not a Slack id
    [rec] = store.audit_records()
    assert (rec.actor, rec.action) == ("cli:root", "operator:enrol")
    assert rec.data == {"name": "alice", "role": "admin", "slack": "U1", "discord": "42"}
    assert e.secret not in audit_text(store)
    assert "totp_secret" not in e.operator.model_dump()


@pytest.mark.parametrize(
    ("name", "refusal"),
    [("-bad", OperatorRefusal.INVALID_NAME), ("a b", OperatorRefusal.INVALID_NAME)],
)
def test_enrol_when_name_invalid_then_refused_and_nothing_stored(
    tmp_path: Path, clock: Clock, name: str, refusal: OperatorRefusal
) -> None:
    reg, store = _registry(tmp_path / "q.db", clock)
    with pytest.raises(OperatorError) as err:
        reg.enrol(name, Role.VIEWER, actor="t")
    assert err.value.code is refusal
    assert reg.list() == [] and store.audit_records() == []


def test_enrol_when_name_or_platform_id_taken_then_refused(tmp_path: Path, clock: Clock) -> None:
    reg, _ = _registry(tmp_path / "q.db", clock)
    reg.enrol("alice", Role.ADMIN, actor="t", slack_id="U1")
    with pytest.raises(OperatorError) as dup:
        reg.enrol("alice", Role.VIEWER, actor="t")
    assert dup.value.code is OperatorRefusal.DUPLICATE_OPERATOR
    with pytest.raises(OperatorError) as taken:
        reg.enrol("bob", Role.VIEWER, actor="t", slack_id="U1")
    assert taken.value.code is OperatorRefusal.DUPLICATE_PLATFORM_ID
    assert "operator=alice" in str(taken.value)
    assert [o.name for o in reg.list()] == ["alice"]


def test_remove_when_enrolled_then_gone_secret_erased_and_can_enrol_again(
    tmp_path: Path, clock: Clock
) -> None:
    reg, store = _registry(tmp_path / "q.db", clock)
    secret = reg.enrol("alice", Role.ADMIN, actor="t").secret
    token = reg.issue_token("alice")
    reg.remove("alice", actor="cli:root")
    assert reg.get("alice") is None and reg.list() == []
    assert reg.resolve_token(token) is None
    assert secret not in str(store.get_document("operators", "alice"))
    with pytest.raises(OperatorError) as err:
        reg.remove("alice", actor="t")
    assert err.value.code is OperatorRefusal.UNKNOWN_OPERATOR
    assert reg.enrol("alice", Role.VIEWER, actor="t").operator.role is Role.VIEWER


def test_verify_when_code_fresh_then_ok_once_and_reuse_refused(
    tmp_path: Path, clock: Clock
) -> None:
    reg, _ = _registry(tmp_path / "q.db", clock)
    secret = reg.enrol("alice", Role.ADMIN, actor="t").secret
    now = code(secret, clock)
    assert reg.verify_totp("alice", now).outcome is TotpOutcome.OK
    assert reg.verify_totp("alice", now).outcome is TotpOutcome.REUSED
    # the previous step's code is older than the one used: also a replay
    assert reg.verify_totp("alice", code(secret, clock, -1)).outcome is TotpOutcome.REUSED
    clock.advance(seconds=30)
    assert reg.verify_totp("alice", code(secret, clock)).outcome is TotpOutcome.OK


def test_verify_when_code_one_step_off_then_ok_two_steps_off_then_invalid(
    tmp_path: Path, clock: Clock
) -> None:
    reg, _ = _registry(tmp_path / "q.db", clock)
    secret = reg.enrol("alice", Role.ADMIN, actor="t").secret
    assert reg.verify_totp("alice", code(secret, clock, -2)).outcome is TotpOutcome.INVALID
    assert reg.verify_totp("alice", code(secret, clock, -1)).outcome is TotpOutcome.OK
    assert reg.verify_totp("alice", code(secret, clock, +1)).outcome is TotpOutcome.OK


@pytest.mark.parametrize("bad", ["", None])
def test_verify_when_no_code_then_required_and_not_counted(
    tmp_path: Path, clock: Clock, bad: str | None
) -> None:
    reg, _ = _registry(tmp_path / "q.db", clock)
    reg.enrol("alice", Role.ADMIN, actor="t")
    for _ in range(6):
        check = reg.verify_totp("alice", bad)
        assert check.outcome is TotpOutcome.REQUIRED and check.failures == 0


def test_verify_when_five_wrong_codes_then_locked_across_restart_until_window_passes(
    tmp_path: Path, clock: Clock
) -> None:
    reg, store = _registry(tmp_path / "q.db", clock)
    secret = reg.enrol("alice", Role.ADMIN, actor="t").secret
    wrong = wrong_code(code(secret, clock))
    results = [reg.verify_totp("alice", wrong) for _ in range(5)]
    assert [r.outcome for r in results[:4]] == [TotpOutcome.INVALID] * 4
    assert [r.remaining for r in results[:4]] == [4, 3, 2, 1]
    assert results[4].outcome is TotpOutcome.LOCKED
    assert results[4].locked_until == clock.now + timedelta(minutes=15)
    assert "operator:locked" in [r.action for r in store.audit_records()]
    # a restart (new registry, same file) keeps the lockout; the right code is refused
    again, _ = _registry(tmp_path / "q.db", clock)
    assert again.verify_totp("alice", code(secret, clock)).outcome is TotpOutcome.LOCKED
    clock.advance(minutes=14, seconds=59)
    assert again.verify_totp("alice", code(secret, clock)).outcome is TotpOutcome.LOCKED
    clock.advance(seconds=2)
    assert again.locked_until("alice") is None
    assert again.verify_totp("alice", code(secret, clock)).outcome is TotpOutcome.OK
    clock.advance(seconds=30)
    after = again.verify_totp("alice", wrong)  # the count started over
    assert after.outcome is TotpOutcome.INVALID and after.remaining == 4


def test_verify_when_lockout_settings_small_then_they_apply(tmp_path: Path, clock: Clock) -> None:
    reg, _ = _registry(tmp_path / "q.db", clock, max_failed_totp=2, lockout_minutes=1)
    reg.enrol("alice", Role.ADMIN, actor="t")
    assert reg.verify_totp("alice", "12345x").outcome is TotpOutcome.INVALID
    locked = reg.verify_totp("alice", "1234567")
    assert locked.outcome is TotpOutcome.LOCKED
    assert locked.locked_until is not None and (locked.locked_until - clock.now).seconds == 60


def test_verify_when_another_process_claimed_the_step_first_then_reused(
    tmp_path: Path, clock: Clock
) -> None:
    one, _ = _registry(tmp_path / "q.db", clock)
    secret = one.enrol("alice", Role.ADMIN, actor="t").secret
    two, _ = _registry(tmp_path / "q.db", clock)  # a second process on the same store
    c = code(secret, clock)
    outcomes = {one.verify_totp("alice", c).outcome, two.verify_totp("alice", c).outcome}
    assert outcomes == {TotpOutcome.OK, TotpOutcome.REUSED}


def test_rotate_totp_when_rotated_then_old_secret_fails_and_lockout_cleared(
    tmp_path: Path, clock: Clock
) -> None:
    reg, store = _registry(tmp_path / "q.db", clock, max_failed_totp=1)
    old = reg.enrol("alice", Role.ADMIN, actor="t").secret
    assert reg.verify_totp("alice", "000001").outcome is TotpOutcome.LOCKED
    new = reg.rotate_totp("alice", actor="cli:root").secret
    assert new != old
    assert reg.locked_until("alice") is None
    stale = code(old, clock)
    assert stale != code(new, clock)
    assert reg.verify_totp("alice", code(new, clock)).outcome is TotpOutcome.OK
    text = audit_text(store)
    assert old not in text and new not in text
    assert "operator:rotate_totp" in text


def test_token_when_issued_then_resolves_hash_only_stored_and_reissue_revokes_old(
    tmp_path: Path, clock: Clock
) -> None:
    reg, store = _registry(tmp_path / "q.db", clock)
    reg.enrol("alice", Role.TRADER, actor="t")
    first = reg.issue_token("alice", actor="cli:root")
    assert reg.resolve_token(first).name == "alice"  # type: ignore[union-attr]
    stored = str(store.documents("operator_tokens"))
    assert first not in stored and first not in audit_text(store)
    second = reg.issue_token("alice")
    assert reg.resolve_token(first) is None
    assert reg.resolve_token(second).name == "alice"  # type: ignore[union-attr]
    assert reg.revoke_tokens("alice", actor="t") == 1
    assert reg.resolve_token(second) is None
    assert reg.resolve_token("") is None and reg.resolve_token("qrm_nope") is None


def test_token_when_operator_unknown_then_refused(tmp_path: Path, clock: Clock) -> None:
    reg, store = _registry(tmp_path / "q.db", clock)
    with pytest.raises(OperatorError) as err:
        reg.issue_token("ghost")
    assert err.value.code is OperatorRefusal.UNKNOWN_OPERATOR
    assert store.documents("operator_tokens") == []
