"""The request guard: an ASGI middleware in front of every route.

Before any handler runs it answers CORS preflight requests (OPTIONS with
Access-Control-Request-Method) for the allowed origins, with no token (a
browser never sends one on preflight), and adds the CORS headers to every
answer to an allowed origin, errors included; it bounds the request body (413, declared or
streamed) and checks the bearer token of every path not in OPEN_PATHS (401):
with SMART Backend Services, a /fhir/ path's access token (smart_auth.py),
else a CDS Hooks JWT (--trust);
it names the token's requester for the audit log (audit.REQUESTER, a
ContextVar that the decision threads inherit); and it turns an escaped
exception into a 500 answer without a traceback.
"""

from __future__ import annotations

import logging

import anyio
import anyio.to_thread
from starlette.requests import ClientDisconnect
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from policykb.service.audit import REQUESTER, requester
from policykb.service.auth import Refused, Verifier
from policykb.service.cors import Cors
from policykb.service.deps import audiences
from policykb.service.errors import error_response
from policykb.service.settings import ServiceSettings
from policykb.service.smart_auth import CONFIGURATION_PATH, TOKEN_PATH, SmartBackend

log = logging.getLogger("policykb.service")

OPEN_PATHS = (
    "/",
    "/cds-services",
    "/openapi.json",
    "/healthz",
    "/fhir/metadata",
    CONFIGURATION_PATH,
    TOKEN_PATH,
)
"""Paths that need no token: the page, discovery, the API description,
liveness, the FHIR CapabilityStatement and SMART configuration (a client
reads them before it authenticates), the token endpoint (its client
assertion is the authentication); and the page's static files (STATIC_PREFIX)."""
FHIR_PREFIX = "/fhir/"
"""With SMART Backend Services, these paths need its access tokens (DTR spec-120)."""
STATIC_PREFIX = "/static/"


def is_open(path: str) -> bool:
    return path in OPEN_PATHS or path.startswith(STATIC_PREFIX)


class Guard:
    """Bounds the request body and checks the bearer token of protected paths,
    before any handler runs; turns an escaped exception into a 500 answer
    without a traceback."""

    def __init__(
        self,
        app: ASGIApp,
        settings: ServiceSettings,
        verifier: Verifier | None,
        limiter: anyio.CapacityLimiter,
        smart: SmartBackend | None = None,
    ) -> None:
        self.app = app
        self.smart = smart
        self.settings = settings
        self.max_body = settings.max_body
        self.verifier = verifier
        self.limiter = limiter
        self.cors = Cors(settings.cors_origins)
        self._too_large = f"the request body is larger than {self.max_body} bytes"

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path: str = scope["path"]
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        allowed = self.cors.allowed(headers.get("origin"))
        if allowed is not None:
            if scope["method"] == "OPTIONS" and "access-control-request-method" in headers:
                await self.cors.preflight(allowed, send)
                return
            send = self.cors.wrap(allowed, send)
        declared = headers.get("content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > self.max_body):
            await self._refuse(scope, send, 413, self._too_large)
            return
        if self.smart is not None and path.startswith(FHIR_PREFIX) and not is_open(path):
            try:
                grant = await anyio.to_thread.run_sync(
                    self.smart.check, headers.get("authorization"), limiter=self.limiter
                )
            except Refused as reason:
                await self._refuse(scope, send, 401, str(reason))
                return
            REQUESTER.set({"iss": "smart-backend-services", "sub": grant.client_id})
        elif self.verifier is not None and not is_open(path):
            accepted = audiences(self.settings, scope)
            try:
                claims = await anyio.to_thread.run_sync(
                    self.verifier.verify,
                    headers.get("authorization"),
                    accepted,
                    limiter=self.limiter,
                )
            except Refused as reason:
                await self._refuse(scope, send, 401, str(reason))
                return
            # Set in this request's task: the handler and the decision threads
            # it starts (anyio copies the context) name it in their audit entries.
            REQUESTER.set(requester(claims))
        received = 0
        started = refused = False

        async def bounded_receive() -> Message:
            nonlocal received, started, refused
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_body and not refused:
                    # Answer now; the handler then sees the client gone and
                    # whatever it sends is dropped.
                    refused = True
                    if not started:
                        started = True
                        await self._refuse(scope, send, 413, self._too_large)
                    return {"type": "http.disconnect"}
            return message

        async def tracking_send(message: Message) -> None:
            nonlocal started
            if refused:
                return
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, bounded_receive, tracking_send)
        except ClientDisconnect:
            return  # the client left (or its body timed out): nobody to answer
        except Exception as error:
            if refused:
                return
            log.error("internal error on %s: %r", path, error)
            if not started:
                detail = "internal error in policykb (logged on the server; please report it)"
                await self._refuse(scope, send, 500, detail)

    async def _refuse(self, scope: Scope, send: Send, status: int, detail: str) -> None:
        headers = {"WWW-Authenticate": 'Bearer realm="policykb"'} if status == 401 else None
        response = error_response(scope["path"], status, detail, headers=headers)
        await response(scope, _no_body, send)


async def _no_body() -> Message:
    return {"type": "http.request", "body": b"", "more_body": False}
