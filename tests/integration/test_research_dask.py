"""Research tasks on a real Dask LocalCluster: two worker processes on loopback give
the same numbers as this process, through the workflow and through the CLI."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest
from typer.testing import CliRunner

import adapters.compute.dask as dask_adapter
from adapters.cli.main import app
from adapters.compute.dask import DaskExecutor, start_local_cluster
from tools.research.grid import BarArrays
from workflows.research import walk_forward
from workflows.research_types import FoldSpec

GRID = {"fast": [5, 10, 20], "slow": [30, 60]}
CLI_ARGS = ["walkforward", "--strategy", "ma_crossover", "--grid", "fast=5:15:5", "slow=30:50:10",
            "--symbols", "AAPL,MSFT", "--folds", "3", "--cscv-blocks", "8", "--json"]  # fmt: skip


def synthetic(symbol: str, n: int, seed: int) -> BarArrays:
    rng = np.random.default_rng(seed)
    close = 40.0 * np.exp(np.cumsum(rng.normal(0.0003, 0.02, n)))
    open_ = close * np.exp(rng.normal(0.0, 0.006, n))
    high = np.maximum(open_, close) * (1 + np.abs(rng.normal(0, 0.006, n)))
    low = np.minimum(open_, close) * (1 - np.abs(rng.normal(0, 0.006, n)))
    ts = (np.datetime64("2015-01-02") + np.arange(n)).astype("datetime64[ns]")
    return BarArrays(symbol, ts, open_, high, low, close)


@pytest.fixture(scope="module")
def client() -> Iterator[Any]:
    from distributed import Client

    with start_local_cluster(2) as cluster, Client(cluster) as c:
        yield c


def cli(*args: str) -> dict[str, Any]:
    result = CliRunner().invoke(app, list(args))
    assert result.exit_code == 0, result.stderr
    return dict(json.loads(result.stdout))


def test_local_cluster_when_started_then_two_single_threaded_workers_on_loopback(
    client: Any,
) -> None:
    info = client.scheduler_info(n_workers=-1)
    assert info["address"].startswith("tcp://127.0.0.1:")
    workers = info["workers"]
    assert len(workers) == 2
    assert all(addr.startswith("tcp://127.0.0.1:") for addr in workers)
    assert {w["nthreads"] for w in workers.values()} == {1}

    def numba_threads() -> int:
        import numba

        return int(numba.config.NUMBA_NUM_THREADS)

    assert set(client.run(numba_threads).values()) == {1}
    assert DaskExecutor(client).n_workers == 2


def test_walk_forward_when_on_local_cluster_then_identical_to_in_process(client: Any) -> None:
    bars = {s: synthetic(s, n, seed) for s, n, seed in [("A", 640, 1), ("B", 640, 2),
                                                          ("C", 480, 3)]}  # fmt: skip
    kwargs: dict[str, Any] = {"cscv_blocks": 8, "symbols_per_task": 1}
    here = walk_forward(bars, "ma_crossover", GRID, FoldSpec(n_folds=3), **kwargs)
    there = walk_forward(bars, "ma_crossover", GRID, FoldSpec(n_folds=3),
                         executor=DaskExecutor(client), **kwargs)  # fmt: skip
    assert there.model_dump_json() == here.model_dump_json()
    for a, b in zip(here.symbols, there.symbols, strict=True):
        np.testing.assert_array_equal(a.curve.equity, b.curve.equity)
        np.testing.assert_array_equal(a.curve.timestamps, b.curve.timestamps)
        assert a.curve.trades == b.curve.trades


def test_walkforward_cli_when_existing_scheduler_or_local_2_then_same_json(client: Any) -> None:
    in_process = cli(*CLI_ARGS)
    assert cli(*CLI_ARGS, "--scheduler", client.scheduler.address) == in_process
    assert cli(*CLI_ARGS, "--scheduler", "local:2", "--symbols-per-task", "1") == in_process
    assert [f["fold"] for f in in_process["symbols"][0]["folds"]] == [1, 2, 3]


def test_walkforward_cli_when_scheduler_unreachable_then_exit_1(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(dask_adapter, "CONNECT_TIMEOUT_S", 1)
    result = CliRunner().invoke(app, [*CLI_ARGS, "--scheduler", "tcp://127.0.0.1:9"])
    assert result.exit_code == 1
    assert "cannot reach the Dask scheduler at tcp://127.0.0.1:9" in result.stderr
