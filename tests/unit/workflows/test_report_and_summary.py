"""Summaries, reports and explain on a journal the scripted graph produced."""

from __future__ import annotations

import base64
from datetime import date
from pathlib import Path

import pytest

from adapters.brokers.paper.broker import PaperBroker
from adapters.storage.sqlite import SqliteStore
from core.messages import Envelope, Rejection, RiskVerdict
from core.risk import Denial, DenialCode
from tests.unit.workflows import scripted
from workflows.checkpointer import sqlite_checkpointer
from workflows.daily_cycle import build_daily_cycle
from workflows.explain import NotFoundError, explain
from workflows.report import drawdown_series, write_cycle_report, write_simulation_report
from workflows.runner import run_cycle
from workflows.state import CycleConfig, CycleDeps
from workflows.summary import build_summary, rejections


@pytest.fixture
async def finished(tmp_path: Path) -> tuple[dict, SqliteStore]:
    store = SqliteStore(tmp_path / "q.db")
    broker = PaperBroker(store)
    await broker.connect()
    deps = CycleDeps(
        store=store,
        market=scripted.MemoryMarket(["AAPL", "MSFT"], "2024-01-02", 70),
        registry=scripted.scripted_registry(compliance=scripted.deny_all("compliance")),
        broker=broker,
        config=CycleConfig(debate_rounds=1, fill_timeout_s=0),
    )
    async with sqlite_checkpointer(tmp_path) as saver:
        app = build_daily_cycle().compile(checkpointer=saver)
        state = await run_cycle(app, deps, "c1", date(2024, 3, 28), ["AAPL", "MSFT"])
    return dict(state), store


async def ordered(tmp_path: Path) -> tuple[dict, SqliteStore]:
    store = SqliteStore(tmp_path / "o.db")
    broker = PaperBroker(store)
    await broker.connect()
    deps = CycleDeps(
        store=store,
        market=scripted.MemoryMarket(["AAPL", "MSFT"], "2024-01-02", 70),
        registry=scripted.scripted_registry(),
        broker=broker,
        config=CycleConfig(debate_rounds=1, fill_timeout_s=0),
    )
    async with sqlite_checkpointer(tmp_path) as saver:
        app = build_daily_cycle().compile(checkpointer=saver)
        state = await run_cycle(app, deps, "c2", date(2024, 3, 28), ["AAPL", "MSFT"])
    return dict(state), store


def test_drawdown_series_when_equity_falls_then_fraction_below_running_peak() -> None:
    assert drawdown_series([100.0, 110.0, 99.0, 121.0]) == pytest.approx([0, 0, 0.1, 0])
    assert drawdown_series([]) == []


async def test_summary_when_risk_denies_then_rejection_listed_and_no_orders(finished) -> None:
    state, store = finished
    summary = build_summary(state, store, equity=100_000.0)
    assert set(summary) == {
        "cycle_id", "date", "status", "ideas", "orders", "rejected", "fills", "equity", "llm",
        "report",
    }  # fmt: skip
    assert summary["ideas"] == 1
    assert summary["orders"] == []
    assert summary["rejected"] == [
        {"source": "compliance", "reason": "RESTRICTED_SYMBOL: symbol=AAPL"}
    ]
    assert summary["llm"] == {"calls": 0, "tokens": 0, "cost_usd": 0.0, "fallbacks": 0}


def test_rejections_when_llm_output_rejected_then_source_and_code_reported() -> None:
    bad = Envelope(
        cycle_id="c",
        sender="bull_researcher",
        payload=Rejection(
            source="bull_researcher",
            denial=Denial(code=DenialCode.LLM_OUTPUT_REJECTED, context={"field": "ticker"}),
            detail="unknown ticker ZZZZ",
        ),
    )
    denied = Envelope(
        cycle_id="c",
        sender="risk_manager",
        payload=RiskVerdict(symbol="AAPL", approved=False, checked_by="risk_manager"),
    )
    assert rejections([bad, denied], []) == [
        {
            "source": "bull_researcher",
            "reason": "LLM_OUTPUT_REJECTED: field=ticker (unknown ticker ZZZZ)",
        },
        {"source": "risk_manager", "reason": "denied: symbol=AAPL"},
    ]


