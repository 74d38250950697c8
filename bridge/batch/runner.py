"""Running a batch: chunks of records evaluated in order, in worker processes.

One output record per input record, in input order; a record that fails gets
an error record in its place and the batch goes on. Memory stays bounded:
records are read, evaluated and written in chunks, at most 2 * jobs chunks in
flight, and the caches are capped.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from contextlib import ExitStack
from typing import IO, Any, Protocol

from policykb.bridge.batch.output import ChunkResult, Summary, csv_header
from policykb.bridge.batch.readers import Chunk, read_chunks
from policykb.bridge.batch.settings import MAX_JOBS, BatchSettings
from policykb.bridge.model.formats import InputFormat, RecordFormat

# -- running -----------------------------------------------------------------------


def _die_with_parent() -> None:
    """Ask Linux to kill this worker when its parent dies (even by SIGKILL)."""
    import ctypes
    import signal
    import sys

    if not sys.platform.startswith("linux"):
        return
    set_parent_death_signal = 1  # PR_SET_PDEATHSIG
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(set_parent_death_signal, signal.SIGKILL, 0, 0, 0)
    except (OSError, AttributeError):
        pass  # no prctl: the pool still ends its workers when the parent exits


class Worker(Protocol):
    def run(self, chunk: Chunk) -> Any: ...


class WorkerSettings(Protocol):
    """Picklable settings that make the worker of a run (BatchSettings, ImpactSettings)."""

    def worker(self) -> Worker: ...


_worker: Worker | None = None
_kept: dict[bytes, Worker] = {}
_kept_lock = threading.Lock()


def worker_for(settings: WorkerSettings) -> Worker:
    """The worker of these settings in this process, made on first use: a
    process that runs many partitions (a Dask worker, a Spark executor's
    Python worker) grounds and compiles each policy once."""
    import hashlib
    import pickle

    key = hashlib.sha256(pickle.dumps(settings)).digest()  # settings may hold dicts
    with _kept_lock:
        found = _kept.get(key)
        if found is None:
            found = _kept[key] = settings.worker()
        return found


def _start_worker(settings: WorkerSettings) -> None:
    global _worker
    _die_with_parent()
    import signal

    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's to handle
    _worker = settings.worker()


def _run_chunk(chunk: Chunk) -> Any:
    assert _worker is not None
    return _worker.run(chunk)


def evaluate_chunks(
    chunks: Iterator[Chunk], settings: WorkerSettings, jobs: int = 1, dask: str | None = None
) -> Iterator[Any]:
    """Chunk results in input order; with jobs > 1, chunks run in worker processes
    with at most 2 * jobs chunks in flight, so memory stays bounded; with
    `dask`, on the workers of a Dask cluster (dask.py)."""
    if dask is not None:
        from policykb.bridge.batch.dask import on_cluster

        yield from on_cluster(chunks, settings, dask)
        return
    jobs = min(jobs, MAX_JOBS)
    if jobs <= 1:
        worker = settings.worker()
        for chunk in chunks:
            yield worker.run(chunk)
        return
    with ProcessPoolExecutor(jobs, initializer=_start_worker, initargs=(settings,)) as pool:
        window: deque[Future[Any]] = deque()
        try:
            for chunk in chunks:
                window.append(pool.submit(_run_chunk, chunk))
                if len(window) >= 2 * jobs:
                    yield window.popleft().result()
        finally:
            # Input that breaks off still has its earlier records written, in order.
            while window:
                yield window.popleft().result()


def run_batch(
    source: IO[bytes],
    target: IO[bytes],
    input_format: InputFormat,
    settings: BatchSettings,
    jobs: int = 1,
    on_chunk: Callable[[ChunkResult], None] | None = None,
    dask: str | None = None,
) -> Summary:
    """Evaluate every record of `source` and write one output record per input
    record, in order, to `target`; `on_chunk` sees each chunk's result as it is
    written (for progress and error lines)."""
    summary = Summary()
    chunks = evaluate_chunks(read_chunks(source, input_format), settings, jobs, dask)
    with ExitStack() as stack:
        write: Callable[[Any], object] = target.write
        if settings.output is RecordFormat.PARQUET:
            import pyarrow.parquet as pq

            from policykb.bridge.batch.arrow import output_schema

            write = stack.enter_context(pq.ParquetWriter(target, output_schema())).write_batch
        elif settings.output is RecordFormat.CSV:
            target.write(csv_header())
        for result in chunks:
            write(result.output)
            summary.merge(result.summary)
            if on_chunk is not None:
                on_chunk(result)
    return summary
    if settings.output is RecordFormat.CSV:
        target.write(csv_header())
    for result in chunks:
        target.write(result.output)
        summary.merge(result.summary)
        if on_chunk is not None:
            on_chunk(result)
    return summary
