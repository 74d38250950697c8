"""What every route shares, given to it as a FastAPI dependency: the
service's state (settings, the Decisions object, the thread limiter, the
request budget, cached reports), work off the event loop, and body reading.

Invariants: a route never decides or parses a body on the event loop; each
runs on the bounded pool of decision threads (`Service.run`), which carries
the request's context (the requester the Guard set) with it. CRD and PAS
validate their envelopes there too; the JSON API's small closed models are
validated by FastAPI (their facts stay an unvalidated mapping until decided).
Every body is JSON with each key once (a repeated key is a 400 naming it),
read by the project's strict reader.
"""

from __future__ import annotations

import asyncio
import functools
import inspect
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from typing import Annotated, Any, TypeVar

import anyio
import anyio.to_thread
import orjson
from fastapi import Depends, Request
from fastapi.routing import APIRoute
from starlette.exceptions import HTTPException
from starlette.responses import Response
from starlette.types import Scope

from policykb.bridge.model.errors import CaseError, LimitError
from policykb.service import api, request_budget
from policykb.service.decisions import Decisions
from policykb.service.errors import ServiceError
from policykb.service.hook_log import HookLog
from policykb.service.pas_store import AuthorizationStore
from policykb.service.settings import ServiceSettings, is_loopback
from policykb.service.smart_auth import SmartBackend
from policykb.service.subscription_notifier import Notifier
from policykb.service.subscription_store import SubscriptionStore

T = TypeVar("T")


@dataclass
class Service:
    """The state of one application, on `app.state.service`."""

    settings: ServiceSettings
    decisions: Decisions
    limiter: anyio.CapacityLimiter
    budget: request_budget.Budget
    checks: api.CheckReports = field(default_factory=api.CheckReports)
    diffs: api.DiffReports = field(default_factory=api.DiffReports)
    authorizations: AuthorizationStore = field(default_factory=lambda: AuthorizationStore(None))
    """The submitted prior authorizations ($inquire, Claim updates)."""
    notifier: Notifier = field(default_factory=lambda: Notifier(SubscriptionStore(None)))
    """The PAS Subscriptions and their notifications (subscription_notifier.py)."""
    smart: SmartBackend | None = None
    """SMART Backend Services (smart_auth.py), with --smart-clients."""
    hook_log: HookLog = field(default_factory=lambda: HookLog(None))
    """Every CDS Hooks call and its answer (hook_log.py, CRD found-37)."""

    async def run(self, work: Callable[..., T], *args: Any) -> T:
        """`work(*args)` on a decision thread (anyio copies the context to it)."""
        return await anyio.to_thread.run_sync(functools.partial(work, *args), limiter=self.limiter)

    async def settle(self, pending: list[int]) -> None:
        """Wait until the audit entries `pending` are on disk. Waiting takes no
        thread: the waits of concurrent requests share one fsync, made by the
        audit log's own thread (see AuditLog.durable)."""
        await asyncio.wrap_future(self.decisions.durable(pending))

    def base_url(self, scope: Scope) -> str:
        return base_url(self.settings, scope)


def service_of(request: Request) -> Service:
    return request.app.state.service  # type: ignore[no-any-return]


async def service(request: Request) -> Service:
    """The application's Service, as a route's dependency. A coroutine, so
    that FastAPI resolves it on the event loop: a plain function dependency
    runs on FastAPI's thread pool, a thread hop on every request (about a
    tenth of a CRD call's CPU under load, and a wake-up contending for the GIL)."""
    return service_of(request)


Shared = Annotated[Service, Depends(service)]
"""A route's parameter that receives the application's Service."""


# -- bodies -------------------------------------------------------------------------


WRITABLE_DEPTH = 254
"""The nesting orjson writes (answers and audit entries repeat the body)."""
INTEGER_RANGE = range(-(2**63), 2**64)
"""The integers a body may hold: what the JSON writer (orjson) can write
back, since answers and audit entries repeat what the client sent (a CRD
order updated, a PAS entry, a feedback item). FHIR's integer64 fits."""


def _integer(text: str) -> int:
    value = int(text) if len(text) <= 21 else None
    if value is None or value not in INTEGER_RANGE:
        shown = text if len(text) <= 24 else f"{text[:20]}... ({len(text)} characters)"
        raise CaseError(f"the integer {shown} is beyond the 64-bit range this service reads")
    return value


