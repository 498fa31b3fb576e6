"""portfolio_risk: VaR / CVaR, concentration and a Monte Carlo stress of the book with
each proposed entry added.

For an entry idea, the book's weights (marked at the last closes) get the new symbol at
``assumed_entry_weight`` (sizing is the risk manager's; this agent tests a representative
size, by default half the position cap). The weighted daily returns of the last
``window`` bars give the one-day historical VaR and CVaR at 95 % (``tools.risk_metrics``)
and a seeded bootstrap of ``horizon`` days (``tools.montecarlo``) gives the 95th
percentile of the drawdown. The idea is vetoed (``AGENT_VETO``) when VaR exceeds
``max_var_95`` or that stressed drawdown reaches the kill-switch drawdown. Exits are
always approved: they only remove risk.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from agents.base import AgentContext, AgentSpec, Desk, Reasoning
from agents.common import current_portfolio, last_closes, load_bars, setting, trade_ideas
from core.messages import Envelope, RiskVerdict, ToolFigures
from core.risk import Denial, DenialCode
from core.signals import Direction
from tools.montecarlo import bootstrap_returns
from tools.risk_metrics import historical_cvar, historical_var, simple_returns

NAME = "portfolio_risk"


def returns_matrix(ctx: AgentContext, symbols: Sequence[str], window: int) -> dict[str, np.ndarray]:
    """Last ``window`` daily returns per symbol, aligned on the shortest history."""
    series: dict[str, np.ndarray] = {}
    for symbol in symbols:
        try:
            series[symbol] = simple_returns(load_bars(ctx, symbol).close)[-window:]
        except KeyError:
            continue
    if not series:
        return {}
    n = min(len(r) for r in series.values())
    return {s: r[-n:] for s, r in series.items()}


def stress(
    weights: dict[str, float], returns: dict[str, np.ndarray], horizon: int, seed: int
) -> dict[str, float]:
    symbols = [s for s in weights if s in returns]
    if not symbols or len(next(iter(returns.values()))) < 20:
        return {}
    matrix = np.vstack([returns[s] for s in symbols])
    w = np.array([weights[s] for s in symbols])
    book = np.ascontiguousarray(w @ matrix)
    final, drawdowns = bootstrap_returns(book, n_paths=2000, horizon=horizon, seed=seed)
    return {
        "var_95": float(historical_var(book, 0.95)),
        "cvar_95": float(historical_cvar(book, 0.95)),
        "mc_p95_drawdown": float(np.percentile(drawdowns, 95)),
        "mc_p05_final": float(np.percentile(final, 5)),
        "gross_weight": float(np.abs(w).sum()),
        "herfindahl": float((w**2).sum() / max(np.abs(w).sum() ** 2, 1e-12)),
    }


def run(ctx: AgentContext, inbox: Sequence[Envelope]) -> list[Envelope]:
    ideas = trade_ideas(inbox)
    if not ideas:
        return []
    window = int(setting(ctx, NAME, "window", 250))
    horizon = int(setting(ctx, NAME, "horizon", 20))
    max_var = float(setting(ctx, NAME, "max_var_95", 0.02))
    assumed = float(setting(ctx, NAME, "assumed_entry_weight", ctx.limits.max_position_weight / 2))
    stored = current_portfolio(ctx)
    symbols = sorted({*stored.open_positions, *(p.idea.symbol for _, p in ideas)})
    book = current_portfolio(ctx, last_closes(ctx, inbox, symbols))
    equity = book.equity
    base = (
        {s: p.market_value / equity for s, p in book.open_positions.items()} if equity > 0 else {}
    )
    returns = returns_matrix(ctx, symbols, window)
    out: list[Envelope] = []
    for env, payload in ideas:
        idea = payload.idea
        held = book.quantity(idea.symbol)
        entry = idea.direction is not Direction.FLAT and not (
            (held > 0 and idea.direction is Direction.LONG)
            or (held < 0 and idea.direction is Direction.SHORT)
        )
        if not entry:
            verdict = RiskVerdict(symbol=idea.symbol, approved=True, checked_by=NAME)
            out.append(env.reply(NAME, verdict))
            continue
        weights = dict(base)
        sign = 1.0 if idea.direction is Direction.LONG else -1.0
        weights[idea.symbol] = weights.get(idea.symbol, 0.0) + sign * assumed
        seed = int(setting(ctx, NAME, "seed", 7))
        figures = {"assumed_weight": assumed, **stress(weights, returns, horizon, seed)}
        fig_env = env.reply(NAME, ToolFigures(tool=NAME, symbol=idea.symbol, figures=figures))
        denial = None
        if "var_95" not in figures:
            denial = Denial(
                code=DenialCode.AGENT_VETO,
                context={"symbol": idea.symbol, "check": "no_return_history"},
            )
        elif figures["var_95"] > max_var:
            denial = Denial(
                code=DenialCode.AGENT_VETO,
                context={
                    "symbol": idea.symbol,
                    "check": "var_95",
                    "value": figures["var_95"],
                    "limit": max_var,
                },
            )
        elif figures["mc_p95_drawdown"] >= ctx.limits.max_drawdown:
            denial = Denial(
                code=DenialCode.AGENT_VETO,
                context={
                    "symbol": idea.symbol,
                    "check": "mc_p95_drawdown",
                    "value": figures["mc_p95_drawdown"],
                    "limit": ctx.limits.max_drawdown,
                },
            )
        verdict = RiskVerdict(
            symbol=idea.symbol, approved=denial is None, denial=denial, checked_by=NAME
        )
        out += [fig_env, fig_env.reply(NAME, verdict)]
    return out


SPEC = AgentSpec(
    name=NAME,
    desk=Desk.RISK,
    consumes=("trade_idea", "bars_published"),
    produces=("tool_figures", "risk_verdict"),
    reasoning=Reasoning.KERNELS,
    run=run,
    description="VaR / CVaR, concentration, Monte Carlo stress (kernels only)",
)
