"""The replay backend: recorded responses from a JSONL file, served in order per agent.

File format (one JSON object per line; blank lines and lines starting with ``#`` are
skipped)::

    {"agent": "bull_researcher", "prompt_id": "bull_researcher.v1",
     "response": "<raw model text>", "input_tokens": 812, "output_tokens": 95,
     "cost_usd": 0.0038, "model": "claude-sonnet-4-5"}

- ``agent`` (required): the agent whose request this line answers. Lines are consumed in
  file order, separately for each agent.
- ``response`` (required unless ``error``): the raw text, exactly as a model would return
  it — it goes through the same parsing and validation as a live answer, so malformed
  JSON, wrong schemas, unknown tickers, absurd numbers and injected instructions can be
  recorded here on purpose.
- ``prompt_id`` (optional): when present it must equal the request's prompt id, else the
  file is out of step with the code and replay stops with ``ConfigurationError``.
- ``input_tokens``, ``output_tokens`` (default 0), ``cost_usd`` (default 0.0), ``model``
  (default ``"replay"``): the usage reported for this response.
- ``error`` (optional): ``"timeout"`` or ``"unavailable"`` makes the call raise
  ``TemporaryError`` (the agent falls back to its offline judgement).

When an agent has no line left the call raises ``TemporaryError`` too (``strict=True``
turns that into ``ConfigurationError``).
"""

from __future__ import annotations

import json
from collections import defaultdict, deque
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from core.errors import ConfigurationError, TemporaryError
from core.ports import ReasonRequest, ReasonResponse


class ReplayLine(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    agent: str = Field(min_length=1)
    prompt_id: str | None = None
    response: str = ""
    input_tokens: int = Field(default=0, ge=0)
    output_tokens: int = Field(default=0, ge=0)
    cost_usd: float = Field(default=0.0, ge=0)
    model: str = "replay"
    error: str | None = None


def read_replay_file(path: str | Path) -> list[ReplayLine]:
    p = Path(path)
    if not p.is_file():
        raise ConfigurationError(f"replay file not found: {p}")
    lines: list[ReplayLine] = []
    for number, raw in enumerate(p.read_text(encoding="utf-8").splitlines(), start=1):
        text = raw.strip()
        if not text or text.startswith("#"):
            continue
        try:
            lines.append(ReplayLine.model_validate(json.loads(text)))
        except (json.JSONDecodeError, ValidationError) as exc:
            raise ConfigurationError(f"{p}:{number}: not a replay line: {exc}") from exc
    return lines


class ReplayReasoner:
    def __init__(self, lines: list[ReplayLine], *, strict: bool = False, source: str = "") -> None:
        self._queues: dict[str, deque[ReplayLine]] = defaultdict(deque)
        for line in lines:
            self._queues[line.agent].append(line)
        self.strict = strict
        self.source = source
        self.served: list[tuple[str, str]] = []  # (agent, prompt_id) in call order

    @classmethod
    def from_file(cls, path: str | Path, *, strict: bool = False) -> ReplayReasoner:
        return cls(read_replay_file(path), strict=strict, source=str(path))

    @property
    def name(self) -> str:
        return "replay"

    def remaining(self, agent: str | None = None) -> int:
        if agent is not None:
            return len(self._queues.get(agent, ()))
        return sum(len(q) for q in self._queues.values())

    def estimate_cost_usd(self, request: ReasonRequest) -> float:
        """The recorded cost of the line the next call would serve (for the budget)."""
        queue = self._queues.get(request.agent)
        return queue[0].cost_usd if queue else 0.0

    def complete(self, request: ReasonRequest) -> ReasonResponse:
        queue = self._queues.get(request.agent)
        if not queue:
            message = f"replay: no recorded response left for agent {request.agent!r}"
            if self.strict:
                raise ConfigurationError(message)
            raise TemporaryError(message)
        line = queue.popleft()
        if line.prompt_id is not None and line.prompt_id != request.prompt_id:
            raise ConfigurationError(
                f"replay: line for {request.agent!r} was recorded for prompt "
                f"{line.prompt_id!r}, request is {request.prompt_id!r}"
            )
        self.served.append((request.agent, request.prompt_id))
        if line.error is not None:
            raise TemporaryError(f"replay: recorded {line.error} for {request.agent!r}")
        return ReasonResponse(
            text=line.response,
            model=line.model,
            input_tokens=line.input_tokens,
            output_tokens=line.output_tokens,
            cost_usd=line.cost_usd,
        )
