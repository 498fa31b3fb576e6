"""Settings: one typed object, read from (highest first) arguments, environment
(``QUORUM_*``, nested with ``__``), ``.env``, the decrypted ``.env.enc``, the user TOML
(``QUORUM_CONFIG`` or ./quorum.toml) and the shipped ``config/defaults.toml``.

Secrets are ``SecretStr``: their value never appears in ``repr``, logs or errors.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr
from pydantic_settings import (
    BaseSettings,
    DotEnvSettingsSource,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

from core.risk import RiskLimits

CONFIG_DIR = Path(__file__).resolve().parent
DEFAULTS_TOML = CONFIG_DIR / "defaults.toml"
PROJECT_ROOT = CONFIG_DIR.parent
DATA_DIR = PROJECT_ROOT / "data"
LIVE_PORTS = frozenset({7496, 4001})
PAPER_PORTS = frozenset({7497, 4002})


class _Section(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class UniverseSettings(_Section):
    name: str = "us_sample"
    symbols: list[str] = Field(default_factory=lambda: ["AAPL", "MSFT", "IBM", "GOOG"])
    restricted: list[str] = Field(default_factory=list)


class ScheduleSettings(_Section):
    exchange: str = "XNYS"
    timezone: str = "America/New_York"
    run_at: str = Field(default="16:30", pattern=r"^\d{2}:\d{2}$")


class LlmSettings(_Section):
    provider: Literal["offline", "anthropic", "replay"] = "offline"
    model: str = "claude-sonnet-4-5"
    budget_usd_per_cycle: float = Field(default=1.0, ge=0)
    timeout_s: float = Field(default=60.0, gt=0)
    max_retries: int = Field(default=3, ge=0)
    debate_rounds: int = Field(default=2, ge=0, le=10)
    replay_file: Path | None = None
    anthropic_api_key: SecretStr | None = None


class IbkrSettings(_Section):
    host: str = "127.0.0.1"
    port: int = Field(default=7497, gt=0, lt=65536)
    client_id: int = Field(default=17, ge=0)
    account: str = ""
    readonly: bool = False


class PaperSettings(_Section):
    slippage_bps: float = Field(default=5.0, ge=0, le=500)
    max_volume_share: float = Field(default=0.25, gt=0, le=1.0)


class BrokerSettings(_Section):
    kind: Literal["paper", "ibkr"] = "paper"
    starting_cash: float = Field(default=100_000.0, gt=0)
    paper: PaperSettings = Field(default_factory=PaperSettings)
    ibkr: IbkrSettings = Field(default_factory=IbkrSettings)


class StorageSettings(_Section):
    kind: Literal["sqlite", "mongo"] = "sqlite"
    sqlite_path: Path = Path("quorum.db")
    mongo_uri: SecretStr | None = None
    mongo_db: str = "quorum"


class BusSettings(_Section):
    kind: Literal["memory", "redis"] = "memory"
    redis_url: SecretStr = SecretStr("redis://127.0.0.1:6379/0")
    maxlen: int = Field(default=100_000, ge=1)  # newest messages kept per stream
    claim_idle_ms: int = Field(default=30_000, ge=1)  # unacked this long → redelivered
    max_deliveries: int = Field(default=5, ge=1)  # then → dead-letter stream


class OperatorSettings(_Section):
    """Operators, roles and one-time passwords (workflows/operator.py)."""

    # The operator a local shell user acts as (CLI, console); empty: the login name.
    local_operator: str = ""
    totp_issuer: str = "Quorum"
    max_failed_totp: int = Field(default=5, ge=1)
    lockout_minutes: int = Field(default=15, ge=1)


class ChatSettings(_Section):
    """Slack and Discord transports (adapters/chat/) and where notifications go."""

    host: str = "127.0.0.1"
    port: int = Field(default=8090, gt=0, lt=65536)
    slack_signing_secret: SecretStr | None = None
    slack_bot_token: SecretStr | None = None
    slack_app_token: SecretStr | None = None
    slack_api_url: str = "https://slack.com/api/"  # tests point it at a loopback stand-in
    slack_channel: str = ""  # notifications; empty: none sent to Slack
    discord_public_key: str = ""  # hex, from the application's General Information page
    discord_application_id: str = ""
    discord_bot_token: SecretStr | None = None
    discord_api_url: str = "https://discord.com/api/v10"
    discord_channel_id: str = ""  # notifications; empty: none sent to Discord
    notify_attempts: int = Field(default=4, ge=1)
    notify_backoff_s: float = Field(default=0.5, ge=0)


class MarketDataSettings(_Section):
    """Where bars come from, in failover order (adapters/marketdata/)."""

    providers: list[Literal["files", "csv", "ibkr"]] = Field(default_factory=lambda: ["files"])
    csv_dir: Path | None = None  # the `csv` provider's folder of <SYMBOL>.csv[.gz]
    ibkr_client_id: int = Field(default=18, ge=0)  # its own client id beside the broker's
    history_years: int = Field(default=2, ge=1, le=30)


class DaemonSettings(_Section):
    """`quorum daemon`: when it runs is [schedule]; this is how it is watched."""

    health_host: str = "127.0.0.1"
    health_port: int = Field(default=9108, gt=0, lt=65536)
    lock_file: Path = Path("daemon.lock")  # relative to state_dir


class ProposalSettings(_Section):
    """Proposal review (workflows/proposal_review.py)."""

    expiry_days: int = Field(default=7, ge=1)
    watch_cycles: int = Field(default=5, ge=1)
    lesson_score_threshold: float = 0.0
    lesson_horizon: int = Field(default=5, ge=1, le=250)  # sessions a decision is scored over
    evidence_sessions: int = Field(default=10, ge=2, le=500)  # simulated per configuration
    evidence_folds: int = Field(default=2, ge=1, le=20)  # walk-forward windows, simulated
    backtest_folds: int = Field(default=4, ge=1, le=40)  # walk-forward windows, backtested
    backtest_fold_bars: int = Field(default=252, ge=20, le=5000)  # bars per backtest window


class ApiSettings(_Section):
    """`quorum serve`: REST API and dashboard."""

    host: str = "127.0.0.1"
    port: int = Field(default=8080, gt=0, lt=65536)
    requests_per_minute: int = Field(default=120, ge=1)  # per API token


class SecretSettings(_Section):
    audit_key: SecretStr | None = None
    slack_bot_token: SecretStr | None = None
    slack_signing_secret: SecretStr | None = None
    discord_bot_token: SecretStr | None = None
    ibkr_password: SecretStr | None = None
    totp_secret: SecretStr | None = None


class QuorumDotEnvSource(DotEnvSettingsSource):
    """``.env`` restricted to ``QUORUM_*`` names. The file is commonly shared with other
    tools (``ANTHROPIC_API_KEY`` for the SDK, ...): their variables are not ours to refuse,
    while a misspelt ``QUORUM_*`` name still is (``extra="forbid"``)."""

    def _load_env_vars(self) -> Mapping[str, str | None]:
        prefix = self.env_prefix.lower()
        return {k: v for k, v in super()._load_env_vars().items() if k.lower().startswith(prefix)}


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="QUORUM_",
        env_nested_delimiter="__",
        env_file=".env",
        env_file_encoding="utf-8",
        extra="forbid",
        frozen=True,
        # A misspelt secret (QUORUM_SECRETS__SLAK_TOKEN) is an unknown field, never a
        # SecretStr, and is not known to the log redactor yet: keep every input value out
        # of validation messages so no error can echo it.
        hide_input_in_errors=True,
    )

    mode: Literal["paper", "live"] = "paper"
    live_confirmed: bool = False
    state_dir: Path = Path("var")
    log_format: Literal["auto", "console", "json"] = "auto"
    data_dir: Path = DATA_DIR
    risk: RiskLimits = Field(default_factory=RiskLimits)
    universe: UniverseSettings = Field(default_factory=UniverseSettings)
    schedule: ScheduleSettings = Field(default_factory=ScheduleSettings)
    llm: LlmSettings = Field(default_factory=LlmSettings)
    broker: BrokerSettings = Field(default_factory=BrokerSettings)
    storage: StorageSettings = Field(default_factory=StorageSettings)
    bus: BusSettings = Field(default_factory=BusSettings)
    operators: OperatorSettings = Field(default_factory=OperatorSettings)
    chat: ChatSettings = Field(default_factory=ChatSettings)
    marketdata: MarketDataSettings = Field(default_factory=MarketDataSettings)
    daemon: DaemonSettings = Field(default_factory=DaemonSettings)
    proposals: ProposalSettings = Field(default_factory=ProposalSettings)
    api: ApiSettings = Field(default_factory=ApiSettings)
    secrets: SecretSettings = Field(default_factory=SecretSettings)

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        from config.secrets import EncryptedDotEnvSource

        named = os.environ.get("QUORUM_CONFIG")
        user_toml = Path(named or "quorum.toml")
        if named and not user_toml.is_file():
            # ./quorum.toml is optional; a file the operator named is not: running on the
            # shipped defaults instead of their limits would be silent and dangerous.
            from core.errors import ConfigurationError

            raise ConfigurationError(f"QUORUM_CONFIG names {user_toml}, which is not a file")
        return (
            init_settings,
            env_settings,
            QuorumDotEnvSource(settings_cls),
            EncryptedDotEnvSource(settings_cls),
            TomlConfigSettingsSource(settings_cls, toml_file=user_toml),
            TomlConfigSettingsSource(settings_cls, toml_file=DEFAULTS_TOML),
        )

    @property
    def sqlite_file(self) -> Path:
        p = self.storage.sqlite_path
        return p if p.is_absolute() else self.state_dir / p

    def secret_values(self) -> list[str]:
        """Every secret's plain value, for the log redactor."""
        found: list[str] = []

        def walk(obj: Any) -> None:
            if isinstance(obj, SecretStr):
                v = obj.get_secret_value()
                if v:
                    found.append(v)
            elif isinstance(obj, BaseModel):
                for name in type(obj).model_fields:
                    walk(getattr(obj, name))

        walk(self)
        return found


def load_settings(**overrides: Any) -> Settings:
    """Read settings from every source; keyword arguments win over all of them."""
    settings = Settings(**overrides)
    from config.logging import register_secrets

    register_secrets(settings.secret_values())
    return settings
