"""The paper broker's configuration: a small frozen model that rejects unknown keys."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, field_validator

from core.errors import ConfigurationError
from tools.costs import CommissionModel, SlippageModel


def _default_commissions() -> dict[str, CommissionModel]:
    # IBKR Pro fixed for US stocks; a percentage with a minimum for euro stocks
    # (0.05 %, min EUR 1.25 — IBKR's fixed tier for Euronext).
    return {
        "USD": CommissionModel.ibkr_us_fixed(),
        "EUR": CommissionModel.percent_with_minimum(0.0005, 1.25),
    }


class PaperBrokerConfig(BaseModel):
    """How the paper broker fills and charges.

    ``max_volume_share`` caps what all resting orders of a symbol may fill in one bar, as a
    share of that bar's volume; the rest stays open for the next bar. ``label`` names this
    account in the store (snapshot label, order-id prefix), so two paper accounts can share
    one database.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    starting_cash: float = Field(default=100_000.0, gt=0)
    currency: str = Field(default="USD", pattern=r"^[A-Z]{3}$")
    slippage: SlippageModel = Field(default_factory=lambda: SlippageModel(bps=5.0))
    commissions: dict[str, CommissionModel] = Field(default_factory=_default_commissions)
    symbol_currency: dict[str, str] = Field(default_factory=dict)
    max_volume_share: float = Field(default=0.25, gt=0, le=1.0)
    leverage: float = Field(default=1.0, ge=1.0, le=4.0)
    event_buffer: int = Field(default=10_000, ge=1)
    label: str = Field(default="paper", pattern=r"^[a-z][a-z0-9_]*$")

    @field_validator("symbol_currency")
    @classmethod
    def _currencies_are_codes(cls, v: dict[str, str]) -> dict[str, str]:
        bad = {s: c for s, c in v.items() if len(c) != 3 or not c.isupper()}
        if bad:
            raise ValueError(f"symbol_currency values must be ISO codes like 'EUR': {bad}")
        return {s.upper(): c for s, c in v.items()}

    def commission_model(self, currency: str) -> CommissionModel:
        """The model for ``currency``. A currency with no model is a configuration gap, not
        free trading: map it to ``CommissionModel(kind="none")`` to mean free."""
        try:
            return self.commissions[currency]
        except KeyError:
            raise ConfigurationError(
                f"paper broker has no commission model for {currency}; "
                f"configured: {sorted(self.commissions)}"
            ) from None
