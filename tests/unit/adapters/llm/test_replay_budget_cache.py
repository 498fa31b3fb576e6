from __future__ import annotations

import json
from pathlib import Path

import pytest

from adapters.llm.budget import BudgetedReasoner
from adapters.llm.cache import COLLECTION, CachedReasoner, cache_key
from adapters.llm.offline import OfflineReasoner
from adapters.llm.replay import ReplayLine, ReplayReasoner, read_replay_file
from adapters.storage.sqlite import SqliteStore
from core.errors import BudgetExhaustedError, ConfigurationError, TemporaryError
from core.ports import ReasonRequest


def request(agent: str = "a", prompt_id: str = "a.v1", user: str = "u") -> ReasonRequest:
    return ReasonRequest(agent=agent, prompt_id=prompt_id, system="s", user=user)


def lines(*items: dict) -> list[ReplayLine]:
    return [ReplayLine.model_validate(i) for i in items]


@pytest.fixture
def store(tmp_path: Path) -> SqliteStore:
    s = SqliteStore(tmp_path / "q.db")
    yield s
    s.close()


# -- replay -------------------------------------------------------------------------------
def test_replay_when_file_read_then_lines_served_in_order_per_agent(tmp_path: Path) -> None:
    path = tmp_path / "r.jsonl"
    path.write_text(
        "# a comment\n\n"
        + "\n".join(
            json.dumps(x)
            for x in (
                {"agent": "a", "response": "a1", "input_tokens": 3},
                {"agent": "b", "response": "b1"},
                {"agent": "a", "response": "a2", "cost_usd": 0.5, "model": "m"},
            )
        )
    )
    r = ReplayReasoner.from_file(path)
    assert r.complete(request("b")).text == "b1"
    first, second = r.complete(request("a")), r.complete(request("a"))
    assert (first.text, first.input_tokens, second.text, second.cost_usd, second.model) == (
        "a1",
        3,
        "a2",
        0.5,
        "m",
    )
    assert r.remaining() == 0


def test_replay_when_agent_has_no_line_left_then_temporary_error_or_strict_config() -> None:
    with pytest.raises(TemporaryError):
        ReplayReasoner([]).complete(request())
    with pytest.raises(ConfigurationError):
        ReplayReasoner([], strict=True).complete(request())


def test_replay_when_prompt_id_differs_then_configuration_error() -> None:
    r = ReplayReasoner(lines({"agent": "a", "prompt_id": "a.v2", "response": "x"}))
    with pytest.raises(ConfigurationError, match=r"a\.v2"):
        r.complete(request(prompt_id="a.v1"))


def test_replay_when_line_records_an_error_then_temporary_error() -> None:
    r = ReplayReasoner(lines({"agent": "a", "error": "timeout"}))
    with pytest.raises(TemporaryError, match="timeout"):
        r.complete(request())


@pytest.mark.parametrize("bad", ["{not json", '{"response": "no agent"}', '{"agent": "a", "x": 1}'])
def test_read_replay_file_when_line_invalid_then_configuration_error_with_line_number(
    tmp_path: Path, bad: str
) -> None:
    path = tmp_path / "r.jsonl"
    path.write_text('{"agent": "a", "response": "ok"}\n' + bad + "\n")
    with pytest.raises(ConfigurationError, match=":2:"):
        read_replay_file(path)


def test_read_replay_file_when_missing_then_configuration_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match="not found"):
        read_replay_file(tmp_path / "nope.jsonl")


def test_offline_when_called_then_refuses_loudly() -> None:
    assert OfflineReasoner().name == "offline"
    with pytest.raises(ConfigurationError):
        OfflineReasoner().complete(request())


# -- budget -------------------------------------------------------------------------------
def priced(*costs: float, agent: str = "a") -> ReplayReasoner:
    return ReplayReasoner(
        lines(
            *(
                {
                    "agent": agent,
                    "response": "r",
                    "cost_usd": c,
                    "input_tokens": 100,
                    "output_tokens": 10,
                }
                for c in costs
            )
        )
    )


def test_budget_when_next_call_could_exceed_then_refused_before_calling() -> None:
    inner = priced(0.4, 0.4, 0.4)
    r = BudgetedReasoner(inner, budget_usd=1.0)
    r.complete(request())
    r.complete(request())
    with pytest.raises(BudgetExhaustedError) as caught:
        r.complete(request())
    assert inner.remaining() == 1  # the third call never reached the backend
    assert caught.value.spent_usd == pytest.approx(0.8) and caught.value.budget_usd == 1.0
    summary = r.ledger.summary()
    assert summary["calls"] == 2 and summary["cost_usd"] == pytest.approx(0.8)
    assert summary["tokens"] == 220 and summary["budget_exhausted"]


