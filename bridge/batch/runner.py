"""Running a batch: chunks of records evaluated in order, in worker processes.

One output record per input record, in input order; a record that fails gets
an error record in its place and the batch goes on. Memory stays bounded:
records are read, evaluated and written in chunks, at most 2 * jobs chunks in
flight, and the caches are capped.
"""

from __future__ import annotations

import dataclasses
import io
import os
import tempfile
import threading
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from contextlib import ExitStack
from typing import IO, Any, Protocol

from policykb.bridge.batch.output import ChunkResult, Spooled, Summary, csv_header
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
    written (for progress and error lines).

    With worker processes, JSONL and CSV records go through a spool folder:
    each worker writes a chunk's records to a file there and the kernel copies
    it into the target, so that the records do not pass through the pool's
    pipes (which kept workers waiting on this process).
    """
    summary = Summary()
    with ExitStack() as stack:
        if jobs > 1 and dask is None and settings.output is not RecordFormat.PARQUET:
            spool = stack.enter_context(tempfile.TemporaryDirectory(prefix="policykb-batch-"))
            settings = dataclasses.replace(settings, spool=spool)
        write: Callable[[Any], object] = target.write
        if settings.output is RecordFormat.PARQUET:
            import pyarrow.parquet as pq

            from policykb.bridge.batch.arrow import output_schema

            write = stack.enter_context(pq.ParquetWriter(target, output_schema())).write_batch
        elif settings.output is RecordFormat.CSV:
            target.write(csv_header())
        for result in evaluate_chunks(read_chunks(source, input_format), settings, jobs, dask):
            if isinstance(result.output, Spooled):
                _copy_spooled(result.output, target)
            else:
                write(result.output)
            summary.merge(result.summary)
            if on_chunk is not None:
                on_chunk(result)
    return summary


def _copy_spooled(spooled: Spooled, target: IO[bytes]) -> None:
    """Append a spooled chunk to `target` and remove it: copied by the kernel
    where it can (copy_file_range, else sendfile), else read and written."""
    with open(spooled.path, "rb") as chunk:
        remaining = spooled.size
        try:
            target.flush()
            out = target.fileno()
            offset = 0
            while remaining:
                try:
                    done = os.copy_file_range(chunk.fileno(), out, remaining, offset)
                except OSError:
                    done = os.sendfile(out, chunk.fileno(), offset, remaining)
                if done == 0:
                    break
                offset += done
                remaining -= done
        except (OSError, AttributeError, io.UnsupportedOperation):
            # Not a file the kernel copies into (a stream in memory, say).
            if remaining != spooled.size:
                raise
        if remaining:
            chunk.seek(spooled.size - remaining)
            target.write(chunk.read(remaining))
    os.unlink(spooled.path)
