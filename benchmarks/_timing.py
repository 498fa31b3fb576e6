"""Shared helpers for benchmarks: best-of-N timing and the machine description."""

from __future__ import annotations

import os
import platform
import time
from collections.abc import Callable
from typing import Any


def best_of(fn: Callable[[], Any], repeat: int = 5, number: int = 1) -> float:
    """Best wall time in seconds of ``number`` calls, over ``repeat`` tries."""
    best = float("inf")
    for _ in range(repeat):
        t0 = time.perf_counter()
        for _ in range(number):
            fn()
        best = min(best, (time.perf_counter() - t0) / number)
    return best


def section(name: str, title: str, body: str) -> str:
    """A RESULTS.md section; the marker lets later partial runs keep other sections."""
    return f"<!-- bench:{name} -->\n## {title}\n\n{body.strip()}\n"


def machine_description() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    mem = ""
    try:
        with open("/proc/meminfo") as f:
            kb = int(f.readline().split()[1])
            mem = f", {kb / 1024 / 1024:.0f} GiB RAM"
    except (OSError, ValueError, IndexError):
        pass
    return (
        f"- CPU: {cpu}, {os.cpu_count()} logical cores{mem}\n"
        f"- OS: {platform.system()} {platform.release()}\n"
        f"- Python {platform.python_version()}"
    )
