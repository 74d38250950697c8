"""Running a batch's chunks on a Dask cluster (dask.distributed).

The driver reads the input in chunks, as for a local run, and sends each to
the cluster with the run's settings; each worker process makes the run's
worker once (grounding and compiling each policy once) and keeps it for
every chunk it gets. Results come back in input order, with at most two
chunks per worker thread in flight, so the driver's memory stays bounded
and the output equals a local run's record for record.

`local[N]` starts a LocalCluster of N worker processes on this machine for
the run; anything else is a scheduler's address (tcp://host:8786).
"""

from __future__ import annotations

import re
from collections import deque
from collections.abc import Iterator
from contextlib import ExitStack
from typing import TYPE_CHECKING, Any

from policykb.bridge.model.errors import CaseError, EngineError

if TYPE_CHECKING:
    from distributed import Client, Future

    from policykb.bridge.batch.readers import Chunk
    from policykb.bridge.batch.runner import WorkerSettings

LOCAL = re.compile(r"local\[(\d{1,3})\]")
CONNECT_SECONDS = 20


def _run_on_worker(settings: WorkerSettings, chunk: Chunk) -> Any:
    from policykb.bridge.batch.runner import worker_for

    return worker_for(settings).run(chunk)


def _client(address: str, stack: ExitStack) -> Client:
    from distributed import Client, LocalCluster

    local = LOCAL.fullmatch(address)
    try:
        if local is not None:
            workers = int(local.group(1))
            if not 1 <= workers <= 64:
                raise CaseError(f"--dask {address}: from 1 to 64 local workers")
            cluster = stack.enter_context(
                LocalCluster(
                    n_workers=workers,
                    threads_per_worker=1,
                    processes=True,
                    dashboard_address=None,
                )
            )
            return stack.enter_context(Client(cluster))
        if address.startswith("local"):
            raise CaseError(f"--dask {address!r}: write local[N] for N local workers")
        return stack.enter_context(Client(address, timeout=CONNECT_SECONDS))
    except (OSError, TimeoutError) as error:
        raise EngineError(f"--dask {address}: cannot reach the scheduler ({error})") from None


def on_cluster(chunks: Iterator[Chunk], settings: WorkerSettings, address: str) -> Iterator[Any]:
    """The chunks' results in input order, each run on a worker of the cluster."""
    with ExitStack() as stack:
        client = _client(address, stack)
        threads = max(sum(client.nthreads().values()), 1)
        window: deque[Future[Any]] = deque()
        try:
            for chunk in chunks:
                window.append(client.submit(_run_on_worker, settings, chunk, pure=False))
                if len(window) >= 2 * threads:
                    yield _result(window.popleft())
        finally:
            while window:
                yield _result(window.popleft())


def _result(future: Future[Any]) -> Any:
    try:
        return future.result()
    except Exception as error:  # a worker died or the cluster went away
        if isinstance(error, CaseError | EngineError):
            raise
        raise EngineError(f"the Dask cluster failed: {type(error).__name__}: {error}") from None
