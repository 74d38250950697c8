"""Running a batch's chunks on a Dask cluster (dask.distributed).

The driver reads the input in chunks, as for a local run, and sends each to
the cluster with the run's settings; each worker process makes the run's
worker once (grounding and compiling each policy once) and keeps it for
every chunk it gets. Results come back in input order, with at most two
chunks per worker thread in flight, so the driver's memory stays bounded
and the output equals a local run's record for record.

`local[N]` starts a LocalCluster of N worker processes on this machine for
the run; anything else is a scheduler's address (tcp://host:8786).

Interruption (Ctrl-C, SIGTERM) is the driver's alone: local workers are
started with SIGINT and SIGTERM blocked (the mask is inherited through
spawn), so a Ctrl-C sent to the terminal's whole process group reaches only
the driver. The driver then kills its local workers at once, without a
graceful close, so the command exits 130 within about a second, leaving no
process (workers, nannies' children, multiprocessing's resource tracker) and
no traceback.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import signal
import warnings
from collections import deque
from collections.abc import Iterator
from contextlib import ExitStack
from typing import TYPE_CHECKING, Any

from policykb.bridge.model.errors import CaseError, EngineError

if TYPE_CHECKING:
    from distributed import Client, Future, LocalCluster

    from policykb.bridge.batch.readers import Chunk
    from policykb.bridge.batch.runner import WorkerSettings

LOCAL = re.compile(r"local\[(\d{1,3})\]")
CONNECT_SECONDS = 20


def _run_on_worker(settings: WorkerSettings, chunk: Chunk) -> Any:
    from policykb.bridge.batch.runner import worker_for

    return worker_for(settings).run(chunk)


STOPPING = {signal.SIGINT, signal.SIGTERM}


@contextlib.contextmanager
def _signals_blocked() -> Iterator[None]:
    """Block SIGINT and SIGTERM in this thread while the block runs: threads
    and processes started meanwhile inherit the mask (so the cluster's event
    loop thread, and every worker process it spawns, never see Ctrl-C); a
    signal that comes meanwhile is delivered when the block ends. Without
    this, a busy thread of the cluster takes a signal sent to the process, and
    the main thread, waiting on a read, never runs its handler."""
    previous = signal.pthread_sigmask(signal.SIG_BLOCK, STOPPING)
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, previous)


def _local_cluster(workers: int) -> LocalCluster:
    from multiprocessing import resource_tracker

    # multiprocessing's resource tracker unblocks SIGINT and SIGTERM in the
    # thread that first starts it: started here, before the block, it cannot.
    resource_tracker.ensure_running()
    # The scheduler's HTTP server falls back to a free port when 8787 is taken
    # (another cluster on this machine): not the user's concern.
    warnings.filterwarnings("ignore", r"Port \d+ is already in use", UserWarning, r"distributed\.")
    with _signals_blocked():
        from distributed import LocalCluster  # its import starts a thread: blocked too

        cluster = LocalCluster(
            n_workers=workers,
            threads_per_worker=1,
            processes=True,
            dashboard_address=None,
        )
    return cluster


def _kill_local_workers(cluster: LocalCluster) -> None:
    """End the cluster's worker processes now (an interrupted run): a graceful
    close waits on each worker for seconds. Their nannies' reports of the
    deaths are silenced, not errors of the run."""
    for name in ("distributed", "tornado"):
        logging.getLogger(name).setLevel(logging.CRITICAL + 1)
    for nanny in list(cluster.workers.values()):
        # A nanny closing gracefully does not restart its worker when it dies.
        with contextlib.suppress(AttributeError):
            nanny.close_gracefully(reason="policykb-interrupted")
        pid = getattr(nanny, "pid", None)
        if isinstance(pid, int):
            with contextlib.suppress(OSError):
                os.kill(pid, signal.SIGKILL)


def _client(address: str, stack: ExitStack) -> Client:
    from distributed import Client

    local = LOCAL.fullmatch(address)
    try:
        if local is not None:
            workers = int(local.group(1))
            if not 1 <= workers <= 64:
                raise CaseError(f"--dask {address}: from 1 to 64 local workers")
            cluster = _local_cluster(workers)
            stack.push(_closing(cluster))
            client = stack.enter_context(Client(cluster))
            # Last in, first out: the workers are killed before the client closes.
            stack.push(_on_failure(lambda: _kill_local_workers(cluster)))
            return client
        if address.startswith("local"):
            raise CaseError(f"--dask {address!r}: write local[N] for N local workers")
        return stack.enter_context(Client(address, timeout=CONNECT_SECONDS))
    except (OSError, TimeoutError) as error:
        raise EngineError(f"--dask {address}: cannot reach the scheduler ({error})") from None


ABANDON_SECONDS = 0.5
"""How long an interrupted run waits for its local cluster to close."""


def _closing(cluster: LocalCluster) -> Any:
    """An exit callback that closes the cluster: at leisure after a run,
    within ABANDON_SECONDS after an interruption or error (its workers are
    dead by then; what is left is the scheduler's bookkeeping)."""

    def exit_callback(kind: type[BaseException] | None, *_: object) -> bool:
        if kind is None:
            cluster.close()
        else:
            with contextlib.suppress(Exception):
                cluster.close(timeout=ABANDON_SECONDS)
        return False

    return exit_callback


def _on_failure(action: Any) -> Any:
    """An exit callback for an ExitStack that runs `action` only when the
    block ends by an exception (an interruption, a failed chunk)."""

    def exit_callback(kind: type[BaseException] | None, *_: object) -> bool:
        if kind is not None:
            action()
        return False

    return exit_callback


def on_cluster(chunks: Iterator[Chunk], settings: WorkerSettings, address: str) -> Iterator[Any]:
    """The chunks' results in input order, each run on a worker of the cluster."""
    with ExitStack() as stack:
        client = _client(address, stack)
        threads = max(sum(client.nthreads().values()), 1)
        window: deque[Future[Any]] = deque()
        for chunk in chunks:
            window.append(client.submit(_run_on_worker, settings, chunk, pure=False))
            if len(window) >= 2 * threads:
                yield _result(window.popleft())
        # Only a run that read all its input waits for the chunks in flight: on
        # an interruption or an error they are abandoned, never waited for.
        while window:
            yield _result(window.popleft())


def _result(future: Future[Any]) -> Any:
    try:
        return future.result()
    except Exception as error:  # a worker died or the cluster went away
        if isinstance(error, CaseError | EngineError):
            raise
        raise EngineError(f"the Dask cluster failed: {type(error).__name__}: {error}") from None
