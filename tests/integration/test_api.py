"""The REST API on the real app over loopback (uvicorn in a thread, httpx as the client),
on the data of a real short offline simulation: the main account has never run a cycle,
so every read comes from the simulation's own store, as after `make demo`."""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from adapters.api.context import FeedOptions
from adapters.storage.sqlite import SqliteStore
from core.risk import TradingState
from tests.integration.api_kit import (
    SIM_NAME,
    LiveServer,
    Operators,
    clean_environment,
    simulate,
    totp,
)
from tests.integration.api_kit import live_app as start_app
from tests.unit.workflows.operator_kit import Clock
from workflows.operators import Role
from workflows.service import equity_curve

SOURCE = f"simulation:{SIM_NAME}"


@pytest.fixture(scope="module")
def sim_dir(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    state_dir = tmp_path_factory.mktemp("api") / "var"
    with clean_environment():
        simulate(state_dir)
        yield state_dir


@pytest.fixture(scope="module")
def clock() -> Clock:
    return Clock()


@pytest.fixture(scope="module")
def live(sim_dir: Path, clock: Clock) -> Iterator[tuple[LiveServer, Operators]]:
    from tests.integration.api_kit import api_settings

    feed = FeedOptions(heartbeat_s=0.5, poll_s=0.2, backlog=5)
    roles = {"vic": Role.VIEWER, "tom": Role.TRADER, "ada": Role.ADMIN}
    with clean_environment(), start_app(api_settings(sim_dir), clock, feed=feed, **roles) as pair:
        yield pair


@pytest.fixture
def api(live: tuple[LiveServer, Operators]) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=live[0].url + "/api/v1", timeout=60) as client:
        yield client


@pytest.fixture
def ops(live: tuple[LiveServer, Operators]) -> Operators:
    return live[1]


def sim_store(sim_dir: Path) -> SqliteStore:
    return SqliteStore(sim_dir / "simulations" / SIM_NAME / "quorum.db")


def audit_actions(live: tuple[LiveServer, Operators]) -> list[tuple[str, str, dict]]:
    records = live[0].ctx.store.audit_records()
    return [(r.actor, r.action, r.data) for r in records]


# -- happy paths on the simulation's data ---------------------------------------------------
def test_status_when_main_never_ran_then_simulation_equity_and_last_cycle(
    api: httpx.Client, ops: Operators, sim_dir: Path
) -> None:
    body = api.get("/status", headers=ops.header("vic")).json()
    assert body["source"] == SOURCE and body["operator"] == "vic"
    store = sim_store(sim_dir)
    try:
        curve = equity_curve(store)
        snapshot = store.latest_snapshot("paper")
    finally:
        store.close()
    assert snapshot is not None
    assert body["data"]["equity"] == round(snapshot.equity, 2)
    assert body["data"]["last_cycle"]["cycle_id"] == f"sim-{SIM_NAME}-{curve[-1][0]}"
    assert body["data"]["pnl_date"] == curve[-1][0].isoformat()


def test_positions_when_simulation_bought_then_rows_with_protective_stop(
    api: httpx.Client, ops: Operators
) -> None:
    body = api.get("/positions", headers=ops.header("vic")).json()
    rows = body["data"]["rows"]
    assert rows, body
    for row in rows:
        assert row["stop"] is not None and row["stop"] < row["last"]
    assert body["data"]["source"] == "paper"


def test_orders_fills_cycles_when_simulation_traded_then_consistent(
    api: httpx.Client, ops: Operators
) -> None:
    h = ops.header("vic")
    orders = api.get("/orders", params={"scope": "all", "limit": 100}, headers=h).json()["data"]
    fills = api.get("/fills", headers=h).json()["data"]["rows"]
    cycles = api.get("/cycles", headers=h).json()["data"]["rows"]
    filled = {o["order_id"] for o in orders["rows"] if o["filled"]}
    assert filled and {f["order_id"] for f in fills} == filled
    assert [c["date"] for c in cycles] == sorted(c["date"] for c in cycles)
    assert len(cycles) == 4 and all(c["status"] == "completed" for c in cycles)
    assert sum(c["fills"] for c in cycles) == len(fills)
    open_orders = api.get("/orders", headers=h).json()["data"]["rows"]
    assert {o["type"] for o in open_orders} >= {"STP"}


