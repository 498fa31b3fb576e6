"""Every read endpoint's happy path on the simulation's data, the feed and the OpenAPI
document."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest

from tests.integration.api.kit import (
    SIM_NAME,
    SOURCE,
    LiveServer,
    Operators,
    sim_store,
)
from workflows.service import equity_curve


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


def test_pnl_source_help_when_asked_then_the_simulation_and_the_viewer_commands(
    api: httpx.Client, ops: Operators, sim_dir: Path
) -> None:
    h = ops.header("vic")
    pnl = api.get("/pnl", params={"days": 2}, headers=h).json()["data"]
    store = sim_store(sim_dir)
    try:
        curve = equity_curve(store)
    finally:
        store.close()
    assert [(r["date"], r["equity"]) for r in pnl["rows"]] == [
        (d.isoformat(), e) for d, e in curve[-2:]
    ]
    assert pnl["total_pnl"] == pytest.approx(curve[-1][1] - curve[-3][1])
    source = api.get("/source", headers=h).json()["data"]
    assert (source["kind"], source["label"]) == ("simulation", SOURCE)
    assert source["path"].endswith(f"simulations/{SIM_NAME}/quorum.db")
    commands = api.get("/help", headers=h).json()["data"]["commands"]
    names = {c["name"] for c in commands}
    assert {"status", "positions", "proposals list"} <= names and "kill" not in names
    bad = api.get("/pnl", params={"days": 0}, headers=h)
    assert bad.status_code == 422 and bad.json()["error"]["field"] == "days"


def test_explain_when_any_listed_order_then_found_bracket_legs_through_their_parent(
    api: httpx.Client, ops: Operators
) -> None:
    h = ops.header("vic")
    orders = api.get("/orders", params={"scope": "all"}, headers=h).json()["data"]["rows"]
    chains = {}
    for order in orders:
        r = api.get(f"/explain/{order['order_id']}", headers=h)
        assert r.status_code == 200, (order["client_ref"], r.text)
        chains[order["client_ref"]] = r.json()["data"]["explanation"]["chain"]
    # A take-profit leg nothing has touched since it was placed: its parent's intent.
    take_profit = next(ref for ref in chains if ref.endswith("#tp"))
    first = chains[take_profit][0]
    assert first["kind"] == "order_intent" and take_profit.split("#")[0] in first["says"]
