"""The agent parameters a change proposal may touch, with their defaults and bounds.

One small frozen model per agent; the agent reads ``setting(ctx, NAME, key, DEFAULTS.key)``
so the default lives here only. ``TUNABLE`` is what configuration versioning offers as
``agents.<agent>.<param>`` keys (``workflows/config_keys.py``); the active version's values
reach the agent through ``ctx.settings["agents"][agent]``.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class _Params(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class ResearchManagerParams(_Params):
    enter_threshold: float = Field(default=0.15, ge=0.0, le=1.0)  # |net| that makes a call
    min_conviction: float = Field(default=0.2, ge=0.0, le=1.0)  # below it: no entry idea


class RiskManagerParams(_Params):
    risk_fraction: float = Field(default=0.01, gt=0.0, le=0.05)  # equity risked per trade
    atr_multiple: float = Field(default=2.0, gt=0.0, le=10.0)  # stop distance in ATRs


TUNABLE: dict[str, type[_Params]] = {
    "research_manager": ResearchManagerParams,
    "risk_manager": RiskManagerParams,
}
