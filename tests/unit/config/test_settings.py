from __future__ import annotations

import os
from pathlib import Path

import pytest
from cryptography.fernet import Fernet
from pydantic import ValidationError

from config.secrets import encrypt_file
from config.settings import Settings, load_settings


def test_defaults_come_from_shipped_toml() -> None:
    s = load_settings()
    assert s.mode == "paper"
    assert s.llm.provider == "offline"
    assert s.broker.kind == "paper"
    assert s.storage.kind == "sqlite"
    assert s.risk.max_drawdown == 0.05
    assert s.universe.symbols == ["AAPL", "MSFT", "IBM", "GOOG"]


def test_precedence_args_over_env_over_dotenv_over_encrypted_over_user_toml_over_defaults(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    key = Fernet.generate_key()
    monkeypatch.setenv("QUORUM_MASTER_KEY", key.decode())
    Path("quorum.toml").write_text(
        'log_format = "json"\n[llm]\ndebate_rounds = 5\nbudget_usd_per_cycle = 0.5\n'
        "model = 'toml-model'\n[risk]\nmax_open_positions = 4\n"
    )
    plain = tmp_path / "enc-src.env"
    plain.write_text("QUORUM_LLM__DEBATE_ROUNDS=4\nQUORUM_LLM__MODEL=enc-model\n")
    encrypt_file(plain, tmp_path / ".env.enc", key)
    Path(".env").write_text("QUORUM_LLM__DEBATE_ROUNDS=3\n")
    monkeypatch.setenv("QUORUM_LLM__BUDGET_USD_PER_CYCLE", "0.25")

    s = load_settings()
    assert s.log_format == "json"  # user TOML over defaults
    assert s.risk.max_open_positions == 4  # user TOML, nested, other keys keep defaults
    assert s.risk.max_drawdown == 0.05
    assert s.llm.model == "enc-model"  # .env.enc over TOML
    assert s.llm.debate_rounds == 3  # .env over .env.enc
    assert s.llm.budget_usd_per_cycle == 0.25  # environment over .env and TOML
    assert load_settings(mode="live").mode == "live"  # arguments over everything


def test_unknown_setting_is_refused_with_its_name() -> None:
    Path("quorum.toml").write_text("[risk]\nmax_drawdown_typo = 0.1\n")
    with pytest.raises(ValidationError, match="max_drawdown_typo"):
        Settings()


def test_limits_looser_than_hard_caps_are_refused_from_config(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("QUORUM_RISK__MAX_DRAWDOWN", "0.5")
    with pytest.raises(ValidationError, match="max_drawdown"):
        load_settings()


def test_encrypted_env_without_key_fails_clearly(tmp_path: Path) -> None:
    key = Fernet.generate_key()
    src = tmp_path / "x.env"
    src.write_text("QUORUM_MODE=live\n")
    encrypt_file(src, Path(".env.enc"), key)
    from core.errors import ConfigurationError

    with pytest.raises(ConfigurationError, match="no master key"):
        load_settings()
    assert os.environ.get("QUORUM_MASTER_KEY") is None


def test_dotenv_shared_with_other_tools_ignores_their_variables() -> None:
    Path(".env").write_text(
        "ANTHROPIC_API_KEY=sk-ant-not-ours-123456\nPATH_EXTRA=/opt\nQUORUM_LLM__MODEL=from-dotenv\n"
    )
    s = load_settings()
    assert s.llm.model == "from-dotenv"


def test_dotenv_misspelt_quorum_variable_is_refused_by_name() -> None:
    Path(".env").write_text("QUORUM_MOOD=live\n")
    with pytest.raises(ValidationError, match="quorum_mood"):
        load_settings()


def test_load_when_quorum_config_names_a_missing_file_then_configuration_error(
    tmp_path, monkeypatch
) -> None:
    from core.errors import ConfigurationError

    missing = tmp_path / "nope.toml"
    monkeypatch.setenv("QUORUM_CONFIG", str(missing))
    with pytest.raises(ConfigurationError, match=r"nope\.toml"):
        load_settings()
