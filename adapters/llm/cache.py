"""A response cache keyed by model + prompt hash, kept in the Store's documents.

Re-running a cycle (``quorum cycle replay``) sends the same prompts, finds the same
responses and so takes the same decisions, at no cost. The cached document keeps the
original usage; a hit is returned with ``cached=True``.
"""

from __future__ import annotations

import hashlib
import json

from core.errors import TemporaryError
from core.ports import Reasoner, ReasonRequest, ReasonResponse, Store

COLLECTION = "llm_cache"


def cache_key(model: str, request: ReasonRequest) -> str:
    """Hash of everything that shapes the answer: model, prompt id, prompts, schema."""
    canonical = json.dumps(
        {
            "model": model,
            "prompt_id": request.prompt_id,
            "system": request.system,
            "user": request.user,
            "schema": request.output_schema,
        },
        sort_keys=True,
        separators=(",", ":"),
    )
    return hashlib.sha256(canonical.encode()).hexdigest()


class CachedReasoner:
    """Serve from the cache; on a miss ask ``inner`` (or fail if there is none) and store."""

    def __init__(self, inner: Reasoner | None, store: Store, model: str) -> None:
        self.inner = inner
        self.store = store
        self.model = model
        self.hits = 0
        self.misses = 0

    @property
    def name(self) -> str:
        return self.inner.name if self.inner is not None else "cache"

    def lookup(self, request: ReasonRequest) -> ReasonResponse | None:
        doc = self.store.get_document(COLLECTION, cache_key(self.model, request))
        if doc is None:
            return None
        return ReasonResponse(
            text=str(doc["text"]),
            model=str(doc["model"]),
            input_tokens=int(doc["input_tokens"]),
            output_tokens=int(doc["output_tokens"]),
            cost_usd=float(doc["cost_usd"]),
            cached=True,
        )

    def estimate_cost_usd(self, request: ReasonRequest) -> float:
        hit = self.lookup(request)
        if hit is not None:
            return hit.cost_usd
        estimate = getattr(self.inner, "estimate_cost_usd", None)
        return float(estimate(request)) if callable(estimate) else 0.0

    def complete(self, request: ReasonRequest) -> ReasonResponse:
        hit = self.lookup(request)
        if hit is not None:
            self.hits += 1
            return hit
        self.misses += 1
        if self.inner is None:
            raise TemporaryError(f"{request.agent}: no cached response for {request.prompt_id}")
        response = self.inner.complete(request)
        self.store.put_document(
            COLLECTION,
            cache_key(self.model, request),
            {
                "agent": request.agent,
                "prompt_id": request.prompt_id,
                "model": response.model,
                "text": response.text,
                "input_tokens": response.input_tokens,
                "output_tokens": response.output_tokens,
                "cost_usd": response.cost_usd,
            },
        )
        return response
