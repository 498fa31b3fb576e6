"""A hard LLM budget per cycle, and the ledger that says where the money went.

``BudgetedReasoner`` wraps any reasoner. Before each call it asks the inner reasoner for
a worst-case cost (when it can tell) and refuses the call with ``BudgetExhaustedError``
if that could take the cycle's spend past the budget; the agent then uses its offline
judgement and records the fallback here. The budget therefore caps spend, it does not
merely report it.

Cached responses cost nothing now but are *charged* at their recorded cost, so a re-run
from the cache exhausts the budget at the same call as the original run and takes the
same decisions.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

from core.errors import BudgetExhaustedError
from core.ports import Reasoner, ReasonRequest, ReasonResponse, Store

BUDGET_EXHAUSTED = "budget_exhausted"
LEDGERS = "llm_ledger"  # store documents: one ledger per cycle id


@runtime_checkable
class CostEstimator(Protocol):
    def estimate_cost_usd(self, request: ReasonRequest) -> float: ...


@dataclass
class AgentUsage:
    calls: int = 0
    cached_calls: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    cost_usd: float = 0.0  # spent in this run
    charged_usd: float = 0.0  # counted against the budget (cached calls at recorded cost)
    fallbacks: dict[str, int] = field(default_factory=lambda: defaultdict(int))

    def as_dict(self) -> dict[str, Any]:
        return {
            "calls": self.calls,
            "cached_calls": self.cached_calls,
            "input_tokens": self.input_tokens,
            "output_tokens": self.output_tokens,
            "cost_usd": round(self.cost_usd, 6),
            "charged_usd": round(self.charged_usd, 6),
            "fallbacks": dict(self.fallbacks),
        }


@dataclass
class LlmLedger:
    """Calls, tokens, cost and fallbacks of one cycle, per agent and in total."""

    cycle_id: str = ""
    budget_usd: float = 0.0
    provider: str = ""
    per_agent: dict[str, AgentUsage] = field(default_factory=lambda: defaultdict(AgentUsage))
    exhausted: bool = False

    def record_call(self, agent: str, response: ReasonResponse) -> None:
        usage = self.per_agent[agent]
        usage.calls += 1
        usage.input_tokens += response.input_tokens
        usage.output_tokens += response.output_tokens
        usage.charged_usd += response.cost_usd
        if response.cached:
            usage.cached_calls += 1
        else:
            usage.cost_usd += response.cost_usd

    def record_fallback(self, agent: str, reason: str) -> None:
        self.per_agent[agent].fallbacks[reason] += 1
        if reason == BUDGET_EXHAUSTED:
            self.exhausted = True

    @property
    def charged_usd(self) -> float:
        return sum(u.charged_usd for u in self.per_agent.values())

    @property
    def cost_usd(self) -> float:
        return sum(u.cost_usd for u in self.per_agent.values())

    def to_doc(self) -> dict[str, Any]:
        return {
            "cycle_id": self.cycle_id,
            "budget_usd": self.budget_usd,
            "provider": self.provider,
            "exhausted": self.exhausted,
            "per_agent": {name: u.as_dict() for name, u in self.per_agent.items()},
        }

    @classmethod
    def from_doc(cls, doc: dict[str, Any]) -> LlmLedger:
        ledger = cls(
            cycle_id=str(doc["cycle_id"]),
            budget_usd=float(doc["budget_usd"]),
            provider=str(doc.get("provider", "")),
            exhausted=bool(doc.get("exhausted", False)),
        )
        for name, u in doc.get("per_agent", {}).items():
            usage = ledger.per_agent[name]
            for key in ("calls", "cached_calls", "input_tokens", "output_tokens"):
                setattr(usage, key, int(u.get(key, 0)))
            usage.cost_usd = float(u.get("cost_usd", 0.0))
            usage.charged_usd = float(u.get("charged_usd", 0.0))
            usage.fallbacks.update({k: int(v) for k, v in u.get("fallbacks", {}).items()})
        return ledger

    def summary(self) -> dict[str, Any]:
        agents = {name: u.as_dict() for name, u in sorted(self.per_agent.items())}
        inputs = sum(u.input_tokens for u in self.per_agent.values())
        outputs = sum(u.output_tokens for u in self.per_agent.values())
        return {
            "cycle_id": self.cycle_id,
            "provider": self.provider,
            "budget_usd": self.budget_usd,
            "calls": sum(u.calls for u in self.per_agent.values()),
            "cached_calls": sum(u.cached_calls for u in self.per_agent.values()),
            "input_tokens": inputs,
            "output_tokens": outputs,
            "tokens": inputs + outputs,
            "cost_usd": round(self.cost_usd, 6),
            "charged_usd": round(self.charged_usd, 6),
            "fallbacks": sum(sum(u.fallbacks.values()) for u in self.per_agent.values()),
            "budget_exhausted": self.exhausted,
            "per_agent": agents,
        }


class BudgetedReasoner:
    """A ``Reasoner`` that refuses calls once the cycle's budget could be exceeded.

    With a store, each cycle's ledger is saved (documents ``llm_ledger``) after every
    change and picked up again by ``begin_cycle``: a cycle resumed after a crash continues
    with what it had already spent, it does not get a fresh budget.
    """

    def __init__(self, inner: Reasoner, budget_usd: float, store: Store | None = None) -> None:
        self.inner = inner
        self.budget_usd = budget_usd
        self.store = store
        self.ledger = LlmLedger(budget_usd=budget_usd, provider=inner.name)
        self.history: dict[str, LlmLedger] = {}

    @property
    def name(self) -> str:
        return self.inner.name

    def begin_cycle(self, cycle_id: str) -> None:
        """Start a fresh ledger (and budget) for ``cycle_id``; no-op if already current."""
        if cycle_id == self.ledger.cycle_id:
            return
        if self.ledger.cycle_id:
            self.history[self.ledger.cycle_id] = self.ledger
        previous = self.history.pop(cycle_id, None)
        saved = self.store.get_document(LEDGERS, cycle_id) if self.store and not previous else None
        self.ledger = (
            previous
            or (LlmLedger.from_doc(saved) if saved else None)
            or LlmLedger(cycle_id=cycle_id, budget_usd=self.budget_usd, provider=self.inner.name)
        )

    def _save(self) -> None:
        if self.store is not None and self.ledger.cycle_id:
            self.store.put_document(LEDGERS, self.ledger.cycle_id, self.ledger.to_doc())

    def record_fallback(self, agent: str, reason: str) -> None:
        self.ledger.record_fallback(agent, reason)
        self._save()

    def complete(self, request: ReasonRequest) -> ReasonResponse:
        spent = self.ledger.charged_usd
        estimate = (
            self.inner.estimate_cost_usd(request) if isinstance(self.inner, CostEstimator) else 0.0
        )
        if self.budget_usd <= 0 or spent >= self.budget_usd or spent + estimate > self.budget_usd:
            self.ledger.exhausted = True
            self._save()
            raise BudgetExhaustedError(
                f"LLM budget of cycle {self.ledger.cycle_id or '?'} spent: "
                f"{spent:.4f} of {self.budget_usd:.4f} USD (next call up to {estimate:.4f})",
                spent_usd=spent,
                budget_usd=self.budget_usd,
            )
        response = self.inner.complete(request)
        self.ledger.record_call(request.agent, response)
        self._save()
        return response
