"""deploy-vultr.sh and the systemd units of deploy/: shellcheck clean, a dry run that
prints every action and changes nothing (run as an unprivileged user when the tests run
as root, so a slip could not change the machine anyway), the options reach the actions,
and the units verify with systemd-analyze and carry their hardening."""

from __future__ import annotations

import configparser
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.conftest import REPO_ROOT

SCRIPT = REPO_ROOT / "deploy-vultr.sh"
DEPLOY = REPO_ROOT / "deploy"
SERVICES = ["quorum-daemon.service", "quorum-chat.service", "quorum-backup.service"]
IN_CI = os.environ.get("CI", "").lower() == "true"


def _tool(name: str) -> str:
    found = shutil.which(name)
    if found is None:
        if IN_CI:
            pytest.fail(f"CI=true and {name} is not installed", pytrace=False)
        pytest.skip(f"{name} not installed")
    return found


def dry_run(*args: str) -> subprocess.CompletedProcess[str]:
    command = [str(SCRIPT), "--dry-run", *args]
    if os.geteuid() == 0 and shutil.which("setpriv"):
        command = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", *command]
    return subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)


def test_deploy_script_when_shellchecked_then_no_finding() -> None:
    shellcheck = _tool("shellcheck")
    result = subprocess.run([shellcheck, str(SCRIPT)], capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stdout


def test_dry_run_when_defaults_then_prints_each_action_and_changes_nothing() -> None:
    _tool("apt-cache")  # the dry run asks apt which python it would install
    before = {p: p.exists() for p in (Path("/opt/quorum"), Path("/etc/quorum"))}
    result = dry_run()
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "dry run: nothing was changed" in out
    for action in (
        "+ useradd --system",
        "make -C /opt/quorum install PYTHON=python3",
        "quorum secrets keygen --path /etc/quorum/master.key",
        "+ chmod 0600 /etc/quorum/master.key",
        "+ write /etc/systemd/system/quorum-daemon.service",
        "+ write /etc/systemd/system/quorum-backup.timer",
        "+ write /etc/systemd/journald.conf.d/quorum.conf",
        "+ systemctl enable quorum-daemon.service quorum-backup.timer",
        "+ ufw allow 22/tcp comment ssh",
        "+ ufw --force enable",
        "+ systemctl disable --now quorum-chat.service",  # no --chat-port: chat off
        "ib-gateway.service.example",
    ):
        assert action in out, action
    assert "redis-server" not in out.split("==> packages:")[1].splitlines()[0]
    assert {p: p.exists() for p in before} == before


def test_dry_run_when_options_given_then_they_reach_the_actions() -> None:
    _tool("apt-cache")
    result = dry_run("--with-redis", "--chat-port", "443", "--install-dir", "/srv/q",
                     "--repo", "https://example.invalid/quorum.git", "--branch", "v2")  # fmt: skip
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "redis-server" in out.split("==> packages:")[1].splitlines()[0]
    assert "git clone --branch v2 https://example.invalid/quorum.git /srv/q" in out
    assert "ExecStart=/srv/q/.venv/bin/quorum daemon" in out  # units rewritten
    assert "/opt/quorum" not in out.split("+ write /etc/systemd/system/quorum-daemon.service")[1]
    assert "QUORUM_BUS__KIND=redis" in out
    assert "+ ufw allow 443/tcp comment quorum-chat" in out
    assert "+ systemctl enable --now redis-server.service" in out
    assert "+ systemctl enable quorum-chat.service" in out


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--bogus"], "unknown option --bogus"),
        (["--chat-port", "70000"], "bad port: 70000"),
        (["--install-dir", "relative/dir"], "--install-dir must be an absolute path"),
        (["--env-file", "/nonexistent/quorum.env"], "--env-file /nonexistent/quorum.env: no such"),
    ],
)
def test_dry_run_when_an_option_is_bad_then_one_line_error_and_exit_1(
    args: list[str], message: str
) -> None:
    result = dry_run(*args)
    assert result.returncode == 1
    assert message in result.stderr and result.stderr.count("\n") == 1


