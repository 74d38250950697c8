"""The FastAPI application: routes, the request guard, and error answers.

    GET  /cds-services                     CDS Hooks discovery
    POST /cds-services/{id}                CRD order-sign / order-select
    GET  /fhir/Questionnaire/{policy}      DTR questionnaire
    POST /fhir/Claim/$submit               PAS prior authorization
    /v1/...                                the JSON API (api.py)
    GET  /openapi.json                     the OpenAPI document

The event loop never decides: parsing a body, verifying a token, deciding
and writing the audit log run on a bounded pool of threads
(`decision_threads`), and requests beyond it wait their turn; the loop only
moves bytes, so /healthz answers while a large request is decided.

Bodies are JSON with each key once, read by the project's own strict reader
(a repeated key is a 400 naming it), on the JSON API as on CRD, DTR and PAS.
"""

from __future__ import annotations

import functools
import gc
import logging
import os
from collections.abc import Awaitable, Callable, Coroutine
from pathlib import Path
from typing import Annotated, Any

import anyio
import anyio.to_thread
import orjson
from fastapi import FastAPI, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, JSONResponse, Response
from fastapi.routing import APIRoute
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException
from starlette.requests import ClientDisconnect
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from policykb.bridge import KnowledgeBase
from policykb.bridge.model import release
from policykb.bridge.model.errors import CaseError, LimitError, PolicyError
from policykb.service import api, crd, dtr, pas
from policykb.service.audit import REQUESTER, AuditLog, AuditUnavailable, requester
from policykb.service.auth import Refused, Verifier
from policykb.service.decisions import Decisions
from policykb.service.errors import FHIR_JSON, ServiceError, error_response, internal, respond
from policykb.service.settings import ServiceSettings, is_loopback

log = logging.getLogger("policykb.service")

OPEN_PATHS = ("/", "/cds-services", "/openapi.json", "/healthz")
"""Paths that need no token: the page, discovery, the API description, liveness
(and the page's static files: see Guard)."""
STATIC = Path(__file__).parent / "static"
PAGE_HEADERS = {
    # The page loads nothing from elsewhere and runs only its own script.
    "Content-Security-Policy": "default-src 'self'; img-src 'self' data: blob:; "
    "style-src 'self'; script-src 'self'; frame-ancestors 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
}

PROBLEM = {
    "content": {
        "application/problem+json": {
            "schema": {
                "type": "object",
                "required": ["type", "title", "status", "detail"],
                "properties": {
                    "type": {"type": "string"},
                    "title": {"type": "string"},
                    "status": {"type": "integer"},
                    "detail": {"type": "string"},
                    "pointer": {"type": "string"},
                },
            }
        }
    }
}
OUTCOME = {
    "content": {
        FHIR_JSON: {
            "schema": {
                "type": "object",
                "required": ["resourceType", "issue"],
                "properties": {
                    "resourceType": {"const": "OperationOutcome"},
                    "issue": {"type": "array"},
                },
            }
        }
    }
}
ERRORS = (400, 401, 404, 413, 422, 500)
PARENT_VARIABLE = "POLICYKB_SERVE_PARENT"  # the pid each worker dies with


def strict_json(body: bytes) -> Any:
    """A JSON body as the CLI reads a case file: each key once (400 naming it)."""
    from policykb.bridge.loading.case import parse_json

    try:
        return parse_json(body.decode("utf-8"), "the body")
    except UnicodeDecodeError as error:
        raise ServiceError(400, f"the body is not UTF-8 (byte {error.start})") from None
    except CaseError as error:
        raise ServiceError(400, str(error)) from None
    except LimitError as error:
        raise ServiceError(413, str(error)) from None


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
    """A JSON API route whose body is read by StrictJsonRequest."""

    limiter: anyio.CapacityLimiter | None = None

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handle = super().get_route_handler()
        limiter = self.limiter

        async def strict(request: Request) -> Response:
            strict_request = StrictJsonRequest(request.scope, request.receive)
            strict_request.limiter = limiter
            return await handle(strict_request)

        return strict


