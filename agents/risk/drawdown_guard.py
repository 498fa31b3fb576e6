"""drawdown_guard: the circuit breakers — max drawdown from peak and the daily loss.

The guard keeps one equity point per as-of date in its memory (the book marked at the
day's closes), and measures with ``tools.risk_metrics``: the current drawdown of that
series (seeded with the book's recorded peak) and the loss since the previous point.

- drawdown ≥ ``limits.max_drawdown`` → ``state_change`` HALTED (the kill switch: nothing
  passes the pre-trade check, the cycle goes to its report);
- daily loss ≥ ``limits.daily_loss_limit`` → ``state_change`` REDUCING (only orders that
  shrink exposure pass).

The guard never lifts a halt: resuming is an operator's decision.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from agents.base import AgentContext, AgentSpec, Desk, Reasoning
from agents.common import current_portfolio, last_closes, memory_get, memory_put
from core.messages import Envelope, StateChange, ToolFigures
from core.risk import Denial, DenialCode, TradingState
from tools.risk_metrics import drawdown_series, max_drawdown

NAME = "drawdown_guard"


def equity_history(ctx: AgentContext, equity: float) -> list[tuple[str, float]]:
    """The guard's equity points up to today (today's replaced on a re-run)."""
    doc = memory_get(ctx, NAME, "equity")
    points = {k: float(v) for k, v in doc.get("points", {}).items() if k < ctx.as_of.isoformat()}
    points[ctx.as_of.isoformat()] = equity
    memory_put(ctx, NAME, "equity", {"points": points})
    return sorted(points.items())


def run(ctx: AgentContext, inbox: Sequence[Envelope]) -> list[Envelope]:
    stored = current_portfolio(ctx)
    book = current_portfolio(ctx, last_closes(ctx, inbox, stored.open_positions))
    history = equity_history(ctx, book.equity)
    values = [v for _, v in history]
    series = np.array([max(book.peak_equity, 0.0), *values], dtype=np.float64)
    current = float(drawdown_series(series)[-1])
    worst = float(max_drawdown(series))
    previous = values[-2] if len(values) > 1 else book.equity
    daily_loss = max(0.0, (previous - book.equity) / previous) if previous > 0 else 0.0
    limits = ctx.limits
    figures = {
        "equity": book.equity,
        "peak_equity": float(series.max()),
        "drawdown": current,
        "max_drawdown_seen": worst,
        "daily_loss": daily_loss,
        "max_drawdown_limit": limits.max_drawdown,
        "daily_loss_limit": limits.daily_loss_limit,
    }
    fig_env = ctx.message(NAME, ToolFigures(tool="drawdown", figures=figures))
    out = [fig_env]
    if ctx.trading_state is TradingState.HALTED:
        return out
    change: StateChange | None = None
    if current >= limits.max_drawdown:
        denial = Denial(
            code=DenialCode.MAX_DRAWDOWN_BREACHED,
            context={"drawdown": current, "limit": limits.max_drawdown, "equity": book.equity},
        )
        change = StateChange(state=TradingState.HALTED, reason=str(denial))
    elif daily_loss >= limits.daily_loss_limit and ctx.trading_state is TradingState.ACTIVE:
        denial = Denial(
            code=DenialCode.DAILY_LOSS_LIMIT,
            context={"daily_loss": daily_loss, "limit": limits.daily_loss_limit},
        )
        change = StateChange(state=TradingState.REDUCING, reason=str(denial))
    if change is not None:
        out.append(ctx.message(NAME, change, causation_id=fig_env.id))
    return out


SPEC = AgentSpec(
    name=NAME,
    desk=Desk.RISK,
    consumes=("bars_published",),
    produces=("tool_figures", "state_change"),
    reasoning=Reasoning.KERNELS,
    run=run,
    description="circuit breakers: max drawdown, daily loss (kernels only)",
)
