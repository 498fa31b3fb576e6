"""Encrypted secrets: ``.env`` → ``.env.enc`` with Fernet; decrypted in memory only.

The master key comes from ``QUORUM_MASTER_KEY`` or from a key file
(``QUORUM_MASTER_KEY_FILE``, default ``~/.config/quorum/master.key``) that must be
readable by its owner only (mode 0600): a key others can read is no key, so we refuse it.
"""

from __future__ import annotations

import io
import os
import stat
from pathlib import Path
from typing import Any

from cryptography.fernet import Fernet, InvalidToken
from dotenv import dotenv_values
from pydantic.fields import FieldInfo
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource

from core.errors import ConfigurationError

DEFAULT_KEY_FILE = Path("~/.config/quorum/master.key")
ENV_PREFIX = "QUORUM_"


def key_file_path() -> Path:
    return Path(os.environ.get("QUORUM_MASTER_KEY_FILE", str(DEFAULT_KEY_FILE))).expanduser()


def load_master_key(required: bool = True) -> bytes | None:
    """The Fernet key from the environment or the key file; None if absent and optional."""
    env_key = os.environ.get("QUORUM_MASTER_KEY")
    if env_key:
        return _checked_key(env_key.strip().encode(), "QUORUM_MASTER_KEY")
    path = key_file_path()
    if not path.exists():
        if required:
            raise ConfigurationError(
                f"no master key: set QUORUM_MASTER_KEY or create {path} "
                "(`quorum secrets keygen`), mode 0600"
            )
        return None
    mode = stat.S_IMODE(path.stat().st_mode)
    if mode & 0o077:
        raise ConfigurationError(
            f"master key file {path} has mode {mode:04o}; it must be 0600 "
            f"(readable by its owner only). Fix with: chmod 600 {path}"
        )
    return _checked_key(path.read_bytes().strip(), str(path))


def _checked_key(key: bytes, where: str) -> bytes:
    try:
        Fernet(key)
    except (ValueError, TypeError):
        raise ConfigurationError(
            f"master key from {where} is not a valid Fernet key (32 url-safe base64 bytes)"
        ) from None
    return key


def generate_key_file(path: Path | None = None) -> Path:
    """Create a new key file with mode 0600; refuses to overwrite an existing one."""
    target = path or key_file_path()
    if target.exists():
        raise ConfigurationError(f"{target} already exists; refusing to overwrite a key")
    target.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(Fernet.generate_key())
    return target


def encrypt_file(src: Path, dst: Path | None = None, key: bytes | None = None) -> Path:
    if not src.is_file():
        raise ConfigurationError(f"{src}: no such file")
    out = dst or src.with_name(src.name + ".enc")
    token = Fernet(key or load_master_key()).encrypt(src.read_bytes())  # type: ignore[arg-type]
    out.write_bytes(token)
    os.chmod(out, 0o600)
    return out


def decrypt_bytes(path: Path, key: bytes | None = None) -> str:
    """Decrypted text of ``path``, in memory only."""
    try:
        return Fernet(key or load_master_key()).decrypt(path.read_bytes()).decode()  # type: ignore[arg-type]
    except InvalidToken:
        raise ConfigurationError(
            f"{path}: cannot decrypt (wrong master key, or the file was altered)"
        ) from None


def parse_env_text(text: str) -> dict[str, str]:
    return {k: v for k, v in dotenv_values(stream=io.StringIO(text)).items() if v is not None}


class EncryptedDotEnvSource(PydanticBaseSettingsSource):
    """Settings from ``.env.enc`` (path in ``QUORUM_ENV_ENC``), decrypted in memory."""

    def __init__(self, settings_cls: type[BaseSettings]) -> None:
        super().__init__(settings_cls)
        self._values = self._load()

    @staticmethod
    def _load() -> dict[str, Any]:
        path = Path(os.environ.get("QUORUM_ENV_ENC", ".env.enc"))
        if not path.is_file():
            return {}
        key = load_master_key(required=True)
        flat = parse_env_text(decrypt_bytes(path, key))
        nested: dict[str, Any] = {}
        for raw_key, value in flat.items():
            if not raw_key.upper().startswith(ENV_PREFIX):
                continue
            parts = raw_key[len(ENV_PREFIX) :].lower().split("__")
            node = nested
            for part in parts[:-1]:
                node = node.setdefault(part, {})
            node[parts[-1]] = value
        return nested

    def get_field_value(self, field: FieldInfo, field_name: str) -> tuple[Any, str, bool]:
        return self._values.get(field_name), field_name, False

    def __call__(self) -> dict[str, Any]:
        return dict(self._values)


def audit_key(configured: str | None, state_dir: Path) -> bytes:
    """The audit HMAC key: the configured secret, else ``state_dir/audit.key`` (created
    once with mode 0600). A key file readable by others is refused like the master key."""
    if configured:
        return configured.encode()
    path = state_dir / "audit.key"
    if not path.exists():
        state_dir.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as f:
            f.write(os.urandom(32).hex().encode())
    mode = stat.S_IMODE(path.stat().st_mode)
    if mode & 0o077:
        raise ConfigurationError(
            f"audit key file {path} has mode {mode:04o}; it must be 0600. "
            f"Fix with: chmod 600 {path}"
        )
    return path.read_bytes().strip()