def _errors(body: dict[str, Any]) -> dict[int | str, dict[str, Any]]:
    return {status: {"description": "an error", **body} for status in ERRORS}


def _fhir_ok(description: str) -> dict[int | str, dict[str, Any]]:
    return {
        200: {"description": description, "content": {FHIR_JSON: {"schema": {"type": "object"}}}}
    }


ANY_OBJECT = {"content": {"application/json": {"schema": {"type": "object"}}}, "required": True}
FHIR_BODY = {
    "content": {
        FHIR_JSON: {"schema": {"type": "object"}},
        "application/json": {"schema": {"type": "object"}},
    },
    "required": True,
}


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
    ) -> None:
        self.app = app
        self.settings = settings
        self.max_body = settings.max_body
        self.verifier = verifier
        self.limiter = limiter
        self._too_large = f"the request body is larger than {self.max_body} bytes"

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path: str = scope["path"]
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        declared = headers.get("content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > self.max_body):
            await self._refuse(
                scope, send, 413, f"the request body is larger than {self.max_body} bytes"
            )
            return
        open_path = path in OPEN_PATHS or path.startswith("/static/")
        if self.verifier is not None and not open_path:
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
            REQUESTER.set(requester(claims))  # named in the audit entries of this request
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


def _fhir(document: dict[str, Any], status: int = 200) -> Response:
    return Response(orjson.dumps(document), status, media_type=FHIR_JSON)


def create_app(settings: ServiceSettings, knowledge: KnowledgeBase | None = None) -> FastAPI:
    """The service over the policies of `settings` (PolicyError if one is wrong)."""
    knowledge = knowledge or KnowledgeBase(settings.kb_paths)
    audit = AuditLog(Path(settings.audit), sync=settings.audit_sync) if settings.audit else None
    decisions = Decisions(knowledge, audit)
    store = Path(settings.jti_store) if settings.jti_store else None
    verifier = Verifier.from_file(Path(settings.trust), store) if settings.trust else None
    limiter = anyio.CapacityLimiter(settings.decision_threads)
    budget = crd.Budget(settings.max_orders, settings.max_resources)
    checks = api.CheckReports()
    diffs = api.DiffReports()

    app = FastAPI(
        title="policykb",
        version=release.version(),
        description=(
            "Coverage decisions from a health plan's written policies, citing their criteria: "
            "Da Vinci CRD (CDS Hooks 2.0), DTR questionnaires, PAS prior authorization, "
            "and a JSON API."
        ),
        # Swagger UI would load its script from a CDN: the OpenAPI document
        # is served, its UI is not.
        docs_url=None,
        redoc_url=None,
    )
    app.router.route_class = type("LimitedRoute", (StrictJsonRoute,), {"limiter": limiter})
    app.state.decisions = decisions

    async def threaded(work: Callable[..., Any], *args: Any) -> Any:
        return await anyio.to_thread.run_sync(functools.partial(work, *args), limiter=limiter)

    async def body_of(request: Request) -> Any:
        return await threaded(strict_json, await request.body())

    # -- CRD ------------------------------------------------------------------------

    @app.get("/cds-services", tags=["CRD"], responses=_errors(PROBLEM))
    async def discovery() -> dict[str, Any]:
        """CDS Hooks discovery: the order-sign and order-select services."""
        return crd.discovery()

    @app.post(
        "/cds-services/{service}",
        tags=["CRD"],
        responses=_errors(OUTCOME),
        openapi_extra={"requestBody": ANY_OBJECT},
    )
    async def hook(service: str, request: Request) -> Response:
        """A CDS Hooks call: coverage information for each draft order."""
        hooks = {crd.service_id(h): h for h in crd.HOOKS}
        if service not in hooks:
            raise ServiceError(404, f"no CDS service {service[:80]!r} (see /cds-services)")
        body = await request.body()
        base = base_url(settings, request.scope)

        def decide() -> tuple[bytes, list[int]]:
            pending: list[int] = []
            answer = crd.answer(hooks[service], strict_json(body), decisions, base, pending, budget)
            return orjson.dumps(answer), pending

        answer, pending = await threaded(decide)
        # Waiting for the disk takes no decision thread: the waits of
        # concurrent requests share one fsync (see AuditLog), on anyio's
        # default threads.
        await anyio.to_thread.run_sync(decisions.settle, pending)
        return Response(answer, media_type="application/json")

    # -- DTR and PAS ------------------------------------------------------------------

    @app.get(
        "/fhir/Questionnaire/{policy}",
        tags=["DTR"],
        responses={**_fhir_ok("a Questionnaire"), **_errors(OUTCOME)},
    )
    async def questionnaire(policy: str, request: Request) -> Response:
        """The policy's facts as a FHIR R4 Questionnaire."""
        if policy not in decisions.policies:
            raise ServiceError(404, f"no Questionnaire {policy[:80]!r}")
        document = dtr.questionnaire(
            decisions.policies[policy],
            decisions.versions[policy],
            decisions.mappings[policy],
            base_url(settings, request.scope),
        )
        return _fhir(document)

    @app.post(
        "/fhir/Claim/$submit",
        tags=["PAS"],
        responses={**_fhir_ok("a ClaimResponse"), **_errors(OUTCOME)},
        openapi_extra={"requestBody": FHIR_BODY},
    )
    async def submit(request: Request) -> Response:
        """A prior-authorization request Bundle, answered with a ClaimResponse."""
        body = await body_of(request)
        pending: list[int] = []
        answer = await threaded(pas.submit, body, decisions, budget, pending)
        await anyio.to_thread.run_sync(decisions.settle, pending)  # as for CRD
        return _fhir(answer)

    # -- the JSON API ---------------------------------------------------------------------

    @app.post("/v1/evaluate", tags=["JSON API"], responses=_errors(PROBLEM))
    async def evaluate(document: api.CaseDocument, audit: bool = True) -> dict[str, Any]:
        """Evaluate a case: verdict, criteria, minimal explanation, missing facts.
        A decision, audited; `audit=false` for a what-if that decides nothing."""
        return await threaded(api.evaluate, decisions, document, audit)  # type: ignore[no-any-return]

    @app.post("/v1/why", tags=["JSON API"], responses=_errors(PROBLEM))
    async def why(
        document: api.CaseDocument,
        max_changes: Annotated[int, Query(ge=1, le=api.MAX_CHANGES)] = 20,
        keep: Annotated[list[str] | None, Query(max_length=200)] = None,
    ) -> dict[str, Any]:
        """Why a case got its verdict: every minimal explanation, the smallest changes."""
        return await threaded(api.why, decisions, document, max_changes, keep or [])  # type: ignore[no-any-return]

    @app.post("/v1/check", tags=["JSON API"], responses=_errors(PROBLEM))
    async def check(request: api.CheckRequest) -> dict[str, Any]:
        """A policy's check findings, each with its witness."""
        return await threaded(checks.report, decisions, request)  # type: ignore[no-any-return]

    @app.get("/v1/policies", tags=["JSON API"], responses=_errors(PROBLEM))
    async def policies() -> dict[str, Any]:
        """The loaded policies: title, version (content hash), codes, facts."""
        return api.policies(decisions)

    @app.get("/v1/policies/{name}", tags=["JSON API"], responses=_errors(PROBLEM))
    async def policy(name: str) -> dict[str, Any]:
        """A policy's facts (type, question, options, bounds, default) and criteria."""
        return api.vocabulary(decisions, name)

    @app.post("/v1/prove", tags=["JSON API"], responses=_errors(PROBLEM))
    async def prove(document: api.CaseDocument) -> dict[str, Any]:
        """The second engine's verdict and proof tree (SWI-Prolog)."""
        return await threaded(api.prove, decisions, document)  # type: ignore[no-any-return]

    @app.post("/v1/notice", tags=["JSON API"], responses=_errors(PROBLEM))
    async def notice(document: api.CaseDocument) -> dict[str, Any]:
        """The notice of the determination, as Markdown."""
        return await threaded(api.notice, decisions, document)  # type: ignore[no-any-return]

    @app.post("/v1/diff", tags=["JSON API"], responses=_errors(PROBLEM))
    async def diff(request: api.DiffRequest) -> dict[str, Any]:
        """The regions of scenarios whose verdict differs between two policies."""
        return await threaded(diffs.report, decisions, request)  # type: ignore[no-any-return]

    @app.post("/v1/cases/parse", tags=["JSON API"], responses=_errors(PROBLEM))
    async def parse_case(given: api.CaseText) -> dict[str, Any]:
        """A case file's text (JSON or YAML), checked, as a case document."""
        return await threaded(api.parse_case, decisions, given)  # type: ignore[no-any-return]

    @app.get("/", include_in_schema=False)
    async def page() -> FileResponse:
        """The analyst's page (static files; it asks /v1 for every answer)."""
        return FileResponse(STATIC / "index.html", headers=PAGE_HEADERS)

    app.mount("/static", StaticFiles(directory=STATIC), name="static")

    @app.get("/healthz", include_in_schema=False)
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    # -- errors --------------------------------------------------------------------------

    def handler(status: int) -> Callable[[Request, Exception], Awaitable[JSONResponse]]:
        async def handle(request: Request, error: Exception) -> JSONResponse:
            return error_response(request.url.path, status, str(error))

        return handle

    async def service_error(request: Request, error: Exception) -> JSONResponse:
        assert isinstance(error, ServiceError)
        return respond(request, error)

    async def http_error(request: Request, error: Exception) -> JSONResponse:
        assert isinstance(error, HTTPException)
        headers = dict(error.headers) if error.headers else None
        return error_response(
            request.url.path, error.status_code, str(error.detail), headers=headers
        )

    async def invalid(request: Request, error: Exception) -> JSONResponse:
        assert isinstance(error, RequestValidationError)
        first = error.errors()[0] if error.errors() else {"msg": "invalid request", "loc": ()}
        where = ".".join(str(part) for part in first.get("loc", ()))
        if first.get("type") == "json_invalid":
            return error_response(request.url.path, 400, f"the body is not JSON ({where})")
        return error_response(
            request.url.path, 422, f"{where}: {first.get('msg', 'invalid')}", where or None
        )

    async def unexpected(request: Request, error: Exception) -> JSONResponse:
        return internal(request, error)

    app.add_exception_handler(ServiceError, service_error)
    app.add_exception_handler(HTTPException, http_error)
    app.add_exception_handler(RequestValidationError, invalid)
    app.add_exception_handler(CaseError, handler(422))
    app.add_exception_handler(PolicyError, handler(422))
    app.add_exception_handler(LimitError, handler(413))
    app.add_exception_handler(AuditUnavailable, handler(503))
    app.add_exception_handler(Exception, unexpected)
    app.add_middleware(Guard, settings=settings, verifier=verifier, limiter=limiter)
    # The policies, circuits and caches loaded so far live as long as the
    # service: out of the collector's sight, full collections stay short.
    gc.collect()
    gc.freeze()
    return app


def app_from_environment() -> FastAPI:
    """The application of each uvicorn worker (settings passed by `policykb serve`).
    The worker dies with the process that started it."""
    from policykb.service.serve import die_with_parent

    parent = os.environ.get(PARENT_VARIABLE)
    if parent is not None:
        die_with_parent(int(parent))
    return create_app(ServiceSettings.from_environment())
