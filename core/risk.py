"""Risk limits, trading state and the named reason codes for every denial.

Integer verdict codes are what the Numba pre-trade kernel returns (kernels cannot
return enums); ``DenialCode`` is what everything else speaks. ``VERDICT_CODES`` is the
one mapping between them.
"""

from __future__ import annotations

from enum import IntEnum, StrEnum
from typing import Self

from pydantic import BaseModel, ConfigDict, Field, model_validator


class TradingState(StrEnum):
    ACTIVE = "ACTIVE"
    REDUCING = "REDUCING"  # only orders that shrink exposure pass
    HALTED = "HALTED"  # nothing passes


class DenialCode(StrEnum):
    POSITION_CAP_EXCEEDED = "POSITION_CAP_EXCEEDED"
    GROSS_EXPOSURE_EXCEEDED = "GROSS_EXPOSURE_EXCEEDED"
    MAX_OPEN_POSITIONS = "MAX_OPEN_POSITIONS"
    DAILY_LOSS_LIMIT = "DAILY_LOSS_LIMIT"
    MAX_DRAWDOWN_BREACHED = "MAX_DRAWDOWN_BREACHED"
    FAT_FINGER_PRICE = "FAT_FINGER_PRICE"
    NOTIONAL_CAP_EXCEEDED = "NOTIONAL_CAP_EXCEEDED"
    TRADING_HALTED = "TRADING_HALTED"
    REDUCING_ONLY = "REDUCING_ONLY"
    MARKET_CLOSED = "MARKET_CLOSED"
    RESTRICTED_SYMBOL = "RESTRICTED_SYMBOL"
    UNKNOWN_SYMBOL = "UNKNOWN_SYMBOL"
    INVALID_QUANTITY = "INVALID_QUANTITY"
    ORDER_RATE_EXCEEDED = "ORDER_RATE_EXCEEDED"
    LIVE_NOT_CONFIRMED = "LIVE_NOT_CONFIRMED"
    INSUFFICIENT_CASH = "INSUFFICIENT_CASH"
    LLM_OUTPUT_REJECTED = "LLM_OUTPUT_REJECTED"
    AGENT_VETO = "AGENT_VETO"


class Verdict(IntEnum):
    """Codes returned by ``tools.pretrade.pretrade_check`` — order of checks is the order here."""

    OK = 0
    TRADING_HALTED = 1
    MAX_DRAWDOWN_BREACHED = 2
    DAILY_LOSS_LIMIT = 3
    REDUCING_ONLY = 4
    INVALID_QUANTITY = 5
    FAT_FINGER_PRICE = 6
    NOTIONAL_CAP_EXCEEDED = 7
    POSITION_CAP_EXCEEDED = 8
    MAX_OPEN_POSITIONS = 9
    GROSS_EXPOSURE_EXCEEDED = 10


VERDICT_CODES: dict[Verdict, DenialCode | None] = {
    v: None if v is Verdict.OK else DenialCode(v.name) for v in Verdict
}


class Denial(BaseModel):
    """Why something was stopped: a code plus key=value context. Tests assert the code."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    code: DenialCode
    context: dict[str, str | int | float] = Field(default_factory=dict)

    def __str__(self) -> str:
        ctx = " ".join(f"{k}={_fmt(v)}" for k, v in self.context.items())
        return f"{self.code.value}: {ctx}" if ctx else self.code.value


def _fmt(v: str | int | float) -> str:
    return f"{v:.4g}" if isinstance(v, float) else str(v)


class RiskLimits(BaseModel):
    """Hard limits. Defaults are the operators' requirements (DESIGN.md)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    max_drawdown: float = Field(default=0.05, gt=0, le=1)
    max_position_weight: float = Field(default=0.30, gt=0, le=1)
    daily_loss_limit: float = Field(default=0.02, gt=0, le=1)
    max_gross_exposure: float = Field(default=1.0, gt=0, le=4)
    max_open_positions: int = Field(default=10, gt=0)
    fat_finger_band: float = Field(default=0.05, gt=0, le=1)
    max_order_notional: float = Field(default=250_000.0, gt=0)
    orders_per_minute: int = Field(default=100, gt=0)
    flatten_on_halt: bool = False

    @model_validator(mode="after")
    def _within_caps(self) -> Self:
        broken = self.loosened_beyond(HARD_CAPS) if "HARD_CAPS" in globals() else []
        if broken:
            raise ValueError("limits looser than the hard caps: " + ", ".join(broken))
        return self

    def loosened_beyond(self, reference: RiskLimits) -> list[str]:
        """Names of limits that are looser than ``reference`` (a proposal may only tighten)."""
        looser = [
            name
            for name in (
                "max_drawdown",
                "max_position_weight",
                "daily_loss_limit",
                "max_gross_exposure",
                "max_open_positions",
                "fat_finger_band",
                "max_order_notional",
                "orders_per_minute",
            )
            if getattr(self, name) > getattr(reference, name)
        ]
        return looser


# The caps no configuration or proposal may loosen. Operators may tighten below them.
HARD_CAPS = RiskLimits(
    max_drawdown=0.05,
    max_position_weight=0.30,
    daily_loss_limit=0.05,
    max_gross_exposure=2.0,
    max_open_positions=50,
    fat_finger_band=0.10,
    max_order_notional=1_000_000.0,
    orders_per_minute=100,
)