def strict_json(body: bytes) -> Any:
    """A JSON body as the CLI reads a case file: each key once (400 naming
    it); integers within INTEGER_RANGE (400 naming the one that is not);
    nested at most WRITABLE_DEPTH levels (413)."""
    from policykb.bridge.loading.case import parse_json

    try:
        document = parse_json(body.decode("utf-8"), "the body", parse_int=_integer)
    except UnicodeDecodeError as error:
        raise ServiceError(400, f"the body is not UTF-8 (byte {error.start})") from None
    except CaseError as error:
        raise ServiceError(400, str(error)) from None
    except LimitError as error:
        raise ServiceError(413, str(error)) from None
    try:  # what the service cannot write back, it does not read
        orjson.dumps(document)
    except orjson.JSONEncodeError as error:  # integers are in range: only depth is left
        if "Recursion" not in str(error):
            raise
        raise ServiceError(
            413, f"the body: the JSON nests more than {WRITABLE_DEPTH} levels deep"
        ) from None
    return document


class StrictJsonRequest(Request):
    """A request whose JSON body is read by `strict_json`, off the event loop."""

    limiter: anyio.CapacityLimiter | None = None

    async def json(self) -> Any:
        if not hasattr(self, "_json"):
            body = await self.body()
            try:
                self._json = await anyio.to_thread.run_sync(strict_json, body, limiter=self.limiter)
            except ServiceError as error:
                raise HTTPException(error.status, error.detail) from None
        return self._json


class StrictJsonRoute(APIRoute):
    """A route whose body FastAPI reads through StrictJsonRequest (the JSON API's
    models), on the decision threads of the application's Service."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handle = super().get_route_handler()

        async def strict(request: Request) -> Response:
            strict_request = StrictJsonRequest(request.scope, request.receive)
            strict_request.limiter = service_of(request).limiter
            return await handle(strict_request)

        return strict


class DirectRoute(APIRoute):
    """A route documented from its endpoint's signature as any other, but
    called directly: its path parameters as the strings matched, `request`,
    and `shared` the application's Service. FastAPI's per-request dependency
    resolution and parameter validation (about a tenth of a CRD call's CPU
    under load) are skipped, so its endpoint reads and checks everything
    itself, and must take exactly those parameters (checked when the route
    is made)."""

    def __init__(self, path: str, endpoint: Callable[..., Any], **options: Any) -> None:
        expected = {*_path_names(path), "request", "shared"}
        declared = set(inspect.signature(endpoint).parameters)
        if declared != expected or not inspect.iscoroutinefunction(endpoint):
            raise TypeError(
                f"{path}: a DirectRoute's endpoint is a coroutine taking "
                f"{sorted(expected)}, not {sorted(declared)}"
            )
        super().__init__(path, endpoint, **options)

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        endpoint = self.endpoint

        async def direct(request: Request) -> Response:
            response: Response = await endpoint(
                **request.path_params, request=request, shared=service_of(request)
            )
            return response

        return direct


def _path_names(path: str) -> list[str]:
    return [part[1:-1].split(":", 1)[0] for part in path.split("/") if part.startswith("{")]


# -- addresses ------------------------------------------------------------------------


def base_url(settings: ServiceSettings, scope: Scope) -> str:
    """The service's base URL: --public-url, else the address the request
    reached (the listening socket's, never the Host header)."""
    if settings.public_url:
        return settings.public_url.rstrip("/")
    server = scope.get("server")
    if not server:
        return ""  # a Unix socket: URLs stay relative
    return _socket_url(scope, str(server[0]))


def _socket_url(scope: Scope, host: str) -> str:
    scheme = scope.get("scheme", "http")
    port = scope["server"][1]
    shown = f"[{host}]" if ":" in host else host
    default = {"http": 80, "https": 443}.get(scheme)
    return f"{scheme}://{shown}" + ("" if port in (None, default) else f":{port}")


def audiences(settings: ServiceSettings, scope: Scope) -> list[str]:
    """The audiences a token may name: the endpoint called or the base URL.
    With --public-url, its URL; without it (loopback only), the listening
    address's URL, and the same with `localhost` when that address is loopback."""
    bases = [base_url(settings, scope)]
    server = scope.get("server")
    if not settings.public_url and server and is_loopback(str(server[0])):
        bases.append(_socket_url(scope, "localhost"))
    accepted = []
    for base in dict.fromkeys(b for b in bases if b):
        accepted += [base + scope["path"], base, base + "/"]
    return accepted
