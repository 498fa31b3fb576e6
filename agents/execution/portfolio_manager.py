"""portfolio_manager: turns approved ideas, pyramid adds and stop exits into order intents
within the cash budget, checks the final batch, and writes the day's note.

Inputs (the workflow passes only ideas that passed every risk check):
- approved ``trade_idea`` + the risk manager's ``sizing`` figures → entry or exit intent;
- ``pyramid_add`` figures (pyramiding) → an add of the plan's tranche size;
- ``stops`` figures with ``exit = 1`` (stop manager) → close the position.

Entries are funded in order of conviction from the cash left (a reserve of
``cash_buffer`` covers slippage and commission); one that no longer fits is re-sized with
``tools.sizing.atr_position_size`` against the cash left, or dropped with a note. The
final batch goes through ``tools.pretrade.check_orders`` once more — pyramid adds did not
pass the risk desk — and each denied intent becomes a ``rejection``. Approved intents are
``order_intent`` messages with ``client_ref = make_client_ref(cycle_id, intent)``.

Entries and pyramid adds go out as brackets (``agents.execution.protection``): a GTC
stop-loss and take-profit from the kernels ride with the order, so the position is
protected at the broker from its fill on. Exits are plain market orders.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from agents.base import AgentContext, AgentSpec, Desk, Reasoning
from agents.common import (
    current_portfolio,
    last_closes,
    payloads,
    setting,
    tool_figures,
    trade_ideas,
)
from agents.execution.protection import add_levels, entry_levels
from agents.llm_judgement import judge, load_prompt, prompt_file
from agents.narrative import NarrativeJudgement
from core.messages import Envelope, Note, OrderIntentPayload, Rejection, ToolFigures
from core.orders import OrderIntent, OrderSide, make_client_ref
from core.portfolio import Portfolio
from core.risk import TradingState
from tools.pretrade import check_orders
from tools.sizing import atr_position_size

NAME = "portfolio_manager"


@dataclass(frozen=True)
class Candidate:
    cause: Envelope
    intent: OrderIntent
    reason: str  # entry | exit | pyramid_add | stop_exit
    priority: float
    sizing: dict[str, float] = field(default_factory=dict)  # the risk manager's figures


def _exit_intent(book: Portfolio, symbol: str, price: float) -> OrderIntent | None:
    held = book.quantity(symbol)
    if held == 0:
        return None
    side = OrderSide.SELL if held > 0 else OrderSide.BUY
    return OrderIntent(symbol=symbol, side=side, quantity=abs(held), reference_price=price)


def candidates(
    ctx: AgentContext, inbox: Sequence[Envelope], book: Portfolio, prices: dict[str, float]
) -> list[Candidate]:
    found: list[Candidate] = []
    exiting: set[str] = set()
    for env, fig in payloads(inbox, ToolFigures):
        if fig.tool == "stops" and fig.symbol and fig.figures.get("exit") == 1.0:
            intent = _exit_intent(book, fig.symbol, prices.get(fig.symbol, fig.figures["close"]))
            if intent is not None and fig.symbol not in exiting:
                exiting.add(fig.symbol)
                found.append(Candidate(env, intent, "stop_exit", 2.0))
    for env, payload in trade_ideas(inbox):
        idea = payload.idea
        sized = tool_figures(inbox, "sizing", idea.symbol)
        if sized is None or idea.symbol in exiting:
            continue
        qty = int(sized[1].figures.get("quantity", 0))
        if sized[1].figures.get("exit") == 1.0:
            intent = _exit_intent(
                book, idea.symbol, prices.get(idea.symbol, sized[1].figures["reference_price"])
            )
            if intent is not None:
                exiting.add(idea.symbol)
                found.append(Candidate(env, intent, "exit", 1.5))
            continue
        if qty <= 0:
            continue
        side = OrderSide.BUY if idea.direction.value == "LONG" else OrderSide.SELL
        price = prices.get(idea.symbol, sized[1].figures["reference_price"])
        entry = OrderIntent(symbol=idea.symbol, side=side, quantity=qty, reference_price=price)
        found.append(
            Candidate(
                env,
                entry_levels(ctx, entry, float(sized[1].figures.get("atr_14", 0.0))),
                "entry",
                idea.conviction,
                dict(sized[1].figures),
            )
        )
    for env, fig in payloads(inbox, ToolFigures):
        if fig.tool == "pyramid_add" and fig.symbol and fig.symbol not in exiting:
            qty = int(fig.figures.get("tranche_quantity", 0))
            if qty > 0:
                side = OrderSide.BUY if fig.figures.get("direction", 1.0) > 0 else OrderSide.SELL
                price = prices.get(fig.symbol, fig.figures["close"])
                add = OrderIntent(symbol=fig.symbol, side=side, quantity=qty, reference_price=price)
                stop = float(fig.figures.get("stop_after_fill", 0.0))
                found.append(Candidate(env, add_levels(ctx, inbox, add, stop), "pyramid_add", 0.5))
    return found


def resize_to_cash(
    ctx: AgentContext, cand: Candidate, book: Portfolio, cash_left: float
) -> OrderIntent | None:
    """The same ATR sizing as the risk manager's, against the cash still unspent."""
    f = cand.sizing
    if not f or cand.intent.reference_price is None:
        return None
    qty = int(
        atr_position_size(
            book.equity,
            cash_left,
            cand.intent.reference_price,
            f.get("atr_14", 0.0),
            f.get("risk_fraction", 0.0),
            f.get("atr_multiple", 0.0),
            ctx.limits.max_position_weight,
        )
    )
    qty = min(qty, cand.intent.quantity)
    return cand.intent.model_copy(update={"quantity": qty}) if qty > 0 else None


