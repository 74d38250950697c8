"""Accepting connections so that the workers of `policykb serve` share them.

With several workers on one listening socket, each worker's event loop
accepts every connection waiting when it wakes, so one worker can end up
holding most of a burst of keep-alive clients while the others idle, and
the latency of its clients is set by one core (service/worker_table.py).
Here a worker accepts the next connection only while it holds no more than
the worker holding the fewest; otherwise it looks again a millisecond later.
If a connection is still waiting after OVERDUE seconds (the worker it was
left for is busy, stuck or gone), the worker accepts it all the same: a
connection is never left waiting for a worker that does not come.

uvicorn's `--loop` option takes an event loop factory; `new_loop` is that
factory: uvloop's loop (asyncio's where uvloop is absent) whose
`create_server` on a worker's inherited socket returns a BalancedListener
instead of the loop's own server, when `policykb serve` has created a worker
table (service/serve.py, two workers or more). Otherwise the loop is the
plain one.
"""

from __future__ import annotations

import asyncio
import errno
import functools
import logging
import os
import select
import socket
import ssl as ssl_module
from collections.abc import Callable
from pathlib import Path
from typing import Any

from policykb.service.worker_table import TABLE_VARIABLE, WorkerTable

RETRY = 0.001  # seconds before a worker that left a connection to another looks again
OVERDUE = 0.025  # seconds a connection waits for the worker with the fewest before any takes it
PAUSE_ON_ERROR = 1.0  # seconds accepting pauses when the process is out of descriptors
_TRANSIENT = {errno.ECONNABORTED, errno.EPROTO, errno.EPERM}  # the connection's own failure

logger = logging.getLogger("policykb.service")
_listener: BalancedListener | None = None  # this worker's, once it listens


def connections_changed(open_connections: int) -> None:
    """The worker's connection protocol reports how many connections it now
    serves (service/connection.py); a no-op in a process without a listener."""
    if _listener is not None:
        _listener.served(open_connections)


class BalancedListener(asyncio.AbstractServer):
    """The worker's accepting side of the shared socket (an asyncio server:
    uvicorn closes it at shutdown)."""

    def __init__(
        self,
        loop: asyncio.AbstractEventLoop,
        sock: socket.socket,
        protocol_factory: Callable[[], asyncio.BaseProtocol],
        ssl: ssl_module.SSLContext | None,
        table: WorkerTable,
    ) -> None:
        self._loop = loop
        self._sock = sock
        self._protocol_factory = protocol_factory
        self._ssl = ssl
        self._table = table
        self._serving = 0  # connections the protocol serves
        self._connecting: set[asyncio.Task[None]] = set()  # accepted, not yet served
        self._waiting_since: float | None = None  # a connection left to another worker
        self._later: asyncio.TimerHandle | None = None
        self._closed = False
        self._readiness = select.poll()
        self._readiness.register(sock.fileno(), select.POLLIN)
        sock.setblocking(False)
        loop.add_reader(sock.fileno(), self._readable)

    # -- counting -------------------------------------------------------------------

    def served(self, open_connections: int) -> None:
        self._serving = open_connections
        self._publish()

    def _publish(self) -> None:
        if not self._closed:
            self._table.publish(self._serving + len(self._connecting))

    # -- accepting ------------------------------------------------------------------

    def _my_turn(self) -> bool:
        fewest = self._table.fewest_elsewhere()
        if fewest is None or self._table.connections <= fewest:
            return True
        waited = self._waiting_since
        return waited is not None and self._loop.time() - waited >= OVERDUE

    def _readable(self) -> None:
        while not self._closed:
            if not self._my_turn():
                self._look_again(RETRY)
                return
            try:
                connection, _ = self._sock.accept()
            except (BlockingIOError, InterruptedError):
                self._waiting_since = None
                return
            except OSError as error:
                if error.errno in _TRANSIENT:
                    continue
                logger.error("accepting a connection failed: %s", error)
                self._look_again(PAUSE_ON_ERROR)
                return
            self._waiting_since = None
            connection.setblocking(False)
            task = self._loop.create_task(self._connect(connection))
            self._connecting.add(task)
            task.add_done_callback(self._connected)
            self._publish()

    def _look_again(self, seconds: float) -> None:
        if self._waiting_since is None:
            self._waiting_since = self._loop.time()
        self._loop.remove_reader(self._sock.fileno())
        self._later = self._loop.call_later(seconds, self._resume)

    def _resume(self) -> None:
        self._later = None
        if self._closed:
            return
        if not self._readiness.poll(0):
            self._waiting_since = None  # the connection left waiting was taken
        self._loop.add_reader(self._sock.fileno(), self._readable)

    async def _connect(self, connection: socket.socket) -> None:
        try:
            await self._loop.connect_accepted_socket(
                self._protocol_factory, connection, ssl=self._ssl
            )
        except Exception as error:  # a failed TLS handshake, a reset: that connection's end
            logger.debug("a connection ended before it was served: %s", error)
            connection.close()

    def _connected(self, task: asyncio.Task[None]) -> None:
        self._connecting.discard(task)
        self._publish()

    # -- the server interface uvicorn uses ----------------------------------------------

    def close(self) -> None:
        global _listener
        if self._closed:
            return
        self._closed = True
        if self._later is not None:
            self._later.cancel()
            self._later = None
        else:
            self._loop.remove_reader(self._sock.fileno())
        self._table.leave()
        if _listener is self:
            _listener = None

    def get_loop(self) -> asyncio.AbstractEventLoop:
        return self._loop

    def is_serving(self) -> bool:
        return not self._closed

    async def start_serving(self) -> None:
        """Serving starts when the listener is made."""

    async def serve_forever(self) -> None:
        raise NotImplementedError("the worker's uvicorn server runs the loop")

    async def wait_closed(self) -> None:
        """Nothing to wait for: open connections are uvicorn's to close."""

    @property
    def sockets(self) -> tuple[socket.socket, ...]:
        return (self._sock,)


def _listen(
    loop: asyncio.AbstractEventLoop,
    sock: socket.socket,
    protocol_factory: Callable[[], asyncio.BaseProtocol],
    ssl: ssl_module.SSLContext | None,
) -> BalancedListener:
    global _listener
    _listener = BalancedListener(
        loop, sock, protocol_factory, ssl, WorkerTable(Path(os.environ[TABLE_VARIABLE]))
    )
    return _listener


@functools.cache
def _loop_class() -> type[asyncio.AbstractEventLoop]:
    base: type[asyncio.AbstractEventLoop]
    try:
        import uvloop

        base = uvloop.Loop
    except ImportError:  # uvicorn's own fallback
        base = asyncio.SelectorEventLoop

    class BalancedLoop(base):  # type: ignore[valid-type, misc]
        async def create_server(
            self,
            protocol_factory: Callable[[], asyncio.BaseProtocol],
            host: Any = None,
            port: Any = None,
            *,
            sock: socket.socket | None = None,
            ssl: ssl_module.SSLContext | None = None,
            **options: Any,
        ) -> asyncio.AbstractServer:
            if sock is None or TABLE_VARIABLE not in os.environ:
                server: asyncio.AbstractServer = await super().create_server(
                    protocol_factory, host, port, sock=sock, ssl=ssl, **options
                )
                return server
            sock.listen(options.get("backlog", 100))
            return _listen(self, sock, protocol_factory, ssl)

    return BalancedLoop


def new_loop() -> asyncio.AbstractEventLoop:
    """A worker's event loop (uvicorn's `loop` option names this factory)."""
    return _loop_class()()
