"""Connections spread evenly over the workers of `policykb serve --workers N`
(service/worker_table.py, service/balanced_accept.py).

Probe: with 2 workers, 32 keep-alive connections opened at once were split
32/0, 29/3 or 24/8 (whichever worker woke first accepted every connection
waiting), so the clients of one worker waited for one core while the other
idled; CRD p99 under load followed the split. Which worker holds a
connection is read from /proc: the server-side socket whose peer is the
client's port, and the worker whose descriptors include it.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

import pytest

from policykb.service.worker_table import WorkerTable, create_table
from tests.service.test_service_hardening import Server, children, serve, wait_until

__all__ = ["serve"]  # the fixture, used here

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")


ESTABLISHED, CLOSE_WAIT = "01", "08"  # /proc/net/tcp's states of a socket not yet closed


def server_sockets(port: int) -> list[list[str]]:
    """The fields of each server-side socket of `port` with a peer."""
    found = []
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        if Path(table).exists():
            for line in Path(table).read_text().splitlines()[1:]:
                fields = line.split()
                local_port = int(fields[1].rsplit(":", 1)[1], 16)
                if local_port == port and int(fields[2].rsplit(":", 1)[1], 16) != 0:
                    found.append(fields)
    return found


def socket_inodes(port: int) -> dict[int, int]:
    """Server-side sockets of `port` on loopback: the client's port -> inode."""
    return {int(f[2].rsplit(":", 1)[1], 16): int(f[9]) for f in server_sockets(port)}


def all_closed(server: Server) -> bool:
    """Every connection a client closed has been closed by its worker too
    (so the workers' counts no longer include it)."""
    return not any(f[3] in (ESTABLISHED, CLOSE_WAIT) for f in server_sockets(server.port))


def holders(server: Server, clients: list[socket.socket]) -> list[int]:
    """The worker process holding each client's connection."""
    inodes = socket_inodes(server.port)
    held_by: dict[int, int] = {}
    for worker in children(server.process.pid):  # the workers, and uvicorn's helpers
        for descriptor in Path(f"/proc/{worker}/fd").iterdir():
            try:
                target = os.readlink(descriptor)
            except OSError:
                continue  # closed meanwhile
            if target.startswith("socket:["):
                held_by[int(target[8:-1])] = worker
    return [held_by[inodes[client.getsockname()[1]]] for client in clients]


def healthz(client: socket.socket) -> bytes:
    """One GET /healthz on a kept-alive connection: the status line."""
    client.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
    answer = b""
    while b"\r\n\r\n" not in answer or not answer.endswith(b"}"):
        chunk = client.recv(65536)
        assert chunk, "the server closed the connection"
        answer += chunk
    return answer.split(b"\r\n", 1)[0]


@contextmanager
def connections(server: Server, count: int) -> Iterator[list[socket.socket]]:
    """`count` connections opened back to back, each answered once, kept open."""
    with ExitStack() as stack:
        clients = [stack.enter_context(server.connect()) for _ in range(count)]
        for client in clients:
            assert healthz(client) == b"HTTP/1.1 200 OK"
        yield clients


def accepting_workers(server: Server) -> set[int]:
    """The two workers, once both accept (each holds one of 4 connections)."""
    seen: set[int] = set()

    def both_accept() -> bool:
        with connections(server, 4) as clients:
            seen.update(holders(server, clients))
        wait_until(lambda: all_closed(server), 30, "the workers to close the connections")
        return len(seen) == 2

    wait_until(both_accept, 60, "both workers to accept")
    return seen


def test_a_burst_of_connections_is_shared_evenly_by_two_workers(
    serve: Callable[..., Server],
) -> None:
    """32 connections at once, then 9 more while they are open: each time the
    workers' counts differ by at most 2 (a worker reads the other's count a
    moment old)."""
    server = serve("--workers", "2")
    accepting_workers(server)
    with connections(server, 32) as first:
        held = Counter(holders(server, first))
        assert len(held) == 2 and max(held.values()) - min(held.values()) <= 2, held
        with connections(server, 9) as more:
            held = Counter(holders(server, first + more))
            assert len(held) == 2 and max(held.values()) - min(held.values()) <= 2, held


def test_a_connection_is_not_left_waiting_for_a_stopped_worker(
    serve: Callable[..., Server],
) -> None:
    """The worker with fewer connections is stopped (SIGSTOP): the other,
    holding more, takes the next connection once it has waited OVERDUE."""
    server = serve("--workers", "2")
    workers = accepting_workers(server)
    with connections(server, 1) as held:
        (busy,) = holders(server, held)
        (idle,) = workers - {busy}
        os.kill(idle, 19)  # SIGSTOP
        try:
            with connections(server, 3) as clients:
                assert holders(server, clients) == [busy] * 3
        finally:
            os.kill(idle, 18)  # SIGCONT


# -- the table --------------------------------------------------------------------------


@pytest.fixture
def table(tmp_path: Path) -> Path:
    path = tmp_path / "workers"
    create_table(path)
    return path


def ended_pid() -> int:
    """The id of a process that has exited (and been reaped)."""
    process = subprocess.Popen([sys.executable, "-c", ""])
    process.wait()
    return process.pid


def test_each_worker_sees_the_fewest_connections_of_the_others(table: Path) -> None:
    first = WorkerTable(table, pid=os.getpid())
    assert first.fewest_elsewhere() is None  # alone
    parent = WorkerTable(table, pid=os.getppid())
    assert first.fewest_elsewhere() == 0 and parent.fewest_elsewhere() == 0
    first.publish(5)
    parent.publish(3)
    assert (first.connections, parent.connections) == (5, 3)
    assert first.fewest_elsewhere() == 3 and parent.fewest_elsewhere() == 5
    parent.leave()
    assert first.fewest_elsewhere() is None
    parent.leave()  # twice: nothing more


def test_a_dead_workers_slot_is_ignored_and_taken_again(table: Path) -> None:
    alive = WorkerTable(table, pid=os.getpid())
    alive.publish(7)
    gone = WorkerTable(table, pid=ended_pid())
    gone.publish(0)
    assert alive.fewest_elsewhere() is None  # the dead worker's 0 does not count
    successor = WorkerTable(table, pid=os.getppid())
    assert successor.slot == gone.slot != alive.slot  # the dead worker's slot, not a new one
    assert alive.fewest_elsewhere() == 0
