"""The workers of one `policykb serve` and their open connections, shared.

`policykb serve --workers N` starts N processes that accept from one
listening socket. Left to the kernel and the event loops, whichever worker
wakes first accepts every connection waiting, so a burst of keep-alive
clients lands mostly on one worker while the others idle (32 connections
were split 32/0, 29/3 and 24/8 in trials). The table lets each worker see
how many connections the others hold, so that the one with the fewest takes
the next (service/balanced_accept.py).

The table is a small file the parent creates and every worker maps into
memory: one slot per worker, each its process id and open connections (two
little-endian signed 64-bit integers). A worker claims a free slot under an
exclusive file lock; a slot whose process no longer exists is free, so a
worker that died and one uvicorn starts in its place do not leave a phantom
behind. Each worker writes only its own slot's count, a single aligned
8-byte store; the others read it without a lock (a count a moment old only
shifts which worker takes one connection).
"""

from __future__ import annotations

import fcntl
import mmap
import os
import struct
from pathlib import Path

TABLE_VARIABLE = "POLICYKB_SERVE_WORKER_TABLE"  # the table file of this serve's workers
SLOTS = 256  # four times the most workers `--workers` allows, so a restarted worker finds one
_SLOT = struct.Struct("<qq")  # process id, open connections


def create_table(path: Path) -> None:
    """An empty table at `path` (the parent, before its workers start)."""
    descriptor = os.open(path, os.O_RDWR | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.ftruncate(descriptor, SLOTS * _SLOT.size)
    finally:
        os.close(descriptor)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process: alive
        return True
    return True


class WorkerTable:
    """This worker's view of the table: its own slot, the others' counts."""

    def __init__(self, path: Path, pid: int | None = None) -> None:
        """Join the table at `path` as the worker `pid` (this process's by default)."""
        descriptor = os.open(path, os.O_RDWR)
        try:
            self._memory = mmap.mmap(descriptor, SLOTS * _SLOT.size)
            fcntl.flock(descriptor, fcntl.LOCK_EX)
            try:
                self._slot = self._claim(os.getpid() if pid is None else pid)
            finally:
                fcntl.flock(descriptor, fcntl.LOCK_UN)
        finally:
            os.close(descriptor)
        self._connections = 0

    def _claim(self, pid: int) -> int:
        for slot in range(SLOTS):
            owner, _ = _SLOT.unpack_from(self._memory, slot * _SLOT.size)
            if owner == 0 or owner == pid or not _alive(owner):
                _SLOT.pack_into(self._memory, slot * _SLOT.size, pid, 0)
                return slot
        raise RuntimeError(f"the worker table has no free slot of {SLOTS}")

    @property
    def slot(self) -> int:
        """The slot this worker holds."""
        return self._slot

    @property
    def connections(self) -> int:
        """The connections this worker holds, as last published."""
        return self._connections

    def publish(self, connections: int) -> None:
        """This worker now holds `connections` connections."""
        self._connections = connections
        struct.pack_into("<q", self._memory, self._slot * _SLOT.size + 8, connections)

    def fewest_elsewhere(self) -> int | None:
        """The fewest connections any other live worker holds; None when no
        other worker has joined (or all others have left)."""
        fewest: int | None = None
        for slot in range(SLOTS):
            if slot == self._slot:
                continue
            owner, held = _SLOT.unpack_from(self._memory, slot * _SLOT.size)
            if owner == 0 or not _alive(owner):
                continue
            fewest = held if fewest is None else min(fewest, held)
        return fewest

    def leave(self) -> None:
        """Free this worker's slot (it no longer accepts)."""
        if self._memory.closed:
            return
        _SLOT.pack_into(self._memory, self._slot * _SLOT.size, 0, 0)
        self._memory.close()
