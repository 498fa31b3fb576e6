"""Research tasks on Dask distributed: a LocalCluster of worker processes on loopback,
or an existing cluster's scheduler (``tcp://HOST:8786``). See docs/scale.md.

The only module that imports ``distributed``. Workers run the same functions as the
in-process executor, on the same arrays, so results are identical; each worker process
runs one task at a time with one Numba thread (``WORKER_ENV``), so N workers use N cores.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any, Literal, TypeVar

from pydantic import BaseModel, ConfigDict

from core.errors import ConfigurationError, TemporaryError
from workflows.research_types import InProcessExecutor, TaskExecutor

D = TypeVar("D")
T = TypeVar("T")
R = TypeVar("R")

WORKER_ENV = {
    "NUMBA_NUM_THREADS": "1",
    "OMP_NUM_THREADS": "1",
    "MKL_NUM_THREADS": "1",
    "OPENBLAS_NUM_THREADS": "1",
}
MAX_LOCAL_WORKERS = 256
CONNECT_TIMEOUT_S = 10
HANDSHAKE_GRACE_S = 2  # past the connect timeout: a refused port fails first, as OSError
MAX_PORT = 65535
# Dask's own log records (cluster start-up and shutdown, INFO and WARNING) would reach the
# CLI's root handler and bury the result; only errors are shown while an executor is open.
QUIET_LOGGER = "distributed"
SCHEDULER_HELP = "in-process (default), local, local:N, or tcp://HOST:PORT"


class SchedulerSpec(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    kind: Literal["inprocess", "local", "remote"]
    workers: int | None = None  # local
    address: str | None = None  # remote


def parse_scheduler(value: str | None) -> SchedulerSpec:
    """``None``/``in-process`` → this process; ``local[:N]`` → a LocalCluster of N
    worker processes (default: one per core); ``tcp://HOST:PORT`` / ``tls://HOST:PORT``
    → an existing scheduler. Anything else: ``ConfigurationError`` naming the value."""
    text = (value or "").strip()
    if text in ("", "in-process", "inprocess", "none"):
        return SchedulerSpec(kind="inprocess")
    if text == "local" or text.startswith("local:"):
        count = text.partition(":")[2]
        if not count:
            return SchedulerSpec(kind="local", workers=os.cpu_count() or 1)
        if not count.isdigit() or not 1 <= int(count) <= MAX_LOCAL_WORKERS:
            raise ConfigurationError(
                f"--scheduler {value!r}: local:N needs N between 1 and {MAX_LOCAL_WORKERS}"
            )
        return SchedulerSpec(kind="local", workers=int(count))
    scheme, sep, rest = text.partition("://")
    host, colon, port = rest.rpartition(":")
    if sep and scheme in ("tcp", "tls") and colon and host and port.isdigit():
        if not 1 <= int(port) <= MAX_PORT:
            raise ConfigurationError(f"--scheduler {value!r}: port must be 1..{MAX_PORT}")
        return SchedulerSpec(kind="remote", address=text)
    raise ConfigurationError(f"--scheduler {value!r}: expected {SCHEDULER_HELP}")


class DaskExecutor:
    """``TaskExecutor`` on a ``distributed.Client``: the data items are scattered once
    (each then moves to a worker at most once), one Dask task per research task."""

    def __init__(self, client: Any) -> None:
        self.client = client

    def map(
        self, fn: Callable[[D, T], R], data: Sequence[D], tasks: Sequence[tuple[int, T]]
    ) -> list[R]:
        if not tasks:
            return []
        # Unique keys per call (hash=False): a later call never waits on, or loses, the
        # data of an earlier one. Dropping the futures releases everything on return.
        shared = self.client.scatter(list(data), hash=False)
        futures = self.client.map(
            fn, [shared[i] for i, _ in tasks], [task for _, task in tasks], pure=False
        )
        results: list[R] = self.client.gather(futures)
        return results

    @property
    def n_workers(self) -> int:
        return len(self.client.scheduler_info(n_workers=-1)["workers"])


def start_local_cluster(n_workers: int) -> Any:
    """A LocalCluster of ``n_workers`` processes × 1 thread. Everything listens on
    127.0.0.1 only: scheduler, nannies, workers, and the scheduler's HTTP endpoint
    (health and metrics; the dashboard itself is off) on a random port."""
    from distributed import LocalCluster

    return LocalCluster(  # type: ignore[no-untyped-call]
        n_workers=n_workers,
        threads_per_worker=1,
        processes=True,
        host="127.0.0.1",
        scheduler_port=0,
        dashboard_address=None,
        scheduler_kwargs={"dashboard_address": "127.0.0.1:0"},
        env=dict(WORKER_ENV),
        silence_logs=logging.ERROR,
    )


@contextmanager
def open_executor(spec: SchedulerSpec) -> Iterator[TaskExecutor]:
    """The executor for ``spec``, shut down (cluster included) on exit. A remote
    scheduler is checked first (``check_scheduler``); Dask logs only errors meanwhile."""
    if spec.kind == "inprocess":
        yield InProcessExecutor()
        return
    from distributed import Client

    with _quiet_dask_logs():
        if spec.kind == "local":
            cluster = start_local_cluster(spec.workers or 1)
            with cluster, Client(cluster) as client:  # type: ignore[no-untyped-call]
                yield DaskExecutor(client)
            return
        address = spec.address or ""
        check_scheduler(address, CONNECT_TIMEOUT_S)
        try:
            client = Client(address, timeout=CONNECT_TIMEOUT_S)  # type: ignore[no-untyped-call]
        except (OSError, TimeoutError) as exc:
            raise TemporaryError(f"cannot reach the Dask scheduler at {address}: {exc}") from None
        with client:
            yield DaskExecutor(client)


@contextmanager
def _quiet_dask_logs() -> Iterator[None]:
    logger = logging.getLogger(QUIET_LOGGER)
    before = logger.level
    logger.setLevel(logging.ERROR)
    try:
        yield
    finally:
        logger.setLevel(before)


def check_scheduler(address: str, timeout: float) -> None:
    """Connect to ``address`` within ``timeout`` seconds and complete Dask's handshake
    within ``HANDSHAKE_GRACE_S`` more; ``TemporaryError`` if not.

    ``distributed.Client(address, timeout=...)`` bounds the TCP connect but not the
    handshake after it: a port that accepts connections but is not a Dask scheduler (a
    web server, the scheduler's own dashboard port) makes it wait forever. ``tls://``
    needs a client certificate in Dask's configuration; without one Dask fails with a
    ``TypeError`` deep in its TLS code. Both become one-line errors here.
    """
    import asyncio

    from distributed.comm.core import connect
    from distributed.security import Security

    args = Security().get_connection_args("client")  # type: ignore[no-untyped-call]
    if address.startswith("tls://") and args.get("ssl_context") is None:
        raise ConfigurationError(
            f"--scheduler {address}: tls:// needs Dask's TLS client settings "
            "(distributed.comm.tls.ca-file, .client.cert, .client.key), see docs/scale.md"
        )

    deadline = timeout + HANDSHAKE_GRACE_S

    async def handshake() -> None:
        opening = connect(address, timeout=timeout, **args)  # type: ignore[no-untyped-call]
        comm = await asyncio.wait_for(opening, deadline)
        await comm.close()

    try:
        asyncio.run(handshake())
    except TimeoutError:
        raise TemporaryError(
            f"cannot reach the Dask scheduler at {address}: no Dask handshake within "
            f"{deadline:g} s (is it a Dask scheduler's port?)"
        ) from None
    except OSError as exc:
        raise TemporaryError(f"cannot reach the Dask scheduler at {address}: {exc}") from None