async def test_cycle_report_when_written_then_html_embeds_chart_and_lists_rejection(
    finished, tmp_path: Path
) -> None:
    state, store = finished
    summary = build_summary(state, store, equity=100_000.0)
    curve = [(date(2024, 3, 27), 100_000.0), (date(2024, 3, 28), 99_000.0)]
    path = write_cycle_report(tmp_path / "reports", summary, state["messages"], curve)
    page = path.read_text()
    assert path.name == "cycle-c1.html"
    png = page.split("data:image/png;base64,")[1].split('"')[0]
    assert base64.b64decode(png).startswith(b"\x89PNG")
    assert "RESTRICTED_SYMBOL" in page
    markdown = path.with_suffix(".md").read_text()
    assert "| AAPL | LONG | 0.70 |" in markdown
    assert "LLM budget" not in markdown  # no budgeted reasoner: nothing to say
    assert "## LLM fallbacks\n\n_none_" in markdown


def test_budget_line_when_ledger_exhausted_then_says_offline_judgement_was_used() -> None:
    from workflows.report import budget_line

    assert budget_line(None) is None
    spent = {"budget_usd": 0.5, "charged_usd": 0.1234, "budget_exhausted": False}
    assert budget_line(spent) == "$0.1234 charged of $0.5000 per cycle"
    line = budget_line({**spent, "budget_exhausted": True})
    assert line is not None and line.endswith("offline judgement")


def test_simulation_report_when_days_given_then_lists_each_day(tmp_path: Path) -> None:
    day = {
        "date": "2024-03-28", "status": "completed", "ideas": 1, "orders": [], "rejected": [],
        "fills": 0, "equity": 100_000.0, "llm": {"calls": 2},
    }  # fmt: skip
    path = write_simulation_report(tmp_path, "s1", {"sessions": 1}, [day])
    assert "2024-03-28" in path.with_suffix(".md").read_text()
    assert path.with_suffix(".png").exists()


async def test_explain_when_order_placed_then_chain_reaches_the_bars(tmp_path: Path) -> None:
    _, store = await ordered(tmp_path)
    order_id = store.orders()[0].order_id
    result = explain(store, order_id)
    kinds = [n["kind"] for n in result["chain"]]
    assert kinds[:3] == ["order_update", "order_intent", "trade_idea"]
    assert kinds[-1] == "bars_published"  # idea ← debate ← shortlist ← signal ← bars
    assert "signal" in kinds
    assert result["symbol"] == "AAPL"
    assert result["order"]["order_id"] == order_id


async def test_explain_when_unknown_order_then_not_found(finished) -> None:
    _, store = finished
    with pytest.raises(NotFoundError):
        explain(store, "paper-999999")


def _intent(symbol: str, side: str = "BUY", quantity: int = 10, **extra: object) -> dict:
    from core.orders import OrderIntent

    return OrderIntent(symbol=symbol, side=side, quantity=quantity, **extra).model_dump(mode="json")  # type: ignore[arg-type]


def test_intent_differences_when_same_intents_then_none() -> None:
    from workflows.summary import intent_differences

    intents = [_intent("AAPL"), _intent("MSFT", "SELL", 3)]
    assert intent_differences(intents, [dict(i) for i in intents]) == []


def test_intent_differences_when_quantity_and_stop_changed_then_names_the_fields() -> None:
    from workflows.summary import intent_differences

    before = [_intent("AAPL", quantity=266, stop_loss=480.0, take_profit=560.0)]
    after = [_intent("AAPL", quantity=133, stop_loss=470.5, take_profit=560.0)]
    assert intent_differences(before, after) == [
        "AAPL BUY: quantity 266 -> 133, stop_loss 480.0 -> 470.5"
    ]


def test_intent_differences_when_one_side_has_extra_intents_then_lists_each() -> None:
    from workflows.summary import intent_differences

    before = [_intent("AAPL", quantity=5), _intent("AAPL", quantity=5)]
    after = [_intent("AAPL", quantity=5), _intent("MSFT", "SELL", 2, order_type="LMT",
                                                    limit_price=30.5)]  # fmt: skip
    assert intent_differences(before, after) == [
        "only in the original: BUY 5 AAPL MKT",
        "only in the replay: SELL 2 MSFT LMT (limit_price 30.5)",
    ]


def test_intent_differences_when_same_intents_in_another_order_then_says_so() -> None:
    from workflows.summary import intent_differences

    a, b = _intent("AAPL"), _intent("MSFT")
    assert intent_differences([a, b], [b, a]) == ["the same intents, made in a different order"]
