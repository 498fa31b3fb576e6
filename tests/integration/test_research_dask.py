"""Research tasks on a real Dask LocalCluster: two worker processes on loopback give
the same numbers as this process, through the workflow and through the CLI."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest
from typer.testing import CliRunner

import adapters.compute.dask as dask_adapter
from adapters.cli.main import app
from adapters.compute.dask import DaskExecutor, open_executor, parse_scheduler, start_local_cluster
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


def test_open_executor_when_existing_scheduler_then_dask_logs_only_errors_meanwhile(
    client: Any,
) -> None:
    # Dask's INFO/WARNING records reached the CLI's root handler: about 30 log lines
    # around every local:N result
    dask_logger = logging.getLogger("distributed")
    before = dask_logger.level
    with open_executor(parse_scheduler(client.scheduler.address)) as executor:
        assert dask_logger.getEffectiveLevel() == logging.ERROR
        assert executor.map(lambda d, t: d + t, [10], [(0, 1), (0, 2)]) == [11, 12]
    assert dask_logger.level == before


def test_walkforward_cli_when_local_2_then_no_dask_log_lines_around_the_json() -> None:
    result = CliRunner().invoke(app, [*CLI_ARGS, "--scheduler", "local:2"])
    assert result.exit_code == 0, result.stderr
    assert "distributed." not in result.stderr and "Nanny" not in result.stderr
