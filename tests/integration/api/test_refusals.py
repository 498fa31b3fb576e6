"""Refusals, each a clear error that changes nothing: tokens missing, wrong or revoked,
a viewer pressing kill, malformed bodies, unknown routes, the dashboard's cookie from
another origin, the rate limit."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.integration.api.kit import SOURCE, LiveServer, Operators, audit_actions
from tests.unit.workflows.operator_kit import Clock
from workflows.operators import Role


def test_request_when_token_missing_then_401_bearer_challenge_and_audited(
    live: tuple[LiveServer, Operators], api: httpx.Client
) -> None:
    r = api.get("/positions")
    assert r.status_code == 401 and r.headers["www-authenticate"].startswith("Bearer")
    assert r.json()["error"]["code"] == "MISSING_TOKEN" and r.json()["source"] == SOURCE
    last = audit_actions(live)[-1]
    assert last[:2] == ("api:anonymous", "api:auth_refused")
    assert last[2]["code"] == "MISSING_TOKEN" and last[2]["path"] == "/api/v1/positions"


def test_request_when_token_wrong_or_revoked_then_401_and_token_never_recorded(
    live: tuple[LiveServer, Operators], api: httpx.Client, caplog: pytest.LogCaptureFixture
) -> None:
    wrong = "qrm_" + "x" * 43
    r = api.get("/status", headers={"Authorization": f"Bearer {wrong}"})
    assert r.status_code == 401 and r.json()["error"]["code"] == "INVALID_TOKEN"
    assert 'error="invalid_token"' in r.headers["www-authenticate"]
    ctx = live[0].ctx
    ctx.service.registry.enrol("gone", Role.ADMIN, actor="test")
    token = ctx.service.registry.issue_token("gone", actor="test")
    assert api.get("/status", headers={"Authorization": f"Bearer {token}"}).status_code == 200
    ctx.service.registry.revoke_tokens("gone", actor="test")
    revoked = api.get("/status", headers={"Authorization": f"Bearer {token}"})
    assert revoked.status_code == 401 and revoked.json()["error"]["code"] == "INVALID_TOKEN"
    scheme = api.get("/status", headers={"Authorization": "Basic dXNlcjpwYXNz"})
    assert scheme.status_code == 401 and scheme.json()["error"]["code"] == "BAD_AUTH_SCHEME"
    recorded = json.dumps(audit_actions(live)) + caplog.text
    assert wrong not in recorded and token not in recorded


def test_kill_when_viewer_presses_it_then_403_state_unchanged_and_audited(
    live: tuple[LiveServer, Operators], api: httpx.Client, ops: Operators
) -> None:
    control = live[0].ctx.service.control
    before = control.status()
    r = api.post("/trading/kill", json={"reason": "panic"}, headers=ops.header("vic"))
    assert r.status_code == 403
    assert r.json()["error"] == {
        "code": "ROLE_FORBIDDEN",
        "message": "ROLE_FORBIDDEN: command=kill role=viewer needs=trader",
        "field": None,
        "outcome": "denied",
    }
    assert control.status() == before and not control.status().kill_switch
    actor, action, data = audit_actions(live)[-1]
    assert (actor, action, data["outcome"], data["code"]) == (
        "vic",
        "command:kill",
        "denied",
        "ROLE_FORBIDDEN",
    )
    assert data["platform"] == "api"


@pytest.mark.parametrize(
    ("content", "status", "code", "field"),
    [
        ('{"reason": ', 400, "MALFORMED_JSON", None),
        ("[1, 2]", 422, "INVALID_BODY", "body"),
        ('{"reason": ""}', 422, "INVALID_BODY", "reason"),
        ('{"reason": "x", "totp": "12ab56"}', 422, "INVALID_BODY", "totp"),
        ('{"reason": "x", "force": true}', 422, "INVALID_BODY", "force"),
    ],
)
def test_halt_when_body_malformed_then_clear_error_and_nothing_changed(
    live: tuple[LiveServer, Operators],
    api: httpx.Client,
    ops: Operators,
    content: str,
    status: int,
    code: str,
    field: str | None,
) -> None:
    control = live[0].ctx.service.control
    before = control.status()
    audited = len(audit_actions(live))
    r = api.post(
        "/trading/halt",
        content=content,
        headers={**ops.header("tom"), "Content-Type": "application/json"},
    )
    assert (r.status_code, r.json()["error"]["code"], r.json()["error"]["field"]) == (
        status,
        code,
        field,
    )
    assert control.status() == before
    assert len(audit_actions(live)) == audited  # the service never saw it


def test_unknown_route_and_action_when_called_then_json_errors(
    api: httpx.Client, ops: Operators
) -> None:
    r = api.get("/nothing-here", headers=ops.header("vic"))
    assert r.status_code == 404 and r.json()["error"]["code"] == "NOT_FOUND"
    bad = api.post("/trading/explode", json={"reason": "x"}, headers=ops.header("tom"))
    assert bad.status_code == 422 and bad.json()["error"]["field"] == "action"


def test_dashboard_login_when_token_good_then_httponly_strict_cookie_and_origin_checked(
    live: tuple[LiveServer, Operators], ops: Operators
) -> None:
    with httpx.Client(base_url=live[0].url, timeout=30) as browser:
        assert "login-form" in browser.get("/").text
        denied = browser.post("/login", json={"token": "qrm_nope"})
        assert denied.status_code == 401 and denied.json()["error"]["code"] == "INVALID_TOKEN"
        r = browser.post("/login", json={"token": ops.tokens["vic"]})
        assert r.status_code == 200 and r.json()["operator"] == "vic"
        cookie = r.headers["set-cookie"].lower()
        assert "httponly" in cookie and "samesite=strict" in cookie
        assert ops.tokens["vic"] not in r.headers["set-cookie"]
        page = browser.get("/")
        assert 'id="equity-chart"' in page.text and 'id="positions-table"' in page.text
        assert SOURCE in page.text
        assert page.headers["content-security-policy"].startswith("default-src 'self'")
        assert not re.search(r'(src|href)="(https?:)?//', page.text)  # nothing from elsewhere
        assert browser.get("/api/v1/whoami").json()["data"]["name"] == "vic"
        foreign = browser.post(
            "/api/v1/trading/halt", json={"reason": "x"}, headers={"Origin": "http://evil.test"}
        )
        assert foreign.status_code == 403 and foreign.json()["error"]["code"] == "CROSS_ORIGIN"
        browser.post("/logout")
        assert browser.get("/api/v1/whoami").status_code == 401


def test_login_form_when_posted_without_script_then_redirect_with_cookie_or_refusal_page(
    live: tuple[LiveServer, Operators], ops: Operators
) -> None:
    with httpx.Client(base_url=live[0].url, timeout=30) as browser:
        bad = browser.post("/login", data={"token": "qrm_nope"})
        assert bad.status_code == 401 and "INVALID_TOKEN" in bad.text and "login-form" in bad.text
        blank = browser.post("/login", data={"token": ""})
        assert blank.status_code == 422 and "field=token" in blank.text
        good = browser.post("/login", data={"token": ops.tokens["vic"]})
        assert good.status_code == 303 and good.headers["location"] == "/"
        assert browser.get("/api/v1/whoami").json()["operator"] == "vic"


def test_requests_when_token_exceeds_its_rate_then_429_with_retry_after(
    sim_dir: Path, tmp_path: Path
) -> None:
    from tests.integration.api.kit import api_settings, live_app

    settings = api_settings(tmp_path / "var", requests_per_minute=3)
    with live_app(settings, Clock(), vic=Role.VIEWER) as (server, ops):
        url = server.url + "/api/v1/whoami"
        codes = [httpx.get(url, headers=ops.header("vic")).status_code for _ in range(4)]
        assert codes == [200, 200, 200, 429]
        limited = httpx.get(url, headers=ops.header("vic"))
        assert limited.json()["error"]["code"] == "RATE_LIMITED"
        assert int(limited.headers["retry-after"]) >= 1
        guesses = [httpx.get(url, headers={"Authorization": "Bearer qrm_guess"}) for _ in range(4)]
        assert [g.status_code for g in guesses] == [401, 401, 401, 429]
        actions = [r.action for r in server.ctx.store.audit_records()]
        assert actions.count("api:rate_limited") == 2  # once per bucket, not per request
        assert actions.count("api:auth_refused") == 3


def test_api_read_when_role_below_the_like_command_then_403_and_audited(
    live: tuple[LiveServer, Operators],
) -> None:
    """The API's own reads take their role from the service's command table: a read gated
    like `kill` (trader) refuses a viewer (no such read exists today: all are viewer)."""
    from starlette.requests import Request

    from adapters.api.auth import Principal, token_key
    from adapters.api.errors import ApiError

    ctx = live[0].ctx
    vic = ctx.service.registry.require("vic")
    who = Principal(operator=vic, key=token_key(live[1].tokens["vic"]), via="bearer")
    scope = {
        "type": "http",
        "method": "GET",
        "path": "/api/v1/x",
        "query_string": b"",
        "headers": [],
    }
    with pytest.raises(ApiError) as refused:
        ctx.read(who, Request(scope), like="kill")
    assert refused.value.status == 403 and refused.value.detail.code == "ROLE_FORBIDDEN"
    assert "needs=trader" in refused.value.detail.message
    actor, action, data = audit_actions(live)[-1]
    assert (actor, action, data["outcome"]) == ("vic", "api:read", "denied")


def test_halt_when_body_not_sent_as_json_then_415_naming_the_type_and_nothing_changed(
    live: tuple[LiveServer, Operators], api: httpx.Client, ops: Operators
) -> None:
    control = live[0].ctx.service.control
    before = control.status()
    body = json.dumps({"reason": "x"})
    for kind in ("text/plain", "application/x-www-form-urlencoded"):  # curl -d's default
        h = {**ops.header("tom"), "Content-Type": kind}
        r = api.post("/trading/halt", content=body, headers=h)
        assert r.status_code == 415, r.text
        assert r.json()["error"]["code"] == "UNSUPPORTED_MEDIA_TYPE"
        assert f"content_type={kind}" in r.json()["error"]["message"]
    anonymous = api.post("/trading/halt", content=body, headers={"Content-Type": "text/plain"})
    assert anonymous.status_code == 401  # who is asking comes first
    empty = api.post("/trading/halt", headers=ops.header("tom"))
    assert empty.status_code == 422 and empty.json()["error"]["field"] == "body"
    assert control.status() == before


def test_request_when_body_over_the_limit_then_413_unread_whoever_sends_it(
    live: tuple[LiveServer, Operators], api: httpx.Client, ops: Operators
) -> None:
    from adapters.api.app import MAX_BODY_BYTES

    control = live[0].ctx.service.control
    before = control.status()
    huge = json.dumps({"reason": "x" * MAX_BODY_BYTES})
    for headers in (ops.header("tom"), {}):
        h = {**headers, "Content-Type": "application/json"}
        r = api.post("/trading/halt", content=huge, headers=h)
        assert r.status_code == 413, r.text
        assert r.json()["error"]["code"] == "PAYLOAD_TOO_LARGE"
        assert f"limit_bytes={MAX_BODY_BYTES}" in r.json()["error"]["message"]

    def chunks(n: int) -> Any:  # no Content-Length: Transfer-Encoding: chunked
        yield b'{"reason": "'
        for _ in range(n):
            yield b"x" * 1000
        yield b'"}'

    h = {**ops.header("tom"), "Content-Type": "application/json"}
    streamed = api.post("/trading/halt", content=chunks(100), headers=h)
    assert streamed.status_code == 413 and "received_bytes>" in streamed.text
    small = api.post(
        "/trading/kill",
        content=iter([b'{"reason": ', b'"panic"}']),
        headers={**ops.header("vic"), "Content-Type": "application/json"},
    )
    assert small.status_code == 403 and small.json()["error"]["code"] == "ROLE_FORBIDDEN"
    login = httpx.post(live[0].url + "/login", data={"token": "x" * MAX_BODY_BYTES})
    assert login.status_code == 413
    assert control.status() == before


def test_route_when_method_not_allowed_then_405_with_allow_header(
    api: httpx.Client, ops: Operators
) -> None:
    r = api.delete("/status", headers=ops.header("vic"))
    assert r.status_code == 405 and r.json()["error"]["code"] == "METHOD_NOT_ALLOWED"
    assert r.headers["allow"] == "GET"
