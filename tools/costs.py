"""Trading costs: commission and slippage kernels shared by the backtest and the paper broker.

Conventions (one place, so backtest and paper fills cost exactly the same):

- Quantities may be signed; commission is charged on ``abs(qty)`` and is never negative.
  A zero quantity costs nothing (no minimum charged for an order that did not trade).
- **Per share** (IBKR US "fixed" style): ``abs(qty) * rate``, raised to ``minimum`` per
  order, then capped at ``max_pct`` of the trade value (``max_pct = 0`` means no cap).
  The cap wins over the minimum, as at IBKR: 100 shares at $0.25 with 0.005/share,
  min $1, max 1 % cost $0.25, not $1.
- **Percent** (EUR stocks): ``rate`` is a *fraction* of the trade value (0.001 = 0.1 %),
  raised to ``minimum`` per order.
- **Slippage** in basis points moves the fill price against the trader: a buy pays
  ``price * (1 + bps/1e4)``, a sell receives ``price * (1 - bps/1e4)``.

Kernels take scalars only; ``CommissionModel`` is the typed config at the boundary.
"""

from __future__ import annotations

from typing import Literal, Self

from numba import njit
from pydantic import BaseModel, ConfigDict, Field, model_validator

# Integer codes so kernels (which cannot take pydantic models or strings) can switch on kind.
COMMISSION_NONE = 0
COMMISSION_PER_SHARE = 1
COMMISSION_PERCENT = 2

BPS = 1e-4


@njit(cache=True)
def commission_per_share(
    qty: float, price: float, rate: float, minimum: float, max_pct: float
) -> float:
    """IBKR-fixed-style commission: per share, with a per-order minimum and a % cap."""
    shares = abs(qty)
    if shares == 0.0:
        return 0.0
    fee = shares * rate
    fee = max(fee, minimum)
    if max_pct > 0.0:
        cap = max_pct * shares * abs(price)
        fee = min(fee, cap)
    return fee


@njit(cache=True)
def commission_percent(qty: float, price: float, rate: float, minimum: float) -> float:
    """Commission as a fraction of trade value, with a per-order minimum."""
    shares = abs(qty)
    if shares == 0.0:
        return 0.0
    fee = shares * abs(price) * rate
    fee = max(fee, minimum)
    return fee


@njit(cache=True)
def commission_kernel(
    kind: int, qty: float, price: float, rate: float, minimum: float, max_pct: float
) -> float:
    """Dispatch on ``kind`` (``COMMISSION_*``); what the backtest engine calls per fill."""
    if kind == COMMISSION_PER_SHARE:
        return commission_per_share(qty, price, rate, minimum, max_pct)
    if kind == COMMISSION_PERCENT:
        return commission_percent(qty, price, rate, minimum)
    return 0.0


@njit(cache=True)
def slipped_price(price: float, side: int, bps: float) -> float:
    """Fill price after slippage: ``side`` > 0 buys (pays up), ``side`` < 0 sells (gets less)."""
    if side > 0:
        return price * (1.0 + bps * BPS)
    if side < 0:
        return price * (1.0 - bps * BPS)
    return price


class CommissionModel(BaseModel):
    """How a broker charges commission. ``rate`` is per share or a fraction, by ``kind``."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    kind: Literal["none", "per_share", "percent"] = "none"
    rate: float = Field(default=0.0, ge=0.0)
    minimum: float = Field(default=0.0, ge=0.0)
    max_pct: float = Field(default=0.0, ge=0.0, le=1.0)

    @model_validator(mode="after")
    def _check(self) -> Self:
        if self.kind == "percent" and self.rate > 0.1:
            raise ValueError(
                f"percent commission rate {self.rate} > 0.1: rate is a fraction (0.001 = 0.1 %)"
            )
        if self.kind != "per_share" and self.max_pct != 0.0:
            raise ValueError("max_pct applies only to per_share commission")
        return self

    @property
    def kind_code(self) -> int:
        """The ``COMMISSION_*`` integer the kernels switch on."""
        return {
            "none": COMMISSION_NONE,
            "per_share": COMMISSION_PER_SHARE,
            "percent": COMMISSION_PERCENT,
        }[self.kind]

    @classmethod
    def ibkr_us_fixed(cls) -> CommissionModel:
        """IBKR Pro fixed US stocks: $0.005/share, $1.00 minimum, 1 % of trade value maximum."""
        return cls(kind="per_share", rate=0.005, minimum=1.0, max_pct=0.01)

    @classmethod
    def percent_with_minimum(cls, rate: float, minimum: float) -> CommissionModel:
        """E.g. European stocks: ``percent_with_minimum(0.0005, 1.25)`` = 0.05 %, min €1.25."""
        return cls(kind="percent", rate=rate, minimum=minimum)


class SlippageModel(BaseModel):
    """Slippage in basis points against the trader."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    bps: float = Field(default=0.0, ge=0.0, le=1000.0)


def commission(model: CommissionModel, qty: float, price: float) -> float:
    """Commission in account currency for one order of ``qty`` shares at ``price``."""
    return float(
        commission_kernel(
            model.kind_code, float(qty), float(price), model.rate, model.minimum, model.max_pct
        )
    )


def fill_price(price: float, side: int, slippage: SlippageModel) -> float:
    """Price after slippage for a buy (``side=1``) or sell (``side=-1``)."""
    return float(slipped_price(float(price), int(side), slippage.bps))
