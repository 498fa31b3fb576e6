"""One offline daily cycle through the 22 agents on a 500-symbol synthetic universe, and
LLM calls per cycle as the universe grows.

- Bars: seeded geometric random walks (400 business days per symbol) written as CSV files
  in a temporary folder and read through ``FileMarketData`` like the shipped data.
- Numba cache warm: one cycle on the shipped 4-symbol data first, in the same process;
  that cycle is also the reference the 500-symbol time is compared with.
- LLM calls: a counting reasoner that records every request and answers none (each agent
  then uses its offline judgement, as when the budget is spent); the count per cycle must
  depend on the shortlist, not on the universe size.
"""

from __future__ import annotations

import asyncio
import tempfile
import time
from collections import Counter
from datetime import date
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from benchmarks._timing import section

AS_OF = date(2013, 2, 28)
BARS = 400
SEED = 20130228
STEP_LABELS = {
    "open_cycle": "open: read + validate 500 bar files, feed the paper broker, reconcile",
    "data": "data desk (4 agents)",
    "strategy": "strategy signals + technical view (4 agents)",
    "risk": "risk desk (4 agents)",
}


def write_universe(folder: Path, n: int, seed: int = SEED) -> list[str]:
    rng = np.random.default_rng(seed)
    days = pd.bdate_range(end=pd.Timestamp(AS_OF), periods=BARS)
    symbols = [f"S{i:03d}" for i in range(n)]
    folder.mkdir(parents=True, exist_ok=True)
    for symbol in symbols:
        drift, vol = rng.normal(0.0003, 0.0004), rng.uniform(0.008, 0.03)
        close = rng.uniform(20, 300) * np.exp(np.cumsum(rng.normal(drift, vol, BARS)))
        open_ = close * np.exp(rng.normal(0, vol / 3, BARS))
        high = np.maximum(open_, close) * (1 + rng.uniform(0, vol, BARS))
        low = np.minimum(open_, close) * (1 - rng.uniform(0, vol, BARS))
        pd.DataFrame(
            {
                "date": days.strftime("%Y-%m-%d"),
                "open": open_.round(4),
                "high": high.round(4),
                "low": low.round(4),
                "close": close.round(4),
                "adj_close": close.round(4),
                "volume": rng.integers(200_000, 5_000_000, BARS),
            }
        ).to_csv(folder / f"{symbol}.csv", index=False)
    return symbols


class CountingReasoner:
    """Counts LLM requests per agent and answers none (agents fall back to offline)."""

    def __init__(self) -> None:
        self.calls: Counter[str] = Counter()

    @property
    def name(self) -> str:
        return "counting"

    def complete(self, request: Any) -> Any:
        from core.errors import TemporaryError

        self.calls[request.agent] += 1
        raise TemporaryError("counting reasoner: no answers, by design")


async def one_cycle(
    state_dir: Path, data_dir: Path | None, symbols: list[str], reasoner: Any = None
) -> tuple[float, dict[str, float], dict[str, Any]]:
    from adapters.runtime import cycle_service
    from config.settings import load_settings

    overrides: dict[str, Any] = {"state_dir": state_dir, "universe": {"symbols": symbols}}
    if data_dir is not None:
        overrides["data_dir"] = data_dir
    settings = load_settings(**overrides)
    step_times: dict[str, float] = {}
    last = [time.perf_counter()]

    def on_update(node: str, update: dict[str, Any]) -> None:
        now = time.perf_counter()
        step = node.removesuffix("_agent")
        step_times[step] = step_times.get(step, 0.0) + now - last[0]
        last[0] = now

    async with cycle_service(settings, llm="offline", reasoner=reasoner) as service:
        t0 = time.perf_counter()
        last[0] = t0
        summary = await service.run(AS_OF if data_dir else date(2013, 2, 27), on_update=on_update)
        elapsed = time.perf_counter() - t0
    return elapsed, step_times, summary


def run() -> str:
    with tempfile.TemporaryDirectory(prefix="bench-cycle-") as tmp:
        root = Path(tmp)
        shipped = ["AAPL", "MSFT", "IBM", "GOOG"]
        asyncio.run(one_cycle(root / "warm", None, shipped))  # Numba cache and imports warm
        ref_s, _, _ = asyncio.run(one_cycle(root / "ref", None, shipped))

        symbols = write_universe(root / "data" / "us_daily", 500)
        big_s, steps, summary = asyncio.run(one_cycle(root / "big", root / "data", symbols))

        calls: dict[int, Counter[str]] = {}
        shortlists: dict[int, int] = {}
        for n in (50, 500):
            counter = CountingReasoner()
            _, _, s = asyncio.run(
                one_cycle(root / f"llm{n}", root / "data", symbols[:n], reasoner=counter)
            )
            calls[n] = counter.calls
            shortlists[n] = s["ideas"]

    slowest = sorted(steps.items(), key=lambda kv: -kv[1])[:6]
    rows = [
        "| cycle | symbols | wall time (s) | vs 4-symbol reference |",
        "|---|---:|---:|---:|",
        f"| shipped data (reference) | 4 | {ref_s:.2f} | 1.0× |",
        f"| synthetic random walks | 500 | {big_s:.2f} | {big_s / ref_s:.1f}× |",
        "",
        f"500-symbol cycle: status {summary['status']}, {summary['ideas']} ideas, "
        f"{len(summary['orders'])} orders. Target < 20 s on 2 cores: "
        f"**{'met' if big_s < 20 else 'NOT met'}**.",
        "",
        "Slowest steps of the 500-symbol cycle (fan-out steps summed over their agents):",
        "",
        "| step | seconds |",
        "|---|---:|",
        *[f"| {STEP_LABELS.get(name, name)} | {sec:.2f} |" for name, sec in slowest],
        "",
        "LLM requests per cycle (counting reasoner; every agent then fell back to offline):",
        "",
        "| agent | 50 symbols | 500 symbols |",
        "|---|---:|---:|",
        *[
            f"| {agent} | {calls[50][agent]} | {calls[500][agent]} |"
            for agent in sorted(set(calls[50]) | set(calls[500]))
        ],
        f"| **total** | **{sum(calls[50].values())}** | **{sum(calls[500].values())}** |",
        "",
        "Requests are bounded by the shortlist (5 symbols × (2 debate rounds × bull + bear"
        " + research manager)), the technical analyst's `llm_max_symbols` (5) and symbols"
        " with news, not by the universe: 10× the symbols, "
        f"{sum(calls[500].values()) / max(1, sum(calls[50].values())):.2f}× the requests.",
    ]
    return section("bench_cycle", "Daily cycle: 500 symbols, LLM calls per cycle", "\n".join(rows))


if __name__ == "__main__":
    print(run())
