"""``make_reasoner(spec, settings, store)``: the one place that picks an LLM backend.

Specs: ``"offline"`` | ``"anthropic"`` | ``"replay:FILE"`` | ``"cache"`` (answers only
from the response cache, e.g. to re-run a past cycle). Every backend is wrapped in the
per-cycle ``BudgetedReasoner`` (so ``reasoner.ledger`` always exists); ``anthropic`` and
``replay`` also go through the response cache when a store is given.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import TYPE_CHECKING

from adapters.llm.budget import BudgetedReasoner
from adapters.llm.cache import CachedReasoner
from adapters.llm.offline import OfflineReasoner
from adapters.llm.replay import ReplayReasoner, read_replay_file
from core.errors import ConfigurationError
from core.ports import Reasoner, Store

if TYPE_CHECKING:
    from config.settings import Settings


def _resolved(spec: str | None, settings: Settings) -> str:
    spec = (spec or settings.llm.provider).strip()
    if spec == "replay" and settings.llm.replay_file is not None:
        spec = f"replay:{settings.llm.replay_file}"
    return spec


def check_spec(spec: str | None, settings: Settings) -> None:
    """Refuse an unknown backend or a replay file that cannot be read, before anything is
    opened or written (the CLI calls this first)."""
    spec = _resolved(spec, settings)
    if spec == "anthropic" and settings.llm.anthropic_api_key is None:
        raise ConfigurationError(
            "the anthropic backend needs an API key: set QUORUM_LLM__ANTHROPIC_API_KEY"
        )
    if spec in ("offline", "anthropic", "cache"):
        return
    if spec.startswith("replay:"):
        path = spec.removeprefix("replay:")
        if not path:
            raise ConfigurationError("replay backend needs a file: --llm replay:FILE")
        read_replay_file(path)  # names the file and the line of a bad record
        return
    raise ConfigurationError(
        f"unknown LLM backend {spec!r}: use offline, anthropic, replay:FILE or cache"
    )


def make_reasoner(
    spec: str | None, settings: Settings, store: Store | None = None
) -> BudgetedReasoner:
    llm = settings.llm
    spec = _resolved(spec, settings)
    inner: Reasoner
    if spec == "offline":
        return BudgetedReasoner(OfflineReasoner(), llm.budget_usd_per_cycle, store)
    if spec.startswith("replay:"):
        path = spec.removeprefix("replay:")
        if not path:
            raise ConfigurationError("replay backend needs a file: --llm replay:FILE")
        inner = ReplayReasoner.from_file(path)
        # The cache key names the file's content, not its path: an edited file is new.
        model = f"replay:{hashlib.sha256(Path(path).read_bytes()).hexdigest()[:16]}"
    elif spec == "anthropic":
        from adapters.llm.anthropic import AnthropicReasoner

        key = llm.anthropic_api_key.get_secret_value() if llm.anthropic_api_key else None
        inner = AnthropicReasoner(
            llm.model, api_key=key, timeout_s=llm.timeout_s, max_retries=llm.max_retries
        )
        model = llm.model
    elif spec == "cache":
        if store is None:
            raise ConfigurationError("the cache backend needs a store")
        return BudgetedReasoner(
            CachedReasoner(None, store, llm.model), llm.budget_usd_per_cycle, store
        )
    else:
        raise ConfigurationError(
            f"unknown LLM backend {spec!r}: use offline, anthropic, replay:FILE or cache"
        )
    if store is not None:
        inner = CachedReasoner(inner, store, model)
    return BudgetedReasoner(inner, llm.budget_usd_per_cycle, store)