def test_report_and_explain_when_asked_by_cycle_and_client_ref_then_found(
    api: httpx.Client, ops: Operators
) -> None:
    h = ops.header("vic")
    first = api.get("/cycles", headers=h).json()["data"]["rows"][0]
    report = api.get(f"/cycles/{first['cycle_id']}/report", headers=h).json()["data"]
    assert Path(report["path"]).exists() and report["cycle"]["cycle_id"] == first["cycle_id"]
    by_date = api.get(f"/cycles/{first['date']}/report", headers=h).json()["data"]
    assert by_date["cycle"]["cycle_id"] == first["cycle_id"]
    latest = api.get("/cycles/latest/report", headers=h).json()["data"]
    assert latest["cycle"]["date"] == "2013-02-28"
    assert api.get("/cycles/2031-01-02/report", headers=h).status_code == 404
    html = api.get(f"/cycles/{first['cycle_id']}/report.html", headers=h)
    assert html.status_code == 200 and first["cycle_id"] in html.text
    order = report["summary"]["orders"][0]
    why = api.get(f"/explain/{order['client_ref']}", headers=h).json()["data"]
    assert why["order_id"] == order["order_id"] and why["cycle_id"] == first["cycle_id"]
    kinds = [n["kind"] for n in why["explanation"]["chain"]]
    assert kinds[:2] == ["order_update", "order_intent"] and len(kinds) > 2
    missing = api.get("/explain/no-such-order", headers=h)
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "NOT_FOUND"


def test_journal_when_paged_back_then_pages_join_without_gap_or_overlap(
    api: httpx.Client, ops: Operators, sim_dir: Path
) -> None:
    h = ops.header("vic")
    store = sim_store(sim_dir)
    try:
        newest = [m.id for m in store.tail(25)]
    finally:
        store.close()
    first = api.get("/journal", params={"limit": 10}, headers=h).json()["data"]
    second = api.get(
        "/journal", params={"limit": 15, "before": first["next_before"]}, headers=h
    ).json()["data"]
    ids = [m["id"] for m in second["messages"]] + [m["id"] for m in first["messages"]]
    assert ids == newest
    cycle = first["messages"][-1]["cycle_id"]
    notes = api.get("/journal", params={"cycle": cycle, "kind": "note"}, headers=h).json()
    assert notes["data"]["messages"] and {
        (m["cycle_id"], m["kind"]) for m in notes["data"]["messages"]
    } == {(cycle, "note")}
    bad = api.get("/journal", params={"before": "nosuchid"}, headers=h)
    assert bad.status_code == 422 and bad.json()["error"]["field"] == "before"


def test_equity_when_simulated_then_curve_with_running_peak_and_drawdown(
    api: httpx.Client, ops: Operators, sim_dir: Path
) -> None:
    data = api.get("/equity", headers=ops.header("vic")).json()["data"]
    store = sim_store(sim_dir)
    try:
        curve = equity_curve(store)
    finally:
        store.close()
    assert [(p["date"], p["equity"]) for p in data["points"]] == [
        (d.isoformat(), e) for d, e in curve
    ]
    peak = data["starting_cash"]
    for p in data["points"]:
        peak = max(peak, p["equity"])
        assert p["peak"] == peak and p["drawdown"] == pytest.approx(p["equity"] / peak - 1)
    assert data["max_drawdown"] == min(p["drawdown"] for p in data["points"])


def test_desks_when_last_cycle_then_messages_grouped_by_sender_desk(
    api: httpx.Client, ops: Operators
) -> None:
    data = api.get("/desks", headers=ops.header("vic")).json()["data"]
    desks = {d["desk"]: d for d in data["desks"]}
    assert {"data", "strategy", "risk", "execution", "reflection"} <= set(desks)
    assert "market_data" in desks["data"]["agents"]
    for d in data["desks"]:
        assert {m["desk"] for m in d["messages"]} == {d["desk"]}
        assert {m["cycle_id"] for m in d["messages"]} == {data["cycle"]["cycle_id"]}
    earlier = api.get("/desks", params={"cycle": "2013-02-26"}, headers=ops.header("vic"))
    assert earlier.json()["data"]["cycle"]["date"] == "2013-02-26"


