"""Changes through the operator service: the trading state, proposals and config
versions; and a real `quorum serve` process after a simulation."""

from __future__ import annotations

import os
from pathlib import Path

import httpx

from core.risk import TradingState
from tests.integration.api.kit import SOURCE, LiveServer, Operators, totp
from tests.unit.workflows.operator_kit import Clock


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
    live: tuple[LiveServer, Operators], api: httpx.Client, ops: Operators, clock: Clock
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
    # The dashboard offers its author no Approve / Reject (both would be SELF_APPROVAL,
    # after spending a TOTP code); another operator gets the buttons.
    panel = live[0].url + "/ui/panels/proposals"
    own = httpx.get(panel, headers=ops.header("ada")).text
    card = own.split(f'data-proposal="{mine["id"]}"')[1].split("</article>")[0]
    assert "own-proposal" in card and "data-approve" not in card and "data-reject" not in card
    other = httpx.get(panel, headers=ops.header("tom")).text
    assert f'data-approve="{mine["id"]}"' in other


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