def test_budget_when_zero_then_every_call_refused() -> None:
    with pytest.raises(BudgetExhaustedError):
        BudgetedReasoner(priced(0.0), budget_usd=0.0).complete(request())


def test_budget_when_new_cycle_begins_then_fresh_ledger_and_history_kept() -> None:
    r = BudgetedReasoner(priced(0.6, 0.6), budget_usd=1.0)
    r.begin_cycle("c1")
    r.complete(request())
    r.record_fallback("a", "budget_exhausted")
    r.begin_cycle("c1")  # same cycle: no reset
    assert r.ledger.summary()["calls"] == 1
    r.begin_cycle("c2")
    r.complete(request())  # c2 has its own budget
    assert r.ledger.cycle_id == "c2" and r.ledger.summary()["calls"] == 1
    assert r.history["c1"].summary()["fallbacks"] == 1


def test_budget_when_ledger_summarised_then_per_agent_figures() -> None:
    r = BudgetedReasoner(
        ReplayReasoner(
            lines(
                {"agent": "x", "response": "1", "cost_usd": 0.1, "input_tokens": 5},
                {"agent": "y", "response": "2", "cost_usd": 0.2, "output_tokens": 7},
            )
        ),
        budget_usd=5.0,
    )
    r.complete(request("x"))
    r.complete(request("y"))
    r.record_fallback("y", "rejected:schema")
    per = r.ledger.summary()["per_agent"]
    assert per["x"]["calls"] == 1 and per["x"]["input_tokens"] == 5
    assert per["y"]["cost_usd"] == pytest.approx(0.2) and per["y"]["fallbacks"] == {
        "rejected:schema": 1
    }


# -- cache --------------------------------------------------------------------------------
def test_cache_when_same_request_twice_then_second_is_free_and_identical(
    store: SqliteStore,
) -> None:
    inner = priced(0.3)
    cached = CachedReasoner(inner, store, model="m")
    first = cached.complete(request())
    second = cached.complete(request())
    assert not first.cached and second.cached and second.text == first.text
    assert inner.remaining() == 0 and cached.hits == 1 and cached.misses == 1
    assert store.get_document(COLLECTION, cache_key("m", request()))["agent"] == "a"


def test_cache_when_prompt_or_model_differs_then_miss(store: SqliteStore) -> None:
    assert cache_key("m", request(user="1")) != cache_key("m", request(user="2"))
    assert cache_key("m1", request()) != cache_key("m2", request())
    cached = CachedReasoner(priced(0.1, 0.1), store, model="m")
    cached.complete(request(user="1"))
    assert not cached.complete(request(user="2")).cached


def test_cache_when_rerun_under_budget_then_spend_is_zero_but_charge_repeats(
    store: SqliteStore,
) -> None:
    """A re-run from the cache exhausts the budget at the same call as the original run."""
    original = BudgetedReasoner(CachedReasoner(priced(0.6, 0.6), store, "m"), budget_usd=1.0)
    original.complete(request(user="1"))
    with pytest.raises(BudgetExhaustedError):
        original.complete(request(user="2"))
    rerun = BudgetedReasoner(CachedReasoner(None, store, "m"), budget_usd=1.0)
    assert rerun.complete(request(user="1")).cached
    with pytest.raises((BudgetExhaustedError, TemporaryError)):
        rerun.complete(request(user="2"))
    assert rerun.ledger.summary()["cost_usd"] == 0.0
    assert rerun.ledger.summary()["charged_usd"] == pytest.approx(0.6)


def test_cache_only_when_miss_then_temporary_error(store: SqliteStore) -> None:
    with pytest.raises(TemporaryError, match="no cached response"):
        CachedReasoner(None, store, "m").complete(request())


def test_budget_when_cycle_resumed_by_a_new_process_then_spend_carries_over(
    store: SqliteStore,
) -> None:
    first = BudgetedReasoner(priced(0.6), budget_usd=1.0, store=store)
    first.begin_cycle("c1")
    first.complete(request())
    after_crash = BudgetedReasoner(priced(0.6), budget_usd=1.0, store=store)
    after_crash.begin_cycle("c1")
    assert after_crash.ledger.summary()["charged_usd"] == pytest.approx(0.6)
    with pytest.raises(BudgetExhaustedError):
        after_crash.complete(request())
    after_crash.begin_cycle("c2")  # another cycle starts with its own budget
    assert after_crash.complete(request()).cost_usd == 0.6
