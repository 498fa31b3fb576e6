"""compliance: market sessions, the restricted list, the universe and the paper/live
safeguard, for every trade idea.

Checks, first failure wins (each a ``DenialCode``):

- ``LIVE_NOT_CONFIRMED`` — the broker is live but the settings are not ``mode = "live"``
  with ``live_confirmed``; or the settings say paper and the broker is live.
- ``UNKNOWN_SYMBOL`` — the symbol is not in the cycle's universe.
- ``RESTRICTED_SYMBOL`` — the symbol is on the restricted list.
- ``MARKET_CLOSED`` — the as-of date is not a trading session of the symbol's exchange
  (exchange-calendars: ``XPAR`` for Euronext Paris listings, else ``XNYS``). The daily
  cycle runs after the close, so the check is on the session date, not the clock.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from functools import lru_cache
from typing import Any

from agents.base import AgentContext, AgentSpec, Desk, Reasoning
from agents.common import setting, trade_ideas
from core.messages import Envelope, RiskVerdict
from core.risk import Denial, DenialCode

NAME = "compliance"
PARIS_EXCHANGES = frozenset({"XPAR", "EPA", "SBF", "ENEXT", "EURONEXT", "PARIS", "ENEXT.BE"})


@lru_cache(maxsize=4)
def calendar(code: str) -> Any:
    import exchange_calendars

    return exchange_calendars.get_calendar(code, start="1990-01-01")


def exchange_of(ctx: AgentContext, symbol: str) -> str:
    try:
        primary = ctx.market.instrument(symbol).primary_exchange.upper()
    except KeyError:
        primary = ""
    if primary in PARIS_EXCHANGES or symbol.upper().endswith(".PA"):
        return "XPAR"
    return str(setting(ctx, NAME, "default_exchange", "XNYS"))


def is_session(code: str, day: date) -> bool:
    cal = calendar(code)
    if not cal.first_session.date() <= day <= cal.last_session.date():
        return False
    return bool(cal.is_session(day.isoformat()))


def mode_denial(ctx: AgentContext) -> Denial | None:
    mode = str(ctx.settings.get("mode", "paper"))
    confirmed = bool(ctx.settings.get("live_confirmed", False))
    live = ctx.broker is not None and ctx.broker.is_live
    if live and not (mode == "live" and confirmed):
        return Denial(
            code=DenialCode.LIVE_NOT_CONFIRMED,
            context={"mode": mode, "live_confirmed": str(confirmed), "broker": "live"},
        )
    return None


def check(ctx: AgentContext, symbol: str) -> Denial | None:
    denial = mode_denial(ctx)
    if denial is not None:
        return denial
    if symbol not in ctx.universe:
        return Denial(code=DenialCode.UNKNOWN_SYMBOL, context={"symbol": symbol})
    if symbol in ctx.restricted:
        return Denial(code=DenialCode.RESTRICTED_SYMBOL, context={"symbol": symbol})
    exchange = exchange_of(ctx, symbol)
    if not is_session(exchange, ctx.as_of):
        return Denial(
            code=DenialCode.MARKET_CLOSED,
            context={"symbol": symbol, "exchange": exchange, "date": ctx.as_of.isoformat()},
        )
    return None


def run(ctx: AgentContext, inbox: Sequence[Envelope]) -> list[Envelope]:
    out: list[Envelope] = []
    for env, payload in trade_ideas(inbox):
        symbol = payload.idea.symbol
        denial = check(ctx, symbol)
        verdict = RiskVerdict(
            symbol=symbol, approved=denial is None, denial=denial, checked_by=NAME
        )
        out.append(env.reply(NAME, verdict))
    return out


SPEC = AgentSpec(
    name=NAME,
    desk=Desk.RISK,
    consumes=("trade_idea",),
    produces=("risk_verdict",),
    reasoning=Reasoning.DETERMINISTIC,
    run=run,
    description="market hours, restricted list, mode safeguards",
)
