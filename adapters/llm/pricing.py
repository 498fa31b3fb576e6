"""Anthropic list prices (USD per million tokens) and the cost of one call.

Prices change; they live here, in one table. An unknown model is charged at the most
expensive rate in the table, so the per-cycle budget stays a hard ceiling rather than
an underestimate.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Price:
    input_per_mtok: float
    output_per_mtok: float


# Longest prefix wins: "claude-sonnet-4-5-20250929" matches "claude-sonnet-4-5".
PRICES: dict[str, Price] = {
    "claude-opus-4-5": Price(5.0, 25.0),
    "claude-opus-4-1": Price(15.0, 75.0),
    "claude-opus-4": Price(15.0, 75.0),
    "claude-sonnet-4-5": Price(3.0, 15.0),
    "claude-sonnet-4": Price(3.0, 15.0),
    "claude-3-7-sonnet": Price(3.0, 15.0),
    "claude-haiku-4-5": Price(1.0, 5.0),
    "claude-3-5-haiku": Price(0.8, 4.0),
}
MOST_EXPENSIVE = max(PRICES.values(), key=lambda p: p.output_per_mtok)


def price_of(model: str) -> Price:
    matches = [prefix for prefix in PRICES if model.startswith(prefix)]
    return PRICES[max(matches, key=len)] if matches else MOST_EXPENSIVE


def cost_usd(model: str, input_tokens: int, output_tokens: int) -> float:
    price = price_of(model)
    return (input_tokens * price.input_per_mtok + output_tokens * price.output_per_mtok) / 1e6


def worst_case_cost_usd(model: str, prompt_chars: int, max_output_tokens: int) -> float:
    """An upper bound on one call's cost before making it: at most one token per
    two characters of prompt (English averages about four) and the full output allowance."""
    return cost_usd(model, prompt_chars // 2 + 1, max_output_tokens)
