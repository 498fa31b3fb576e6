from __future__ import annotations

import io
import logging
import os
from pathlib import Path

import pytest
import structlog
from cryptography.fernet import Fernet

from config.logging import _QuorumHandler, configure_logging
from config.secrets import (
    decrypt_bytes,
    encrypt_file,
    generate_key_file,
    load_master_key,
    parse_env_text,
)
from config.settings import load_settings
from core.errors import ConfigurationError

SECRET = "sk-ant-TOPSECRET-1234567890"


def test_encrypt_then_decrypt_in_memory_round_trips(tmp_path: Path) -> None:
    key = Fernet.generate_key()
    src = tmp_path / ".env"
    src.write_text(f"QUORUM_LLM__ANTHROPIC_API_KEY={SECRET}\n")
    out = encrypt_file(src, key=key)
    assert out.name == ".env.enc"
    assert SECRET.encode() not in out.read_bytes()
    assert oct(out.stat().st_mode & 0o777) == "0o600"
    assert parse_env_text(decrypt_bytes(out, key)) == {"QUORUM_LLM__ANTHROPIC_API_KEY": SECRET}


def test_decrypt_with_wrong_key_or_altered_file_fails_clearly(tmp_path: Path) -> None:
    src = tmp_path / ".env"
    src.write_text("A=1\n")
    out = encrypt_file(src, key=Fernet.generate_key())
    with pytest.raises(ConfigurationError, match="cannot decrypt"):
        decrypt_bytes(out, Fernet.generate_key())


def test_key_file_readable_by_others_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "master.key"
    monkeypatch.setenv("QUORUM_MASTER_KEY_FILE", str(path))
    generate_key_file(path)
    assert load_master_key() == path.read_bytes().strip()
    os.chmod(path, 0o644)
    with pytest.raises(ConfigurationError, match="must be 0600"):
        load_master_key()


def test_keygen_refuses_to_overwrite(tmp_path: Path) -> None:
    path = generate_key_file(tmp_path / "k")
    with pytest.raises(ConfigurationError, match="refusing to overwrite"):
        generate_key_file(path)


def test_invalid_master_key_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("QUORUM_MASTER_KEY", "not-a-fernet-key")
    with pytest.raises(ConfigurationError, match="not a valid Fernet key"):
        load_master_key()


def test_secret_never_appears_in_repr_logs_or_errors(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("QUORUM_LLM__ANTHROPIC_API_KEY", SECRET)
    monkeypatch.setenv("QUORUM_SECRETS__AUDIT_KEY", "audit-" + SECRET)
    s = load_settings()
    assert s.llm.anthropic_api_key is not None
    assert s.llm.anthropic_api_key.get_secret_value() == SECRET
    assert SECRET not in repr(s) and SECRET not in str(s)
    assert SECRET not in s.model_dump_json()

    configure_logging("json")
    log = structlog.get_logger()
    log.info("calling model", key=SECRET, nested={"k": [f"Bearer {SECRET}"]})
    try:
        raise RuntimeError(f"auth failed for {SECRET}")
    except RuntimeError:
        log.exception("llm call failed")
    stdlib_stream = io.StringIO()
    (handler,) = [h for h in logging.getLogger().handlers if isinstance(h, _QuorumHandler)]
    handler.setStream(stdlib_stream)
    logging.getLogger("anthropic").error("header x-api-key: %s", SECRET)
    captured = capsys.readouterr()
    assert "calling model" in captured.err and "llm call failed" in captured.err
    assert SECRET not in captured.err + captured.out
    assert SECRET not in stdlib_stream.getvalue()
    assert "***" in stdlib_stream.getvalue()


def test_cli_error_messages_are_redacted(monkeypatch: pytest.MonkeyPatch) -> None:
    from typer.testing import CliRunner

    from adapters.cli.main import app

    monkeypatch.setenv("QUORUM_LLM__ANTHROPIC_API_KEY", SECRET)
    load_settings()  # registers the secret with the redactor
    monkeypatch.setenv("QUORUM_MASTER_KEY", SECRET)  # an invalid key: its error must not echo it
    result = CliRunner().invoke(app, ["secrets", "decrypt", "missing.enc"])
    assert result.exit_code != 0
    assert SECRET not in result.output


@pytest.mark.parametrize("source", ["env", "dotenv", "toml"])
def test_misspelt_secret_is_refused_without_echoing_its_value(
    source: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from pydantic import ValidationError
    from typer.testing import CliRunner

    from adapters.cli.main import app

    if source == "env":
        monkeypatch.setenv("QUORUM_SECRETS__SLAK_BOT_TOKEN", SECRET)
    elif source == "dotenv":
        Path(".env").write_text(f"QUORUM_SECRETS__SLAK_BOT_TOKEN={SECRET}\n")
    else:
        Path("quorum.toml").write_text(f'[secrets]\nslak_bot_token = "{SECRET}"\n')
    with pytest.raises(ValidationError) as err:
        load_settings()
    assert "slak_bot_token" in str(err.value)
    assert SECRET not in str(err.value) and SECRET not in repr(err.value)
    result = CliRunner().invoke(app, ["journal", "tail"])
    assert result.exit_code == 2 and "slak_bot_token" in result.output
    assert SECRET not in result.output