def test_feed_when_connected_then_backlog_ready_and_heartbeat(
    live: tuple[LiveServer, Operators], ops: Operators
) -> None:
    events: list[tuple[str, dict]] = []
    with (
        httpx.Client(base_url=live[0].url, timeout=30) as client,
        client.stream("GET", "/api/v1/feed", headers=ops.header("vic")) as response,
    ):
        assert response.headers["content-type"].startswith("text/event-stream")
        kind = ""
        for line in response.iter_lines():
            if line.startswith("event: "):
                kind = line[7:]
            elif line.startswith("data: "):
                events.append((kind, json.loads(line[6:])))
                if kind == "heartbeat":
                    break
    kinds = [k for k, _ in events]
    backlog = live[0].ctx.feed.backlog
    assert kinds[:backlog] == ["a2a"] * backlog
    assert kinds[backlog] == "ready" and events[backlog][1]["via"] == "journal"
    assert kinds[-1] == "heartbeat" and events[-1][1]["source"] == SOURCE
    with (
        httpx.Client(base_url=live[0].url, timeout=30) as client,
        client.stream(
            "GET", "/api/v1/feed", params={"backlog": 0}, headers=ops.header("vic")
        ) as response,
    ):
        first = next(line for line in response.iter_lines() if line.startswith("event: "))
    assert first == "event: ready"  # no backlog asked for


def test_openapi_when_fetched_then_real_schemas_for_answers_and_errors(
    live: tuple[LiveServer, Operators],
) -> None:
    doc = httpx.get(live[0].url + "/openapi.json").json()
    schemas = doc["components"]["schemas"]
    assert {"Answer_StatusView_", "Answer_PositionsView_", "ErrorResponse", "TradingBody"} <= set(
        schemas
    )
    assert "stop" in schemas["PositionRow"]["properties"]
    post = doc["paths"]["/api/v1/trading/{action}"]["post"]
    assert {"200", "401", "403", "422", "429"} <= set(post["responses"])
    for path in ("/api/v1/journal", "/api/v1/equity", "/api/v1/proposals/{proposal_id}/approve"):
        assert path in doc["paths"]


# -- changes through the service ------------------------------------------------------------
def test_halt_then_resume_when_trader_then_admin_with_totp_then_state_follows(
    live: tuple[LiveServer, Operators], api: httpx.Client, ops: Operators, clock: Clock
) -> None:
    halted = api.post("/trading/halt", json={"reason": "news shock"}, headers=ops.header("tom"))
    assert halted.status_code == 200 and halted.json()["data"]["effective"] == "HALTED"
    no_code = api.post("/trading/resume", json={"reason": "clear"}, headers=ops.header("ada"))
    assert no_code.status_code == 403 and no_code.json()["error"]["code"] == "TOTP_REQUIRED"
    clock.advance(seconds=30)
    code = totp(ops.secrets["ada"], clock)
    resumed = api.post(
        "/trading/resume", json={"reason": "all clear", "totp": code}, headers=ops.header("ada")
    )
    assert resumed.status_code == 200, resumed.text
    assert live[0].ctx.service.control.effective() is TradingState.ACTIVE
    again = api.post(
        "/trading/resume", json={"reason": "again", "totp": code}, headers=ops.header("ada")
    )
    assert again.status_code == 403 and again.json()["error"]["code"] == "TOTP_REUSED"


def test_proposal_when_trader_submits_and_admin_approves_with_totp_then_new_version(
    api: httpx.Client, ops: Operators, clock: Clock
) -> None:
    body = {"changes": {"strategy.momentum.lookback": 30}, "reason": "slower momentum"}
    submitted = api.post("/proposals", json=body, headers=ops.header("tom"))
    assert submitted.status_code == 200, submitted.text
    p = submitted.json()["data"]["proposal"]
    assert p["status"] == "pending" and p["evidence"]["sections"][0]["method"] == "backtest"
    listed = api.get("/proposals", params={"status": "pending"}, headers=ops.header("vic"))
    assert p["id"] in [x["id"] for x in listed.json()["data"]["proposals"]]
    trader = api.post(
        f"/proposals/{p['id']}/approve", json={"totp": "123456"}, headers=ops.header("tom")
    )
    assert trader.status_code == 403 and trader.json()["error"]["code"] == "ROLE_FORBIDDEN"
    clock.advance(seconds=30)
    approved = api.post(
        f"/proposals/{p['id']}/approve",
        json={"totp": totp(ops.secrets["ada"], clock)},
        headers=ops.header("ada"),
    )
    assert approved.status_code == 200, approved.text
    done = approved.json()["data"]["proposal"]
    assert done["status"] == "approved" and done["decided_by"] == "ada"
    history = api.get("/config/versions", headers=ops.header("vic")).json()["data"]["versions"]
    active = [v for v in history if v["active"]]
    assert active and active[0]["version"] == done["applied_version"]
    diff = api.get(
        "/config/diff", params={"a": 1, "b": done["applied_version"]}, headers=ops.header("vic")
    ).json()["data"]["diff"]
    assert diff == {"strategy.momentum.lookback": [20, 30]}
    shown = api.get(f"/config/versions/{done['applied_version']}", headers=ops.header("vic"))
    assert shown.json()["data"]["versions"][0]["values"]["strategy.momentum.lookback"] == 30


