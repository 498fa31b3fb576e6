"""market_data: load and validate the universe's bars, fail over between providers,
publish what is usable.

Providers are tried in order (the cycle's point-in-time view, then
``ctx.settings["market_fallbacks"]``). A symbol's bars are usable when the provider has
them and the last bar is no older than ``max_staleness_days`` before the as-of date;
``BarSeries`` itself guarantees the bars are well-formed. Unusable symbols are reported
in a ``data_problem`` note rather than dropped silently.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

import numpy as np

from agents.base import AgentContext, AgentSpec, Desk, Reasoning
from agents.common import providers, setting
from core.bars import BarSeries
from core.errors import DataValidationError, TemporaryError
from core.messages import BarsPublished, Envelope, Note

NAME = "market_data"
DEFAULT_MAX_STALENESS_DAYS = 5


def _last_day(series: BarSeries) -> datetime:
    seconds = int(series.timestamps[-1].astype("datetime64[s]").astype(np.int64))
    return datetime.fromtimestamp(seconds, tz=UTC)


def run(ctx: AgentContext, inbox: Sequence[Envelope]) -> list[Envelope]:
    stale_after = timedelta(days=int(setting(ctx, NAME, "max_staleness_days", DEFAULT_MAX_STALENESS_DAYS)))
    lookback = int(setting(ctx, NAME, "lookback_days", 550))
    start = ctx.as_of - timedelta(days=lookback)
    by_source: dict[str, dict[str, BarSeries]] = defaultdict(dict)
    problems: dict[str, list[str]] = {}
    for symbol in ctx.universe:
        tried: list[str] = []
        for index, market in enumerate(providers(ctx)):
            source = "primary" if index == 0 else f"fallback{index}:{type(market).__name__}"
            try:
                series = market.bars(symbol, start=start, end=ctx.as_of)
            except (KeyError, DataValidationError, TemporaryError) as exc:
                tried.append(f"{source}: {type(exc).__name__}: {exc}"[:200])
                continue
            if not len(series):
                tried.append(f"{source}: no bars up to {ctx.as_of}")
                continue
            age = ctx.as_of - _last_day(series).date()
            if age > stale_after:
                tried.append(f"{source}: last bar {age.days} days old")
                continue
            if not np.isfinite(series.last_close):
                tried.append(f"{source}: non-finite close")
                continue
            by_source[source][symbol] = series
            break
        else:
            problems[symbol] = tried
    out: list[Envelope] = []
    for source, series_by_symbol in by_source.items():
        last = max(_last_day(s) for s in series_by_symbol.values())
        out.append(
            ctx.message(
                NAME,
                BarsPublished(
                    as_of=last,
                    symbols=tuple(series_by_symbol),
                    bars=min(len(s) for s in series_by_symbol.values()),
                    source=source,
                    last_close={sym: s.last_close for sym, s in series_by_symbol.items()},
                ),
            )
        )
    if problems:
        out.append(ctx.message(NAME, Note(topic="data_problem", data={"symbols": problems})))
    return out


SPEC = AgentSpec(
    name=NAME,
    desk=Desk.DATA,
    consumes=(),
    produces=("bars_published", "note"),
    reasoning=Reasoning.DETERMINISTIC,
    run=run,
    description="load, validate, fail over between providers, publish bars",
)