def unprivileged(*args: str) -> list[str]:
    """A real (not dry) run as nobody: whatever the script does wrong, it cannot change
    the machine."""
    if os.geteuid() != 0:
        return [str(SCRIPT), *args]
    if not shutil.which("setpriv"):
        pytest.skip("running as root without setpriv: cannot drop privileges")
    return ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", str(SCRIPT), *args]


def test_real_run_when_not_root_then_refused() -> None:
    # any directory nobody can see stands in for /run/systemd/system: as if systemd ran
    env = {**os.environ, "QUORUM_DEPLOY_SYSTEMD_DIR": str(DEPLOY)}
    result = subprocess.run(unprivileged(), capture_output=True, text=True, timeout=60,
                            check=False, env=env)  # fmt: skip
    assert result.returncode == 1
    assert "run as root" in result.stderr


def test_real_run_when_systemd_not_running_then_refused_before_any_change(
    tmp_path: Path,
) -> None:
    # A container has no systemd: the run used to install packages, the user and the
    # code, then stop at `systemctl restart systemd-journald`, half installed.
    env = {**os.environ, "QUORUM_DEPLOY_SYSTEMD_DIR": str(tmp_path / "no-systemd")}
    result = subprocess.run(unprivileged(), capture_output=True, text=True, timeout=60,
                            check=False, env=env)  # fmt: skip
    assert result.returncode == 1
    assert "systemd is not running here" in result.stderr
    assert "nothing was changed" in result.stderr and result.stdout == ""
    dry = subprocess.run(unprivileged("--dry-run"), capture_output=True, text=True,
                         timeout=120, check=False, env=env)  # fmt: skip
    assert dry.returncode == 0, dry.stderr
    assert "warning: systemd is not running here" in dry.stdout


def _units(tmp_path: Path) -> list[Path]:
    """The units with ExecStart pointing at this checkout's quorum (systemd-analyze
    verify checks that the binary exists)."""
    quorum = REPO_ROOT / ".venv" / "bin" / "quorum"
    assert quorum.exists(), "run `make install-dev` first"
    out = []
    for unit in sorted(DEPLOY.glob("*.service")) + sorted(DEPLOY.glob("*.timer")):
        target = tmp_path / unit.name
        target.write_text(unit.read_text().replace("/opt/quorum/.venv/bin/quorum", str(quorum)))
        out.append(target)
    return out


def test_units_when_verified_by_systemd_then_no_complaint(tmp_path: Path) -> None:
    analyze = _tool("systemd-analyze")
    units = _units(tmp_path)
    result = subprocess.run([analyze, "verify", *map(str, units)], capture_output=True,
                            text=True, timeout=60, check=False)  # fmt: skip
    assert result.returncode == 0 and result.stdout + result.stderr == "", result.stderr


def test_units_when_read_then_hardened_and_stop_cleanly() -> None:
    for name in SERVICES:
        unit = configparser.ConfigParser(strict=False, interpolation=None)
        unit.optionxform = str  # type: ignore[assignment,method-assign]
        unit.read(DEPLOY / name)
        service = unit["Service"]
        assert service["User"] == "quorum", name
        assert service["NoNewPrivileges"] == "yes", name
        assert service["ProtectSystem"] == "strict", name
        assert service["ReadWritePaths"] == "/var/lib/quorum", name
        assert service["PrivateTmp"] == "yes", name
        assert "MemoryDenyWriteExecute" not in service, f"{name}: Numba needs W+X memory"
    daemon = configparser.ConfigParser(strict=False, interpolation=None)
    daemon.read(DEPLOY / "quorum-daemon.service")
    assert daemon["Service"]["KillSignal"] == "SIGTERM"
    assert daemon["Service"]["Restart"] == "on-failure"
    assert daemon["Service"]["TimeoutStopSec"] == "15min"
    timer = configparser.ConfigParser(strict=False, interpolation=None)
    timer.read(DEPLOY / "quorum-backup.timer")
    assert timer["Timer"]["Unit"] == "quorum-backup.service"
    assert "--keep" in (DEPLOY / "quorum-backup.service").read_text()