def fund(
    ctx: AgentContext, cands: list[Candidate], book: Portfolio
) -> tuple[list[Candidate], list[Envelope]]:
    """Exits always; growing orders by priority while the cash lasts (re-sized if needed)."""
    buffer = float(setting(ctx, NAME, "cash_buffer", 0.005))
    cash = book.cash
    kept: list[Candidate] = []
    notes: list[Envelope] = []
    for cand in sorted(cands, key=lambda c: (-c.priority, c.intent.symbol)):
        intent = cand.intent
        if cand.reason in ("exit", "stop_exit"):
            kept.append(cand)
            continue
        price = intent.reference_price or 0.0
        cost = intent.quantity * price * (1 + buffer)
        if cost > cash:
            resized = resize_to_cash(ctx, cand, book, cash / (1 + buffer))
            if resized is None:
                data = {
                    "symbol": cand.intent.symbol,
                    "reason": "no cash left",
                    "cash": round(cash, 2),
                }
                notes.append(cand.cause.reply(NAME, Note(topic="not_funded", data=data)))
                continue
            intent = resized
            cost = intent.quantity * price * (1 + buffer)
        cash -= cost
        kept.append(Candidate(cand.cause, intent, cand.reason, cand.priority, cand.sizing))
    return kept, notes


def run(ctx: AgentContext, inbox: Sequence[Envelope]) -> list[Envelope]:
    stored = current_portfolio(ctx)
    symbols = sorted({*stored.open_positions, *(p.idea.symbol for _, p in trade_ideas(inbox))})
    prices = last_closes(ctx, inbox, symbols)
    book = current_portfolio(ctx, prices)
    cands = candidates(ctx, inbox, book, prices)
    if ctx.trading_state is TradingState.HALTED:
        cands = []
    funded, out = fund(ctx, cands, book)
    decisions: list[str] = []
    if funded:
        outcome = check_orders(
            book, [c.intent for c in funded], prices, ctx.limits, ctx.trading_state
        )
        for cand, denial in zip(funded, outcome.denials, strict=True):
            if denial is not None and cand.reason == "pyramid_add":
                # An add is optional: a cap that stops it is expected, not a desk decision
                # that was refused. Journaled as a note, not as a rejection.
                data = {"symbol": cand.intent.symbol, "denial": str(denial)}
                out.append(cand.cause.reply(NAME, Note(topic="pyramid_add_skipped", data=data)))
                continue
            if denial is not None:
                out.append(
                    cand.cause.reply(
                        NAME,
                        Rejection(
                            source=NAME,
                            denial=denial,
                            detail=f"{cand.reason} denied by the final pre-trade check",
                        ),
                    )
                )
                decisions.append(f"{cand.intent.symbol} {cand.reason} denied ({denial.code.value})")
                continue
            ref = make_client_ref(ctx.cycle_id, cand.intent)
            out.append(
                cand.cause.reply(NAME, OrderIntentPayload(intent=cand.intent, client_ref=ref))
            )
            decisions.append(f"{cand.intent.side.value} {cand.intent.symbol} ({cand.reason})")
    facts = {
        "book.equity": book.equity,
        "book.cash": book.cash,
        "book.open_positions": float(len(book.open_positions)),
        "book.gross_exposure": book.gross_exposure,
        "cycle.intents": float(sum(1 for m in out if m.kind == "order_intent")),
    }
    offline = NarrativeJudgement(
        stance="risk_on" if any("entry" in d or "pyramid" in d for d in decisions) else "neutral",
        conviction=0.5,
        narrative="rules: " + ("; ".join(decisions) if decisions else "no orders today"),
        cited={},
    )
    result = judge(
        ctx,
        agent=NAME,
        prompt=load_prompt(prompt_file(__file__, NAME)),
        variables={"as_of": ctx.as_of.isoformat(), "decisions": "; ".join(decisions) or "none"},
        schema=NarrativeJudgement,
        facts=facts,
        offline=lambda: offline,
        symbols=["book", "cycle"],
    )
    out += result.messages
    note = {
        "stance": result.output.stance,
        "conviction": result.output.conviction,
        "text": result.output.narrative,
        "source": result.source,
        "decisions": decisions,
    }
    out.append(ctx.message(NAME, Note(topic="pm_note", data=note), llm=result.usage))
    return out


SPEC = AgentSpec(
    name=NAME,
    desk=Desk.EXECUTION,
    consumes=("trade_idea", "tool_figures", "risk_verdict", "state_change", "bars_published"),
    produces=("order_intent", "rejection", "note"),
    reasoning=Reasoning.DETERMINISTIC,
    run=run,
    description="turns approved ideas into order intents within budget (rules + LLM note)",
)
