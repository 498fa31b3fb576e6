"""Small helpers shared by agents: reading the inbox, loading bars, the current book.

Nothing here computes a trading number: indicators, sizes and risk figures come from
``tools``. These helpers only find messages, load point-in-time bars and read the
portfolio the reconciliation agent keeps in the store.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import timedelta
from typing import Any, TypeVar

import numpy as np

from agents.base import AgentContext
from core.bars import BarSeries
from core.errors import DataValidationError, TemporaryError
from core.messages import (
    Assessment,
    BarsPublished,
    Envelope,
    Note,
    SignalPayload,
    ToolFigures,
    TradeIdeaPayload,
)
from core.portfolio import Portfolio, apply_fill
from core.ports import MarketData

P = TypeVar("P")

BOOK_LABEL = "book"  # the portfolio snapshot the agents keep (reconciliation writes it)
DEFAULT_LOOKBACK_DAYS = 550  # calendar days of history an agent loads (≥ 200 bars)
DEFAULT_STARTING_CASH = 100_000.0


def setting(ctx: AgentContext, agent: str, key: str, default: Any) -> Any:
    """An agent parameter: ``ctx.settings["agents"][agent][key]``, then ``ctx.settings[key]``."""
    per_agent = ctx.settings.get("agents", {})
    if isinstance(per_agent, dict) and key in per_agent.get(agent, {}):
        return per_agent[agent][key]
    return ctx.settings.get(key, default)


# -- inbox ------------------------------------------------------------------------------
def payloads(inbox: Iterable[Envelope], kind: type[P]) -> list[tuple[Envelope, P]]:
    """(envelope, payload) pairs whose payload is of type ``kind``, in inbox order."""
    return [(m, m.payload) for m in inbox if isinstance(m.payload, kind)]


def notes(inbox: Iterable[Envelope], topic: str) -> list[tuple[Envelope, Note]]:
    return [(m, p) for m, p in payloads(inbox, Note) if p.topic == topic]


def latest_note(inbox: Sequence[Envelope], topic: str) -> tuple[Envelope, Note] | None:
    found = notes(inbox, topic)
    return found[-1] if found else None


def shortlist_of(inbox: Sequence[Envelope]) -> tuple[list[str], str | None]:
    """The workflow's latest shortlist (symbols, message id)."""
    found = latest_note(inbox, "shortlist")
    if found is None:
        return [], None
    env, note = found
    return [str(s) for s in note.data.get("symbols", [])], env.id


def published_symbols(ctx: AgentContext, inbox: Sequence[Envelope]) -> list[str]:
    """Symbols the data desk published bars for (all of the universe if it said nothing)."""
    published = [s for _, p in payloads(inbox, BarsPublished) for s in p.symbols]
    if not published:
        return list(ctx.universe)
    allowed = set(published)
    return [s for s in ctx.universe if s in allowed]


def bars_message_id(inbox: Sequence[Envelope], symbol: str) -> str | None:
    for env, p in payloads(inbox, BarsPublished):
        if symbol in p.symbols:
            return env.id
    return None


def tool_figures(
    inbox: Iterable[Envelope], tool: str, symbol: str | None = None
) -> tuple[Envelope, ToolFigures] | None:
    """The latest ``tool_figures`` of ``tool`` (for ``symbol``)."""
    found = [
        (m, p) for m, p in payloads(inbox, ToolFigures) if p.tool == tool and p.symbol == symbol
    ]
    return found[-1] if found else None


def signals_for(inbox: Iterable[Envelope], symbol: str) -> list[tuple[Envelope, SignalPayload]]:
    return [(m, p) for m, p in payloads(inbox, SignalPayload) if p.signal.symbol == symbol]


def assessments(
    inbox: Iterable[Envelope], topic: str, symbol: str | None = None
) -> list[tuple[Envelope, Assessment]]:
    return [
        (m, p)
        for m, p in payloads(inbox, Assessment)
        if p.topic == topic and (symbol is None or p.symbol == symbol)
    ]


def trade_ideas(inbox: Iterable[Envelope]) -> list[tuple[Envelope, TradeIdeaPayload]]:
    return payloads(inbox, TradeIdeaPayload)


def symbol_facts(inbox: Iterable[Envelope], symbol: str) -> dict[str, float]:
    """Every tool figure about ``symbol`` in the inbox, keyed ``SYMBOL.figure``: what an
    LLM may cite about it."""
    facts: dict[str, float] = {}
    for _, p in payloads(inbox, ToolFigures):
        if p.symbol == symbol:
            facts.update({f"{symbol}.{k}": v for k, v in p.figures.items()})
    for _, sp in signals_for(inbox, symbol):
        sig = sp.signal
        facts[f"{symbol}.{sig.strategy}_strength"] = sig.strength
        facts.update({f"{symbol}.{sig.strategy}_{k}": v for k, v in sig.figures.items()})
    for _, a in payloads(inbox, Assessment):
        if a.symbol == symbol and a.topic in ("sentiment", "fundamentals", "technical"):
            facts[f"{symbol}.{a.topic}_score"] = a.score
    return {k: float(v) for k, v in facts.items() if np.isfinite(v)}


