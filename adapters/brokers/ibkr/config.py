"""IBKR connection settings: a small frozen model, checked before any socket opens.

Paper ports (7497 TWS, 4002 IB Gateway) are the default. A live port (7496, 4001) is
refused unless the settings say ``mode = "live"`` AND the operator confirmation flag is
set; the refusal is a ``ConfigurationError`` that names what is missing.
"""

from __future__ import annotations

from typing import Literal, Self

from pydantic import BaseModel, ConfigDict, Field, model_validator

from config.settings import LIVE_PORTS, PAPER_PORTS, Settings
from core.errors import ConfigurationError


class IbkrConfig(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    host: str = "127.0.0.1"
    port: int = Field(default=7497, gt=0, lt=65536)
    client_id: int = Field(default=17, ge=0)
    account: str = ""
    readonly: bool = False
    mode: Literal["paper", "live"] = "paper"
    live_confirmed: bool = False
    # timings: production defaults; tests shrink them
    connect_timeout_s: float = Field(default=4.0, gt=0)
    request_timeout_s: float = Field(default=10.0, gt=0)
    ack_timeout_s: float = Field(default=5.0, gt=0)
    commission_wait_s: float = Field(default=1.0, ge=0)
    reconnect_initial_s: float = Field(default=1.0, gt=0)
    reconnect_max_s: float = Field(default=60.0, gt=0)
    reconnect_max_attempts: int = Field(default=0, ge=0)  # 0 = keep trying
    client_id_retries: int = Field(default=3, ge=0)
    pacing_retries: int = Field(default=3, ge=0)
    pacing_backoff_s: float = Field(default=1.0, gt=0)
    messages_per_second: float = Field(default=45.0, gt=0, le=45.0)
    orders_per_minute: int = Field(default=100, gt=0)
    jitter_seed: int | None = None

    @model_validator(mode="after")
    def _live_port_needs_live_mode(self) -> Self:
        if self.port in LIVE_PORTS and not (self.mode == "live" and self.live_confirmed):
            missing = []
            if self.mode != "live":
                missing.append('mode = "live"')
            if not self.live_confirmed:
                missing.append("live_confirmed = true (operator confirmation)")
            raise ConfigurationError(
                f"port {self.port} is a LIVE trading port; refusing to connect without "
                + " and ".join(missing)
                + f". Paper ports are {sorted(PAPER_PORTS)}."
            )
        return self

    @property
    def is_live(self) -> bool:
        return self.port in LIVE_PORTS

    @classmethod
    def from_settings(cls, settings: Settings, **overrides: object) -> IbkrConfig:
        """Build from ``settings.broker.ibkr`` plus the mode, risk order rate and overrides."""
        ib = settings.broker.ibkr
        values: dict[str, object] = {
            "host": ib.host,
            "port": ib.port,
            "client_id": ib.client_id,
            "account": ib.account,
            "readonly": ib.readonly,
            "mode": settings.mode,
            "live_confirmed": settings.live_confirmed,
            "orders_per_minute": settings.risk.orders_per_minute,
        }
        values.update({k: v for k, v in overrides.items() if v is not None})
        return cls.model_validate(values)
