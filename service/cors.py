"""CORS for browser clients such as the CDS Hooks sandbox.

Only the origins the service is started with (`--cors-origin`, repeatable;
`*` for any) get CORS headers. A preflight (OPTIONS carrying
Access-Control-Request-Method) from an allowed origin is answered 204 before
authentication: browsers send no Authorization header on preflight, and the
real request that follows is checked as any other. A request from another
origin gets no CORS headers, so the browser withholds the answer; the
service itself answers it as usual (CORS is not access control).
"""

from __future__ import annotations

from starlette.datastructures import MutableHeaders
from starlette.types import Message, Send

METHODS = "GET, POST, OPTIONS"
HEADERS = "Authorization, Content-Type, Accept"
MAX_AGE = "600"


class Cors:
    """The allowed origins, and the headers each answer to one carries."""

    def __init__(self, origins: tuple[str, ...]) -> None:
        self.any = "*" in origins
        self.origins = frozenset(o.rstrip("/") for o in origins if o != "*")

    def allowed(self, origin: str | None) -> str | None:
        """The Access-Control-Allow-Origin value for a request's Origin (None: none)."""
        if origin is None:
            return None
        if self.any:
            return "*"
        return origin if origin in self.origins else None

    def _headers(self, allowed: str) -> list[tuple[bytes, bytes]]:
        found = [(b"access-control-allow-origin", allowed.encode("latin-1"))]
        if allowed != "*":
            found.append((b"vary", b"Origin"))
        return found

    async def preflight(self, allowed: str, send: Send) -> None:
        headers = [
            *self._headers(allowed),
            (b"access-control-allow-methods", METHODS.encode()),
            (b"access-control-allow-headers", HEADERS.encode()),
            (b"access-control-max-age", MAX_AGE.encode()),
            (b"content-length", b"0"),
        ]
        await send({"type": "http.response.start", "status": 204, "headers": headers})
        await send({"type": "http.response.body", "body": b""})

    def wrap(self, allowed: str, send: Send) -> Send:
        """`send` with the CORS headers added to the answer's start."""
        extra = self._headers(allowed)

        async def with_cors(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                for name, value in extra:
                    headers.append(name.decode(), value.decode())
            await send(message)

        return with_cors
