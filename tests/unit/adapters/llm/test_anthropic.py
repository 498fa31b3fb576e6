"""The Anthropic adapter, with the HTTP call replaced at the ChatAnthropic boundary by
langchain_core's fake chat models returning recorded ``AIMessage``s. No network is used:
these tests cover request building, usage and cost accounting, retries with backoff,
error classing and the budget; a live call to Claude is not exercised here."""

from __future__ import annotations

from typing import Any

import pytest
from langchain_core.language_models.fake_chat_models import FakeMessagesListChatModel
from langchain_core.messages import AIMessage, HumanMessage, SystemMessage

from adapters.llm.anthropic import ANSWER_TOOL, AnthropicReasoner, is_retryable, text_of
from adapters.llm.budget import BudgetedReasoner
from adapters.llm.pricing import MOST_EXPENSIVE, cost_usd, price_of
from core.errors import BudgetExhaustedError, ConfigurationError, TemporaryError
from core.ports import ReasonRequest

REQUEST = ReasonRequest(
    agent="bull_researcher", prompt_id="bull_researcher.v1", system="S", user="U"
)
RECORDED = AIMessage(
    content='{"symbol": "AAPL"}',
    usage_metadata={"input_tokens": 1200, "output_tokens": 300, "total_tokens": 1500},
)


class Flaky(FakeMessagesListChatModel):
    """Fails ``failures`` times with ``error`` before answering; records what it was sent."""

    failures: int = 0
    error: Any = None
    sent: list[Any]

    def invoke(self, input: Any, *args: Any, **kwargs: Any) -> Any:
        self.sent.append(input)
        if self.failures > 0:
            self.failures -= 1
            raise self.error
        return super().invoke(input, *args, **kwargs)


def reasoner(chat: Any, **kw: Any) -> tuple[AnthropicReasoner, list[float]]:
    sleeps: list[float] = []
    return AnthropicReasoner(
        "claude-sonnet-4-5", chat_model=chat, sleep=sleeps.append, **kw
    ), sleeps


def test_complete_when_recorded_answer_then_text_tokens_and_cost() -> None:
    r, sleeps = reasoner(FakeMessagesListChatModel(responses=[RECORDED]))
    response = r.complete(REQUEST)
    assert response.text == '{"symbol": "AAPL"}' and response.model == "claude-sonnet-4-5"
    assert (response.input_tokens, response.output_tokens) == (1200, 300)
    assert response.cost_usd == pytest.approx((1200 * 3 + 300 * 15) / 1e6)
    assert sleeps == [] and r.attempts == 1


def test_build_messages_when_request_then_system_then_human() -> None:
    r, _ = reasoner(FakeMessagesListChatModel(responses=[RECORDED]))
    system, human = r.build_messages(REQUEST)
    assert isinstance(system, SystemMessage) and system.content == "S"
    assert isinstance(human, HumanMessage) and human.content == "U"


def test_complete_when_transient_failures_then_retries_with_growing_backoff() -> None:
    chat = Flaky(responses=[RECORDED], failures=2, error=TimeoutError("slow"), sent=[])
    r, sleeps = reasoner(chat, max_retries=3, backoff_base_s=1.0)
    assert r.complete(REQUEST).input_tokens == 1200
    assert r.attempts == 3 and r.retries == 2 and len(chat.sent) == 3
    assert 0.5 <= sleeps[0] <= 1.0 and 1.0 <= sleeps[1] <= 2.0  # base·2^k with jitter


def test_complete_when_failures_outlast_retries_then_temporary_error() -> None:
    chat = Flaky(responses=[RECORDED], failures=10, error=ConnectionError("down"), sent=[])
    r, sleeps = reasoner(chat, max_retries=2)
    with pytest.raises(TemporaryError, match="after 3 attempts"):
        r.complete(REQUEST)
    assert len(sleeps) == 2


def test_complete_when_backoff_capped_then_never_above_cap() -> None:
    r, _ = reasoner(FakeMessagesListChatModel(responses=[RECORDED]), backoff_cap_s=4.0)
    assert all(r.backoff_s(k) <= 4.0 for k in range(10))


class StatusError(Exception):
    def __init__(self, status_code: int) -> None:
        super().__init__(f"status {status_code}")
        self.status_code = status_code