# -- market data ------------------------------------------------------------------------
def providers(ctx: AgentContext) -> list[MarketData]:
    """The market data providers in failover order: the cycle's view, then any fallbacks
    in ``ctx.settings["market_fallbacks"]``."""
    return [ctx.market, *ctx.settings.get("market_fallbacks", ())]


def load_bars(ctx: AgentContext, symbol: str, lookback_days: int | None = None) -> BarSeries:
    """Point-in-time adjusted bars of ``symbol`` (up to ``ctx.as_of``), from the first
    provider that has them. Raises ``KeyError`` if none does."""
    days = lookback_days or int(ctx.settings.get("lookback_days", DEFAULT_LOOKBACK_DAYS))
    start = ctx.as_of - timedelta(days=days)
    errors: list[str] = []
    for market in providers(ctx):
        try:
            series = market.bars(symbol, start=start, end=ctx.as_of)
        except (KeyError, DataValidationError, TemporaryError) as exc:
            errors.append(f"{type(market).__name__}: {exc}")
            continue
        if len(series):
            return series
        errors.append(f"{type(market).__name__}: no bars")
    raise KeyError(f"{symbol}: no provider has bars up to {ctx.as_of} ({'; '.join(errors)})")


def last_closes(
    ctx: AgentContext, inbox: Sequence[Envelope], symbols: Iterable[str]
) -> dict[str, float]:
    """Last close per symbol: from ``bars_published`` when present, else from the bars."""
    closes: dict[str, float] = {}
    for _, p in payloads(inbox, BarsPublished):
        closes.update(p.last_close)
    for symbol in symbols:
        if symbol not in closes:
            try:
                closes[symbol] = load_bars(ctx, symbol, lookback_days=30).last_close
            except KeyError:
                continue
    return closes


# -- the book ---------------------------------------------------------------------------
def book_label(ctx: AgentContext) -> str:
    return str(ctx.settings.get("book_label", BOOK_LABEL))


def current_portfolio(ctx: AgentContext, prices: dict[str, float] | None = None) -> Portfolio:
    """The agents' book: the last reconciled snapshot plus any fill stored since, marked at
    ``prices``; a fresh account with ``starting_cash`` before the first reconciliation."""
    book = ctx.store.latest_snapshot(book_label(ctx))
    if book is None:
        cash = float(ctx.settings.get("starting_cash", DEFAULT_STARTING_CASH))
        book = Portfolio.open(cash)
    # Fills that arrived since the last reconciliation (e.g. at today's open) count now —
    # up to the as-of date only, so a replayed past cycle does not see later fills;
    # apply_fill ignores a fill id it has already applied.
    for fill in sorted(ctx.store.fills(), key=lambda f: f.ts):
        if fill.fill_id not in book.fill_ids and fill.ts.date() <= ctx.as_of:
            book = apply_fill(book, fill)
    return book.mark(prices) if prices else book


# -- memory, versioned by cycle ------------------------------------------------------------
# Every write is a new version (kv ``agent_memory:<agent>:<key>``, with the cycle and its
# date). A cycle reads the latest version written by itself or by a cycle of an earlier
# day, so replaying an old cycle sees the memory of that day, not today's.
def _memory_key(agent: str, key: str) -> str:
    return f"agent_memory:{agent}:{key}"


def memory_get(ctx: AgentContext, agent: str, key: str) -> dict[str, Any]:
    day = ctx.as_of.isoformat()
    history = ctx.store.kv_history(_memory_key(agent, key))
    for entry in reversed(history):
        value = entry.value
        if not isinstance(value, dict):
            continue
        if value.get("cycle_id") == ctx.cycle_id or str(value.get("as_of", "")) < day:
            return dict(value.get("doc") or {})
    if history:
        return {}
    # A store written before memory was versioned: its one, unversioned document.
    return ctx.store.get_document("agent_memory", f"{agent}:{key}") or {}


def memory_put(ctx: AgentContext, agent: str, key: str, doc: dict[str, Any]) -> None:
    value = {"cycle_id": ctx.cycle_id, "as_of": ctx.as_of.isoformat(), "doc": doc}
    ctx.store.kv_set(_memory_key(agent, key), value, actor=agent)
