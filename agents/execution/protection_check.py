"""The reconciliation pass over protective orders (``agents.execution.protection`` has
the vocabulary): for every open position at the broker, after fills are settled,

1. **moves**: each protective stop of the symbol is tightened to the stop manager's stop
   (``stops`` figures of this cycle) through ``Broker.modify`` — same order, new price;
   never loosened, never moved through the last price (the broker's mark, else the
   day's close: that is an exit, which the portfolio manager sends), and not while an
   exit order is working;
2. **missing**: cover below the position → a GTC stop for the shortfall at the target
   stop (stop manager, else the pyramid plan's stop, else the kernel's initial stop
   around the position's average price), reference ``protective_ref`` (a re-run or a
   restart finds it, never adds a second), journaled ``PROTECTIVE_STOP_MISSING``;
3. **excess**: cover above the position → the newest stops are reduced (modify) or
   cancelled, ``PROTECTIVE_STOP_EXCESS``;
4. **orphans**: protective orders of a symbol with no position (the entry they protected
   has filled and the position is gone) are cancelled, ``PROTECTIVE_ORDER_ORPHANED``; so
   is a take-profit leg whose stop-loss sibling is gone (it is linked to no stop: beside
   a recreated stop it could sell the same shares twice).

A refusal by the broker (``OrderError``) is journaled ``PROTECTIVE_STOP_FAILED`` and the
pass goes on; a ``TemporaryError`` stops the node, and its re-run repeats the pass safely.

Reconciliation runs at the cycle's open and after execution, so the pass runs twice a
cycle (the same references both times). While trading is HALTED nothing reaches the
broker — no place, modify or cancel, as for every order — and the findings are journaled
with ``action=none_trading_halted``.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from functools import partial
from typing import Any

from agents.base import AgentContext
from agents.common import load_bars, memory_get, tool_figures
from agents.execution.protection import (
    TICK,
    ProtectionCode,
    cover,
    exit_orders,
    exit_side,
    finding,
    is_protective,
    parent_of,
    protective_ref,
    stops_of,
)
from core.errors import OrderError
from core.messages import Envelope, Note, OrderUpdate
from core.orders import (
    STOP_LOSS_LEG,
    Order,
    OrderChange,
    OrderIntent,
    OrderSide,
    OrderType,
    TimeInForce,
    bracket_child_ref,
    bracket_parent_ref,
)
from core.portfolio import Position
from core.ports import Broker
from core.risk import TradingState
from core.signals import Direction
from tools.indicators import atr
from tools.stops import bracket_levels, round_to_tick, tightened_stop


class ProtectionPass:
    def __init__(self, ctx: AgentContext, broker: Broker, sender: str) -> None:
        self.ctx, self.broker, self.sender = ctx, broker, sender
        self.out: list[Envelope] = []
        self.findings: list[str] = []
        self.moved: list[str] = []
        self.halted = ctx.trading_state is TradingState.HALTED

    def note(self, code: ProtectionCode, **context: str | int | float) -> Envelope:
        if self.halted and code is not ProtectionCode.PROTECTIVE_STOP_FAILED:
            context = {**context, "action": "none_trading_halted"}
        text = finding(code, **context)
        self.findings.append(text)
        data: dict[str, Any] = {"code": code.value, "text": text, **context}
        env = self.ctx.message(self.sender, Note(topic="protection", data=data))
        self.out.append(env)
        return env

    def update(self, cause: Envelope, order: Order) -> None:
        self.out.append(cause.reply(self.sender, OrderUpdate(order=order)))

    async def run(
        self, inbox: Sequence[Envelope], prices: dict[str, float]
    ) -> dict[str, dict[str, Any]]:
        positions = {p.symbol: p for p in await self.broker.positions() if p.quantity}
        orders = await self.broker.open_orders()
        for symbol, position in sorted(positions.items()):
            last = position.last_price if position.last_price > 0 else prices.get(symbol)
            await self.protect(inbox, position, orders, last)
        for order in orders:
            if order.symbol not in positions and self.orphaned(order):
                env = self.note(
                    ProtectionCode.PROTECTIVE_ORDER_ORPHANED,
                    symbol=order.symbol,
                    order_id=order.order_id,
                    client_ref=order.client_ref,
                )
                await self.attempt(env, partial(self.broker.cancel, order.order_id), order)
        return await self.state(positions)

    async def protect(
        self, inbox: Sequence[Envelope], position: Position, orders: list[Order], last: float | None
    ) -> None:
        symbol, held = position.symbol, abs(position.quantity)
        side, sign = exit_side(position.quantity), 1 if position.quantity > 0 else -1
        stops = stops_of(orders, symbol, side)
        closing = sum(
            o.remaining
            for o in exit_orders(orders, symbol, side)
            if o.intent.order_type is OrderType.MARKET
        )
        await self.unlinked_take_profits(orders, symbol, side)
        target, cause = self.target(inbox, position)
        through = last is not None and (target - last) * sign >= 0
        if closing == 0 and target > 0 and not through and not self.halted:
            for stop in stops:
                current = stop.intent.stop_price or 0.0
                new = tightened_stop(current, target, sign, TICK)
                if new != current:
                    env = cause or self.ctx.message(self.sender, Note(topic="protection"))
                    change = OrderChange(stop_price=new)
                    moved = await self.attempt(
                        env, partial(self.broker.modify, stop.order_id, change), stop
                    )
                    if moved is not None:
                        self.moved.append(f"{symbol} {stop.client_ref} {current:g} -> {new:g}")
        covered = sum(cover(self.ctx.store, o) for o in stops) + closing
        if covered < held and target > 0:
            intent = OrderIntent(
                symbol=symbol, side=side, quantity=held - covered, order_type=OrderType.STOP,
                stop_price=target, tif=TimeInForce.GTC,
            )  # fmt: skip
            env = self.note(
                ProtectionCode.PROTECTIVE_STOP_MISSING,
                symbol=symbol, qty=held - covered, held=held, covered=covered, stop_price=target,
            )  # fmt: skip
            ref = protective_ref(self.ctx.cycle_id, intent)
            await self.attempt(env, partial(self.broker.place, intent, ref), None)
        elif covered < held:
            self.note(ProtectionCode.PROTECTIVE_STOP_FAILED, symbol=symbol, reason="no stop price")
        elif covered > held:
            env = self.note(
                ProtectionCode.PROTECTIVE_STOP_EXCESS, symbol=symbol, held=held, covered=covered
            )
            await self.trim(env, stops, covered - held)

    async def unlinked_take_profits(
        self, orders: list[Order], symbol: str, side: OrderSide
    ) -> None:
        working = {o.client_ref for o in orders if o.is_open}
        for order in exit_orders(orders, symbol, side):
            parent_ref = bracket_parent_ref(order.client_ref)
            if parent_ref is None or order.intent.order_type is not OrderType.LIMIT:
                continue
            if bracket_child_ref(parent_ref, STOP_LOSS_LEG) in working:
                continue
            env = self.note(
                ProtectionCode.PROTECTIVE_ORDER_ORPHANED, symbol=symbol,
                order_id=order.order_id, client_ref=order.client_ref,
                reason="take_profit_without_stop",
            )  # fmt: skip
            await self.attempt(env, partial(self.broker.cancel, order.order_id), order)

    async def trim(self, env: Envelope, stops: list[Order], excess: int) -> None:
        """Reduce the newest fully-covering stops by ``excess`` shares (cancel if all)."""
        for stop in reversed(stops):
            if excess <= 0:
                return
            if cover(self.ctx.store, stop) != stop.remaining:
                continue  # a leg of an entry still filling: its parent sizes it
            cut = min(excess, stop.remaining)
            excess -= cut
            if cut == stop.remaining:
                await self.attempt(env, partial(self.broker.cancel, stop.order_id), stop)
            else:
                change = OrderChange(quantity=stop.intent.quantity - cut)
                await self.attempt(env, partial(self.broker.modify, stop.order_id, change), stop)

    async def attempt(
        self, env: Envelope, call: Callable[[], Awaitable[Order]], order: Order | None
    ) -> Order | None:
        """Make one broker call for ``env``; an ``OrderError`` is journaled, not raised.
        While halted, nothing is called."""
        if self.halted:
            return None
        try:
            done = await call()
        except OrderError as exc:
            context: dict[str, str | int | float] = {"error": str(exc)}
            if order is not None:
                context |= {"symbol": order.symbol, "order_id": order.order_id}
            if exc.broker_code is not None:
                context["broker_code"] = exc.broker_code
            self.note(ProtectionCode.PROTECTIVE_STOP_FAILED, **context)
            return None
        self.update(env, done)
        return done

    def orphaned(self, order: Order) -> bool:
        """A protective order left working after its position is gone."""
        if not is_protective(order) or not order.is_open:
            return False
        if bracket_parent_ref(order.client_ref) is None:
            return True  # a stop reconciliation placed
        parent = parent_of(self.ctx.store, order)
        return parent is not None and parent.is_terminal and parent.filled_quantity > 0

    def target(
        self, inbox: Sequence[Envelope], position: Position
    ) -> tuple[float, Envelope | None]:
        """The stop the position should have, on the tick, and the message it came from."""
        sign = 1 if position.quantity > 0 else -1
        found = tool_figures(inbox, "stops", position.symbol)
        stop, cause = 0.0, None
        if found is not None and found[1].figures.get("exit") != 1.0:
            stop, cause = float(found[1].figures.get("stop_price", 0.0)), found[0]
        if stop <= 0:
            plan = memory_get(self.ctx, "pyramiding", f"{position.symbol}:stop")
            same_side = plan.get("direction") == ("LONG" if sign > 0 else "SHORT")
            stop = float(plan.get("stop_price", 0.0)) if same_side else 0.0
        if stop <= 0:
            stop = self.kernel_stop(position, sign)
        return round_to_tick(stop, TICK, up=sign < 0), cause

    def kernel_stop(self, position: Position, sign: int) -> float:
        try:
            bars = load_bars(self.ctx, position.symbol)
        except KeyError:
            return 0.0
        atr_now = float(atr(bars.high, bars.low, bars.close, 14)[-1])
        direction = Direction.LONG if sign > 0 else Direction.SHORT
        return bracket_levels(position.avg_price, atr_now, direction, tick=TICK).stop_loss or 0.0

    async def state(self, positions: dict[str, Position]) -> dict[str, dict[str, Any]]:
        """Per open position after the pass: shares held, covered, and the stop prices."""
        orders = await self.broker.open_orders()
        report: dict[str, dict[str, Any]] = {}
        for symbol, position in sorted(positions.items()):
            side = exit_side(position.quantity)
            stops = stops_of(orders, symbol, side)
            report[symbol] = {
                "held": abs(position.quantity),
                "covered": sum(cover(self.ctx.store, o) for o in stops),
                "stops": sorted({o.intent.stop_price or 0.0 for o in stops}),
            }
        return report
