"""Bounded HTTP connections: uvicorn's httptools protocol with limits it lacks.

uvicorn bounds neither the request head (httptools buffers a header of any
size before the application sees it) nor the time a client takes to send it,
and its `limit_concurrency` answers 503 only once a request's head has
arrived, so idle connections still pile up. This protocol adds, per worker:

- at most `max_connections` open connections: one more is answered 503 and
  closed at once, before it is read (file descriptors stay bounded);
- at most `max_header_bytes` of request line and headers, and `max_headers`
  header fields: 431, counted as bytes arrive (nothing larger is buffered);
- `header_timeout` seconds from a connection's or a request's first byte to
  its last header, `body_timeout` from there to the body's last byte: 408.
  The body's clock stops while the server itself has stopped reading (a
  handler not yet reading a large body) and starts afresh when it resumes.

With several workers, each served connection's arrival and end is reported
to the worker's listener, which shares the worker's count with the others
(service/balanced_accept.py).

Invariant: every refusal writes a complete response with `connection: close`
and closes the transport, and no parser callback runs after it.
"""

from __future__ import annotations

import asyncio
import functools
from typing import Any

import httptools
from uvicorn.protocols.http.flow_control import FlowControl
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from policykb.service.balanced_accept import connections_changed
from policykb.service.settings import SETTINGS_VARIABLE, ServiceSettings

REASONS = {
    408: b"Request Timeout",
    431: b"Request Header Fields Too Large",
    503: b"Service Unavailable",
}


@functools.cache
def limits() -> ServiceSettings:
    """The settings `policykb serve` passed to this process (defaults without them)."""
    import os

    if SETTINGS_VARIABLE in os.environ:
        return ServiceSettings.from_environment()
    return ServiceSettings()


def refusal(status: int, detail: str, path: str | None = None) -> bytes:
    """A complete response that closes the connection: an OperationOutcome on
    the FHIR routes (when the path is known by then), else problem+json."""
    import orjson

    from policykb.service.errors import (
        FHIR_JSON,
        FHIR_PREFIXES,
        PROBLEM_JSON,
        operation_outcome,
        problem,
    )

    if path is not None and path.startswith(FHIR_PREFIXES):
        body, media = orjson.dumps(operation_outcome(status, detail)), FHIR_JSON
    else:
        body, media = orjson.dumps(problem(status, detail)), PROBLEM_JSON
    head = (
        b"HTTP/1.1 %d %s\r\ncontent-type: %s\r\ncontent-length: %d\r\nconnection: close\r\n\r\n"
        % (
            status,
            REASONS[status],
            media.encode(),
            len(body),
        )
    )
    return head + body


class _Refusal(Exception):
    """Stops the parser once the connection has been answered and closed."""


class _ReadingFlow(FlowControl):
    """FlowControl that reports when the server stops and resumes reading."""

    def __init__(self, transport: asyncio.Transport, protocol: BoundedHttpToolsProtocol) -> None:
        super().__init__(transport)
        self.protocol = protocol

    def pause_reading(self) -> None:
        was_paused = self.read_paused
        super().pause_reading()
        if not was_paused:
            self.protocol.reading_paused()

    def resume_reading(self) -> None:
        was_paused = self.read_paused
        super().resume_reading()
        if was_paused:
            self.protocol.reading_resumed()


class BoundedHttpToolsProtocol(HttpToolsProtocol):
    """HttpToolsProtocol with bounded heads, read timeouts and a connection cap."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.limits = limits()
        self._head_bytes = 0
        self._header_count = 0
        self._reading_head = True
        self._refused = False
        self._deadline: asyncio.TimerHandle | None = None

    # -- the connection -----------------------------------------------------------

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        if len(self.connections) >= self.limits.max_connections:
            self._refused = True
            self.transport = transport
            transport.write(
                refusal(503, f"the server holds {self.limits.max_connections} connections")
            )
            transport.close()
            return
        super().connection_made(transport)
        connections_changed(len(self.connections))
        self.flow = _ReadingFlow(transport, self)
        self._arm(self.limits.header_timeout, "the request's headers")

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        if self.flow is None:  # refused before it was served
            return
        super().connection_lost(exc)
        connections_changed(len(self.connections))

    def data_received(self, data: bytes) -> None:
        if self._refused:
            return
        self._unset_keepalive_if_required()
        if self._reading_head:
            self._head_bytes += len(data)
            if self._deadline is None:
                self._arm(self.limits.header_timeout, "the request's headers")
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserUpgrade:
            if self._should_upgrade():
                self.handle_websocket_upgrade()
            else:
                self._unsupported_upgrade_warning()
            return
        except (httptools.HttpParserError, _Refusal):
            if not self._refused:
                msg = "Invalid HTTP request received."
                self.logger.warning(msg)
                self.send_400_response(msg)
            return
        if self._reading_head and self._head_bytes > self.limits.max_header_bytes:
            self._refuse(431, f"the request's headers exceed {self.limits.max_header_bytes} bytes")

    # -- parser callbacks -------------------------------------------------------------

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._header_count = 0

    def on_url(self, url: bytes) -> None:
        super().on_url(url)
        if len(self.url) > self.limits.max_header_bytes:
            self._refuse(431, f"the request line exceeds {self.limits.max_header_bytes} bytes")
            raise _Refusal

    def on_header(self, name: bytes, value: bytes) -> None:
        self._header_count += 1
        if self._header_count > self.limits.max_headers:
            self._refuse(431, f"the request has more than {self.limits.max_headers} headers")
            raise _Refusal
        super().on_header(name, value)

    def on_headers_complete(self) -> None:
        self._reading_head = False
        self._disarm()
        self._arm(self.limits.body_timeout, "the request's body")
        super().on_headers_complete()

    def on_message_complete(self) -> None:
        self._disarm()
        self._reading_head = True
        self._head_bytes = 0
        super().on_message_complete()

    def reading_paused(self) -> None:
        if not self._reading_head:
            self._disarm()  # the server is not reading: not the client's time

    def reading_resumed(self) -> None:
        awaiting_body = self.cycle is not None and self.cycle.more_body
        idle = self._deadline is None and not self._refused
        if awaiting_body and idle and not self._reading_head:
            self._arm(self.limits.body_timeout, "the request's body")

    # -- limits ---------------------------------------------------------------------------

    def _arm(self, seconds: float, what: str) -> None:
        self._disarm()
        self._deadline = self.loop.call_later(seconds, self._timed_out, seconds, what)

    def _disarm(self) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
            self._deadline = None

    def _timed_out(self, seconds: float, what: str) -> None:
        self._deadline = None
        if self._refused or self.transport.is_closing():
            return
        if not self._reading_head and self.cycle is not None and self.cycle.response_started:
            # This request is answered (a 413, say) or being answered: the
            # rest of its body is not awaited, and no second response is sent.
            self._refused = True
            self.transport.close()
            return
        self._refuse(408, f"{what} did not arrive within {seconds:g} s")

    def _refuse(self, status: int, detail: str) -> None:
        """Answer `status` and close; the application's response, if any, is dropped."""
        if self._refused:
            return
        self._refused = True
        self._disarm()
        if self.cycle is not None and not self.cycle.response_complete:
            self.cycle.disconnected = True  # the handler sees the client gone
            self.cycle.message_event.set()
        self.logger.info("refused a connection: %s", detail)
        path = self.scope.get("path") if self.scope is not None and not self._reading_head else None
        self.transport.write(refusal(status, detail, path))
        self.transport.close()