@pytest.mark.parametrize(
    ("status", "retried"), [(429, True), (529, True), (500, True), (400, False)]
)
def test_is_retryable_when_status_then_rate_limits_and_server_errors_only(
    status: int, retried: bool
) -> None:
    assert is_retryable(StatusError(status)) is retried


def test_complete_when_auth_fails_then_configuration_error_without_retry() -> None:
    chat = Flaky(responses=[RECORDED], failures=1, error=StatusError(401), sent=[])
    r, sleeps = reasoner(chat)
    with pytest.raises(ConfigurationError, match="401"):
        r.complete(REQUEST)
    assert sleeps == []


def test_complete_when_usage_missing_then_conservative_estimate_is_charged() -> None:
    r, _ = reasoner(FakeMessagesListChatModel(responses=[AIMessage(content="x" * 100)]))
    response = r.complete(REQUEST)
    assert response.output_tokens == 51 and response.cost_usd > 0


def test_estimate_when_prompt_given_then_bounds_the_real_cost() -> None:
    r, _ = reasoner(FakeMessagesListChatModel(responses=[RECORDED]), max_output_tokens=1024)
    assert r.estimate_cost_usd(REQUEST) >= cost_usd("claude-sonnet-4-5", 1, 1024)


def test_budget_when_worst_case_exceeds_then_claude_is_not_called() -> None:
    chat = Flaky(responses=[RECORDED, RECORDED], sent=[])
    inner, _ = reasoner(chat, max_output_tokens=1000)
    budget = BudgetedReasoner(inner, budget_usd=0.02)  # one call: ~0.0081, worst case ~0.015
    budget.complete(REQUEST)
    with pytest.raises(BudgetExhaustedError):
        budget.complete(REQUEST)
    assert len(chat.sent) == 1 and budget.ledger.summary()["cost_usd"] == pytest.approx(0.0081)


def test_constructor_when_no_key_and_no_client_then_configuration_error() -> None:
    with pytest.raises(ConfigurationError, match="ANTHROPIC_API_KEY"):
        AnthropicReasoner("claude-sonnet-4-5")


def test_chat_model_when_built_then_settings_applied_and_sdk_retries_off() -> None:
    chat = AnthropicReasoner("claude-haiku-4-5", api_key="k", timeout_s=12.0).chat_model()
    assert (chat.model, chat.default_request_timeout, chat.max_retries) == (
        "claude-haiku-4-5",
        12.0,
        0,
    )


def test_pricing_when_model_unknown_then_most_expensive_rate() -> None:
    assert price_of("claude-sonnet-4-5-20250929").input_per_mtok == 3.0
    assert price_of("some-future-model") == MOST_EXPENSIVE


def test_text_of_when_content_blocks_then_joined_text() -> None:
    assert text_of([{"type": "text", "text": "a"}, {"type": "tool_use"}, "b"]) == "ab"


class ToolCapable(FakeMessagesListChatModel):
    """A stand-in that accepts ``bind_tools`` (as ChatAnthropic does) and records it."""

    bound: list[Any]

    def bind_tools(self, tools: Any, **kwargs: Any) -> Any:
        self.bound.append((tools, kwargs))
        return self


def test_complete_when_schema_given_then_forced_tool_call_args_are_the_answer() -> None:
    schema = {"title": "View", "type": "object", "properties": {"symbol": {"type": "string"}}}
    call = AIMessage(
        content="",
        tool_calls=[{"name": ANSWER_TOOL, "args": {"symbol": "AAPL"}, "id": "t1"}],
        usage_metadata={"input_tokens": 10, "output_tokens": 5, "total_tokens": 15},
    )
    chat = ToolCapable(responses=[call], bound=[])
    r, _ = reasoner(chat)
    response = r.complete(REQUEST.model_copy(update={"output_schema": schema}))
    assert response.text == '{"symbol": "AAPL"}'
    [(tools, kwargs)] = chat.bound
    assert tools[0]["input_schema"] == schema and kwargs == {"tool_choice": ANSWER_TOOL}


def test_runnable_when_real_chat_anthropic_then_tool_forced_without_network() -> None:
    r = AnthropicReasoner("claude-sonnet-4-5", api_key="k")
    bound = r.runnable({"type": "object", "properties": {"a": {"type": "string"}}})
    assert bound.kwargs["tool_choice"] == {"type": "tool", "name": ANSWER_TOOL}
    assert bound.kwargs["tools"][0]["name"] == ANSWER_TOOL
    assert r.runnable({}) is r.chat_model()
