"""Claude through langchain-anthropic's ``ChatAnthropic``: timeouts, retries with
exponential backoff and jitter, token and cost accounting.

Imported only by ``factory.make_reasoner("anthropic", ...)``: nothing else imports this
module, so the CLI and the offline path never load the Anthropic SDK.

Structured output: when the request carries an output schema, the model is bound to one
tool, ``submit_answer``, whose input schema is that schema, and the tool choice forces
it; the tool call's arguments are the answer. (The prompt, built by
``agents.llm_judgement``, also states the schema.) Either way the answer is returned as
JSON text and parsed and validated there, identically for every backend.
SDK retries are switched off (``max_retries=0``) so that every attempt passes through
``_call_with_retries`` and is counted.
"""

from __future__ import annotations

import json
import random
import time
from collections.abc import Callable
from typing import Any

from adapters.llm.pricing import cost_usd, worst_case_cost_usd
from core.errors import ConfigurationError, TemporaryError
from core.ports import ReasonRequest, ReasonResponse

ANSWER_TOOL = "submit_answer"
RETRYABLE_STATUS = frozenset({408, 409, 429, 500, 502, 503, 504, 529})
FATAL_STATUS = frozenset({401, 403, 404})


def _status_of(exc: BaseException) -> int | None:
    status = getattr(exc, "status_code", None)
    return status if isinstance(status, int) else None


def is_retryable(exc: BaseException) -> bool:
    """Timeouts, connection failures, rate limits and server errors are worth a retry."""
    if isinstance(exc, TimeoutError | ConnectionError | TemporaryError):
        return True
    import anthropic

    if isinstance(exc, anthropic.APIConnectionError):  # includes APITimeoutError
        return True
    status = _status_of(exc)
    return status is not None and (status in RETRYABLE_STATUS or status >= 500)


def answer_of(message: Any) -> str:
    """The answer in a chat message: the forced tool call's arguments as JSON, else text."""
    for call in getattr(message, "tool_calls", None) or ():
        if call.get("name") == ANSWER_TOOL:
            return json.dumps(call.get("args", {}))
    return text_of(getattr(message, "content", ""))


def text_of(content: Any) -> str:
    """The text of a chat message's content (a string or a list of content blocks)."""
    if isinstance(content, str):
        return content
    parts: list[str] = []
    for block in content or ():
        if isinstance(block, str):
            parts.append(block)
        elif isinstance(block, dict) and block.get("type") == "text":
            parts.append(str(block.get("text", "")))
    return "".join(parts)


class AnthropicReasoner:
    """A ``Reasoner`` over ``ChatAnthropic``. ``chat_model`` replaces the HTTP client in
    tests (any LangChain chat model: a recorded response stands in for Claude)."""

    def __init__(
        self,
        model: str,
        *,
        api_key: str | None = None,
        timeout_s: float = 60.0,
        max_retries: int = 3,
        max_output_tokens: int = 1024,
        backoff_base_s: float = 1.0,
        backoff_cap_s: float = 30.0,
        chat_model: Any | None = None,
        sleep: Callable[[float], None] = time.sleep,
        seed: int = 0,
    ) -> None:
        if chat_model is None and not api_key:
            raise ConfigurationError(
                "the anthropic backend needs an API key: set QUORUM_LLM__ANTHROPIC_API_KEY"
            )
        self.model = model
        self.timeout_s = timeout_s
        self.max_retries = max_retries
        self.max_output_tokens = max_output_tokens
        self.backoff_base_s = backoff_base_s
        self.backoff_cap_s = backoff_cap_s
        self._api_key = api_key
        self._chat = chat_model
        self._sleep = sleep
        self._rng = random.Random(seed)
        self.attempts = 0
        self.retries = 0
        self.delays: list[float] = []

    @property
    def name(self) -> str:
        return "anthropic"

    def chat_model(self) -> Any:
        """The ``ChatAnthropic`` client, built on first use (never at import time)."""
        if self._chat is None:
            from langchain_anthropic import ChatAnthropic
            from pydantic import SecretStr

            self._chat = ChatAnthropic(
                model=self.model,
                api_key=SecretStr(self._api_key or ""),
                timeout=self.timeout_s,
                max_retries=0,
                max_tokens=self.max_output_tokens,
                temperature=0.0,
                stop=None,
            )
        return self._chat

    def runnable(self, output_schema: dict[str, Any]) -> Any:
        """The chat model, bound to the answer tool when there is a schema to enforce (a
        stand-in model without tool support is used as it is)."""
        chat = self.chat_model()
        if not output_schema:
            return chat
        tool = {
            "name": ANSWER_TOOL,
            "description": "Submit your answer. Its input is the whole answer.",
            "input_schema": output_schema,
        }
        try:
            return chat.bind_tools([tool], tool_choice=ANSWER_TOOL)
        except NotImplementedError:
            return chat

    def build_messages(self, request: ReasonRequest) -> list[Any]:
        from langchain_core.messages import HumanMessage, SystemMessage

        return [SystemMessage(content=request.system), HumanMessage(content=request.user)]

    def estimate_cost_usd(self, request: ReasonRequest) -> float:
        chars = len(request.system) + len(request.user)
        return worst_case_cost_usd(self.model, chars, self.max_output_tokens)

    def backoff_s(self, attempt: int) -> float:
        """Exponential backoff with jitter: base·2^attempt capped, times U(0.5, 1)."""
        delay = min(self.backoff_cap_s, self.backoff_base_s * 2.0**attempt)
        return float(delay) * (0.5 + 0.5 * self._rng.random())

    def _call_with_retries(self, messages: list[Any], output_schema: dict[str, Any]) -> Any:
        chat = self.runnable(output_schema)
        for attempt in range(self.max_retries + 1):
            self.attempts += 1
            try:
                return chat.invoke(messages)
            except Exception as exc:
                status = _status_of(exc)
                if status in FATAL_STATUS:
                    raise ConfigurationError(
                        f"anthropic refused the request ({status}): {exc}"
                    ) from exc
                if not is_retryable(exc):
                    raise TemporaryError(f"anthropic call failed, not retried: {exc}") from exc
                if attempt == self.max_retries:
                    raise TemporaryError(
                        f"anthropic call failed after {attempt + 1} attempts: {exc}"
                    ) from exc
                delay = self.backoff_s(attempt)
                self.retries += 1
                self.delays.append(delay)
                self._sleep(delay)
        raise AssertionError("unreachable")  # pragma: no cover

    def complete(self, request: ReasonRequest) -> ReasonResponse:
        message = self._call_with_retries(self.build_messages(request), request.output_schema)
        text = answer_of(message)
        usage = getattr(message, "usage_metadata", None) or {}
        if usage:
            input_tokens = int(usage.get("input_tokens", 0))
            output_tokens = int(usage.get("output_tokens", 0))
        else:
            # No usage reported: charge a conservative estimate rather than nothing.
            input_tokens = (len(request.system) + len(request.user)) // 2 + 1
            output_tokens = len(text) // 2 + 1
        return ReasonResponse(
            text=text,
            model=self.model,
            input_tokens=input_tokens,
            output_tokens=output_tokens,
            cost_usd=cost_usd(self.model, input_tokens, output_tokens),
        )