def test_proposal_when_rejected_or_loosening_a_cap_then_refused_with_codes(
    api: httpx.Client, ops: Operators
) -> None:
    loose = {"changes": {"risk.max_position_weight": 0.5}, "reason": "bigger bets"}
    refused = api.post("/proposals", json=loose, headers=ops.header("tom"))
    assert refused.status_code == 409 and refused.json()["error"]["code"] == "PROPOSAL_REFUSED"
    assert "LOOSENS_HARD_CAP" in refused.json()["error"]["message"]
    body = {"changes": {"strategy.momentum.threshold": 0.01}, "reason": "a filter"}
    pid = api.post("/proposals", json=body, headers=ops.header("tom")).json()["data"]["proposal"]
    rejected = api.post(
        f"/proposals/{pid['id']}/reject", json={"reason": "not now"}, headers=ops.header("ada")
    )
    assert rejected.json()["data"]["proposal"]["status"] == "rejected"
    unknown = api.get("/proposals/p-999", headers=ops.header("vic"))
    assert unknown.status_code == 404 and unknown.json()["error"]["code"] == "NOT_FOUND"


def test_approve_when_admin_approves_own_proposal_then_403_self_approval(
    api: httpx.Client, ops: Operators, clock: Clock
) -> None:
    body = {"changes": {"strategy.ma_crossover.fast": 12}, "reason": "mine"}
    mine = api.post("/proposals", json=body, headers=ops.header("ada")).json()["data"]["proposal"]
    clock.advance(seconds=30)
    r = api.post(
        f"/proposals/{mine['id']}/approve",
        json={"totp": totp(ops.secrets["ada"], clock)},
        headers=ops.header("ada"),
    )
    assert r.status_code == 403 and r.json()["error"]["code"] == "SELF_APPROVAL"
    again = api.get(f"/proposals/{mine['id']}", headers=ops.header("vic")).json()["data"]
    assert again["proposal"]["status"] == "pending"


# -- refusals: each a clear error, nothing changed -------------------------------------------
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
    from tests.integration.api_kit import api_settings, live_app

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


def test_quorum_serve_when_run_as_a_process_after_a_simulation_then_shows_it(
    sim_dir: Path, ops: Operators
) -> None:
    """What an operator does after `make demo`: `quorum serve`, then curl."""
    import signal
    import socket
    import subprocess
    import sys
    import time

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    env = {k: v for k, v in os.environ.items() if not k.startswith("QUORUM_")}
    env.update(QUORUM_STATE_DIR=str(sim_dir), QUORUM_LOG_FORMAT="json")
    proc = subprocess.Popen(
        [sys.executable, "-m", "adapters.cli.main", "serve", "--port", str(port)],
        env=env,
        cwd=sim_dir.parent,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    url = f"http://127.0.0.1:{port}/api/v1"
    try:
        deadline = time.monotonic() + 90
        while True:
            try:
                anonymous = httpx.get(url + "/positions", timeout=5)
                break
            except httpx.TransportError:
                assert proc.poll() is None, proc.stdout.read() if proc.stdout else ""
                assert time.monotonic() < deadline, "quorum serve did not start"
                time.sleep(0.2)
        assert anonymous.status_code == 401
        positions = httpx.get(url + "/positions", headers=ops.header("vic"), timeout=30).json()
        assert positions["source"] == SOURCE and positions["data"]["rows"]
        equity = httpx.get(url + "/equity", headers=ops.header("vic"), timeout=30).json()
        assert len(equity["data"]["points"]) == 4
        page = httpx.get(f"http://127.0.0.1:{port}/", timeout=30)
        assert page.status_code == 200 and "login-form" in page.text
    finally:
        proc.send_signal(signal.SIGINT)
        output, _ = proc.communicate(timeout=30)
    assert proc.returncode == 0, output
    assert "GET /api/v1/positions" in output  # the access log, through Quorum's handler
    for token in ops.tokens.values():
        assert token not in output
