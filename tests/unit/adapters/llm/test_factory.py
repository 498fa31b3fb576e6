from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from adapters.llm.budget import BudgetedReasoner
from adapters.llm.cache import CachedReasoner
from adapters.llm.factory import check_spec, make_reasoner
from adapters.llm.offline import OfflineReasoner
from adapters.llm.replay import ReplayReasoner
from adapters.storage.sqlite import SqliteStore
from config.settings import Settings
from core.errors import ConfigurationError

REPO = Path(__file__).resolve().parents[4]


def test_make_reasoner_when_offline_then_budgeted_offline() -> None:
    r = make_reasoner("offline", Settings())
    assert isinstance(r, BudgetedReasoner) and isinstance(r.inner, OfflineReasoner)
    assert r.name == "offline" and r.budget_usd == 1.0


def test_make_reasoner_when_replay_with_store_then_cached_replay(tmp_path: Path) -> None:
    path = tmp_path / "r.jsonl"
    path.write_text('{"agent": "a", "response": "x"}\n')
    store = SqliteStore(tmp_path / "q.db")
    r = make_reasoner(f"replay:{path}", Settings(), store)
    assert isinstance(r.inner, CachedReasoner) and isinstance(r.inner.inner, ReplayReasoner)
    assert r.name == "replay" and r.inner.model.startswith("replay:")
    path.write_text('{"agent": "a", "response": "y"}\n')  # edited: not the same cache entry
    assert make_reasoner(f"replay:{path}", Settings(), store).inner.model != r.inner.model
    store.close()


def test_make_reasoner_when_provider_replay_in_settings_then_its_file(tmp_path: Path) -> None:
    path = tmp_path / "r.jsonl"
    path.write_text("")
    r = make_reasoner(None, Settings(llm={"provider": "replay", "replay_file": path}))
    assert isinstance(r.inner, ReplayReasoner)


@pytest.mark.parametrize("spec", ["gpt", "replay:", "anthropic"])
def test_make_reasoner_when_unknown_or_incomplete_then_configuration_error(spec: str) -> None:
    with pytest.raises(ConfigurationError):
        make_reasoner(spec, Settings())  # anthropic: no API key in the test environment


def test_make_reasoner_when_anthropic_key_set_then_model_from_settings() -> None:
    settings = Settings(
        llm={"provider": "anthropic", "anthropic_api_key": "k", "model": "claude-haiku-4-5"}
    )
    r = make_reasoner(None, settings)
    assert r.name == "anthropic" and r.inner.model == "claude-haiku-4-5"  # type: ignore[attr-defined]


def test_importing_the_cli_and_the_offline_path_never_imports_the_anthropic_sdk() -> None:
    code = (
        "import sys, adapters.cli.main, adapters.llm.factory, agents.registry\n"
        "from adapters.llm.factory import check_spec, make_reasoner\n"
        "from config.settings import Settings\n"
        "make_reasoner('offline', Settings())\n"
        "sdk = ('anthropic', 'langchain_anthropic')\n"
        "bad = [m for m in sys.modules if m.split('.')[0] in sdk]\n"
        "print(bad); sys.exit(1 if bad else 0)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr


def test_check_spec_when_backend_unknown_or_replay_file_bad_then_configuration_error(
    tmp_path: Path,
) -> None:
    settings = Settings()
    for good in ("offline", "cache", None):
        check_spec(good, settings)
    check_spec("anthropic", Settings(llm={"anthropic_api_key": "sk-test"}))
    with pytest.raises(ConfigurationError, match="needs an API key"):
        check_spec("anthropic", Settings(llm={"anthropic_api_key": None}))
    with pytest.raises(ConfigurationError, match="unknown LLM backend 'gpt'"):
        check_spec("gpt", settings)
    with pytest.raises(ConfigurationError, match="needs a file"):
        check_spec("replay:", settings)
    with pytest.raises(ConfigurationError, match="replay file not found"):
        check_spec(f"replay:{tmp_path / 'none.jsonl'}", settings)
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"agent": "bull_researcher", "response": "{}"}\nnot json\n')
    with pytest.raises(ConfigurationError, match=r"bad\.jsonl:2"):
        check_spec(f"replay:{bad}", settings)
