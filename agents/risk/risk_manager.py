"""risk_manager: sizes each trade idea with ``tools.sizing`` and runs the pre-trade check
(``tools.pretrade.check_orders``) on the resulting intents.

- Entry (LONG/SHORT not already held that way): ATR volatility-target size —
  ``atr_position_size(equity, cash, close, ATR14, risk_fraction, atr_multiple,
  max_position_weight)``, and never more than ``max_order_notional / close`` shares; zero
  shares is a denial (``INVALID_QUANTITY``), never a silent skip.
- Exit (FLAT or the opposite of a held position): the held quantity.

Intents are checked as one batch, exits first (they free room), then entries by
conviction, so the best ideas get the capacity. Each idea gets ``tool_figures`` (tool
``sizing``: the quantity and the figures behind it, for the portfolio manager) and a
``risk_verdict``. If the kernel moves the state to HALTED (drawdown), that is announced.
"""

from __future__ import annotations

from collections.abc import Sequence

from agents.base import AgentContext, AgentSpec, Desk, Reasoning
from agents.common import current_portfolio, last_closes, load_bars, setting, trade_ideas
from agents.tunables import RiskManagerParams
from core.messages import Envelope, RiskVerdict, StateChange, ToolFigures, TradeIdeaPayload
from core.orders import OrderIntent, OrderSide
from core.portfolio import Portfolio
from core.risk import Denial, DenialCode, TradingState
from core.signals import Direction, TradeIdea
from tools.indicators import atr
from tools.pretrade import check_orders
from tools.sizing import atr_position_size

NAME = "risk_manager"
DEFAULTS = RiskManagerParams()


def is_exit(idea: TradeIdea, held: int) -> bool:
    wanted = {Direction.LONG: 1, Direction.SHORT: -1, Direction.FLAT: 0}[idea.direction]
    return held != 0 and (wanted == 0 or (wanted > 0) != (held > 0))


def size_idea(
    ctx: AgentContext, idea: TradeIdea, book: Portfolio, price: float
) -> tuple[OrderIntent | None, dict[str, float]]:
    """The intent for ``idea`` (``None`` if it sizes to zero) and the sizing figures."""
    held = book.quantity(idea.symbol)
    if is_exit(idea, held):
        side = OrderSide.SELL if held > 0 else OrderSide.BUY
        intent = OrderIntent(
            symbol=idea.symbol, side=side, quantity=abs(held), reference_price=price
        )
        return intent, {"quantity": float(abs(held)), "reference_price": price, "exit": 1.0}
    risk_fraction = float(setting(ctx, NAME, "risk_fraction", DEFAULTS.risk_fraction))
    atr_multiple = float(setting(ctx, NAME, "atr_multiple", DEFAULTS.atr_multiple))
    bars = load_bars(ctx, idea.symbol)
    atr_now = float(atr(bars.high, bars.low, bars.close, 14)[-1])
    qty = int(
        atr_position_size(
            book.equity, book.cash, price, atr_now, risk_fraction, atr_multiple,
            ctx.limits.max_position_weight,
        )
    )  # fmt: skip
    # The weight cap scales with equity, the notional cap does not: on a large account
    # (an IBKR paper account starts at 1,000,000) 30 % of equity is over 250,000, and an
    # entry sized past the cap would always be denied. Size within it instead.
    qty = min(qty, int(ctx.limits.max_order_notional // price)) if price > 0 else qty
    figures = {
        "quantity": float(qty),
        "reference_price": price,
        "atr_14": atr_now,
        "risk_fraction": risk_fraction,
        "atr_multiple": atr_multiple,
        "equity": book.equity,
        "cash": book.cash,
        "exit": 0.0,
    }
    if qty <= 0:
        return None, figures
    side = OrderSide.BUY if idea.direction is Direction.LONG else OrderSide.SELL
    return OrderIntent(symbol=idea.symbol, side=side, quantity=qty, reference_price=price), figures


def run(ctx: AgentContext, inbox: Sequence[Envelope]) -> list[Envelope]:
    ideas = trade_ideas(inbox)
    if not ideas:
        return []
    stored = current_portfolio(ctx)
    symbols = sorted({*stored.open_positions, *(p.idea.symbol for _, p in ideas)})
    prices = last_closes(ctx, inbox, symbols)
    book = current_portfolio(ctx, prices)

    def priority(item: tuple[Envelope, TradeIdeaPayload]) -> tuple[int, float, str]:
        idea = item[1].idea
        return (
            0 if is_exit(idea, book.quantity(idea.symbol)) else 1,
            -idea.conviction,
            idea.symbol,
        )

    out: list[Envelope] = []
    batch: list[tuple[Envelope, OrderIntent]] = []
    for env, payload in sorted(ideas, key=priority):
        idea = payload.idea
        price = prices.get(idea.symbol)
        if price is None:
            denial = Denial(code=DenialCode.UNKNOWN_SYMBOL, context={"symbol": idea.symbol})
            out.append(
                env.reply(
                    NAME,
                    RiskVerdict(symbol=idea.symbol, approved=False, denial=denial, checked_by=NAME),
                )
            )
            continue
        intent, figures = size_idea(ctx, idea, book, price)
        fig_env = env.reply(NAME, ToolFigures(tool="sizing", symbol=idea.symbol, figures=figures))
        out.append(fig_env)
        if intent is None:
            denial = Denial(
                code=DenialCode.INVALID_QUANTITY,
                context={"symbol": idea.symbol, "quantity": 0, "reason": "sizes_to_zero"},
            )
            out.append(
                fig_env.reply(
                    NAME,
                    RiskVerdict(symbol=idea.symbol, approved=False, denial=denial, checked_by=NAME),
                )
            )
            continue
        batch.append((fig_env, intent))
    if batch:
        outcome = check_orders(book, [i for _, i in batch], prices, ctx.limits, ctx.trading_state)
        for (fig_env, intent), verdict_denial in zip(batch, outcome.denials, strict=True):
            verdict = RiskVerdict(
                symbol=intent.symbol,
                approved=verdict_denial is None,
                denial=verdict_denial,
                checked_by=NAME,
            )
            out.append(fig_env.reply(NAME, verdict))
        if outcome.state is TradingState.HALTED and ctx.trading_state is not TradingState.HALTED:
            first = next((d for d in outcome.denials if d is not None), None)
            out.append(
                ctx.message(
                    NAME,
                    StateChange(
                        state=TradingState.HALTED,
                        reason=str(first or "pre-trade check halted trading"),
                    ),
                )
            )
    return out


SPEC = AgentSpec(
    name=NAME,
    desk=Desk.RISK,
    consumes=("trade_idea", "bars_published"),
    produces=("tool_figures", "risk_verdict", "state_change"),
    reasoning=Reasoning.KERNELS,
    run=run,
    description="sizes ideas and runs pre-trade checks (kernels only)",
)
