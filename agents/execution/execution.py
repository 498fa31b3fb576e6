"""execution: places the portfolio manager's order intents through the ``Broker`` port,
idempotently, under the order rate limit, and only while trading is not halted.

- The client reference must be ``core.orders.make_client_ref(cycle_id, intent)``: the same
  intent in the same cycle always has the same reference.
- Before placing, the store is asked for an order with that reference; if there is one
  (a re-run after a crash), its current state is reported and nothing is sent.
- HALTED: nothing is sent; each intent gets a ``TRADING_HALTED`` rejection.
- Rate: a token bucket of ``limits.orders_per_minute`` (or the shared limiter in
  ``ctx.settings["rate_limiter"]``); an order that cannot get a token within
  ``max_rate_wait_s`` is rejected with ``ORDER_RATE_EXCEEDED``.
- An exit (an intent on the exit side of a position the broker holds) first cancels the
  symbol's protective orders (``protection.release``: bracket legs, reconciliation's
  stops), so the exit and a stop never both close the same shares; each cancellation is
  an ``order_update``. If the exit then fails, reconciliation puts a stop back.
- An ``OrderError`` from the broker (the order itself is wrong) becomes a
  ``broker_error`` note; a ``TemporaryError`` propagates, so the cycle stops at this
  node and a re-run resumes here without duplicates.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from typing import Any

from agents.base import AgentContext, AgentSpec, Desk, Reasoning
from agents.common import payloads, setting
from agents.execution.protection import exit_side, release
from core.errors import ConfigurationError, OrderError
from core.messages import Envelope, Note, OrderIntentPayload, OrderUpdate, Rejection
from core.orders import make_client_ref
from core.risk import Denial, DenialCode, TradingState

NAME = "execution"


class TokenBucket:
    """A per-run token bucket (the shared, cross-process one is ``SharedState.rate_limiter``)."""

    def __init__(self, per_minute: int) -> None:
        self.capacity = float(per_minute)
        self.tokens = float(per_minute)
        self.rate = per_minute / 60.0
        self.stamp = time.monotonic()

    def try_acquire(self, tokens: int = 1) -> float:
        now = time.monotonic()
        self.tokens = min(self.capacity, self.tokens + (now - self.stamp) * self.rate)
        self.stamp = now
        if self.tokens >= tokens:
            self.tokens -= tokens
            return 0.0
        return (tokens - self.tokens) / self.rate


async def _acquire(limiter: Any, max_wait_s: float) -> bool:
    deadline = time.monotonic() + max_wait_s
    while True:
        wait = float(limiter.try_acquire(1))
        if wait <= 0.0:
            return True
        if time.monotonic() + wait > deadline:
            return False
        await asyncio.sleep(wait)


def _reject(
    ctx: AgentContext, env: Envelope, code: DenialCode, detail: str, **context: str | int | float
) -> Envelope:
    return env.reply(
        NAME, Rejection(source=NAME, denial=Denial(code=code, context=context), detail=detail)
    )


async def run(ctx: AgentContext, inbox: Sequence[Envelope]) -> list[Envelope]:
    intents = payloads(inbox, OrderIntentPayload)
    if not intents:
        return []
    if ctx.broker is None:
        raise ConfigurationError("the execution agent needs a broker")
    limiter = ctx.settings.get("rate_limiter") or TokenBucket(ctx.limits.orders_per_minute)
    max_wait = float(setting(ctx, NAME, "max_rate_wait_s", 5.0))
    out: list[Envelope] = []
    held: dict[str, int] | None = None
    for env, payload in intents:
        intent, ref = payload.intent, payload.client_ref
        if ctx.trading_state is TradingState.HALTED:
            out.append(
                _reject(
                    ctx,
                    env,
                    DenialCode.TRADING_HALTED,
                    "trading halted: not sent",
                    symbol=intent.symbol,
                )
            )
            continue
        if ref != make_client_ref(ctx.cycle_id, intent):
            out.append(
                _reject(
                    ctx,
                    env,
                    DenialCode.AGENT_VETO,
                    "client_ref is not the cycle's reference for this intent",
                    symbol=intent.symbol,
                    client_ref=ref,
                )
            )
            continue
        existing = ctx.store.order_by_client_ref(ref)
        if existing is not None:
            out.append(env.reply(NAME, OrderUpdate(order=existing)))
            continue
        if not await _acquire(limiter, max_wait):
            out.append(
                _reject(
                    ctx,
                    env,
                    DenialCode.ORDER_RATE_EXCEEDED,
                    "no rate token in time",
                    symbol=intent.symbol,
                    per_minute=ctx.limits.orders_per_minute,
                )
            )
            continue
        try:
            if held is None:
                held = {p.symbol: p.quantity for p in await ctx.broker.positions()}
            if held.get(intent.symbol) and intent.side is exit_side(held[intent.symbol]):
                for cancelled in await release(ctx.broker, intent.symbol, intent.side):
                    out.append(env.reply(NAME, OrderUpdate(order=cancelled)))
            order = await ctx.broker.place(intent, ref)
        except OrderError as exc:
            data = {
                "symbol": intent.symbol,
                "client_ref": ref,
                "error": str(exc),
                "broker_code": exc.broker_code,
            }
            out.append(env.reply(NAME, Note(topic="broker_error", data=data)))
            continue
        if ctx.store.order(order.order_id) is None:  # the broker may already have stored it
            ctx.store.save_order(order)
        out.append(env.reply(NAME, OrderUpdate(order=order)))
    return out


SPEC = AgentSpec(
    name=NAME,
    desk=Desk.EXECUTION,
    consumes=("order_intent",),
    produces=("order_update", "rejection", "note"),
    reasoning=Reasoning.DETERMINISTIC,
    run=run,
    is_async=True,
    description="idempotent order placement, rate limits, order types",
)
