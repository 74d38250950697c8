"""The FastAPI application: routes, the request guard, and error answers.

    GET  /cds-services                     CDS Hooks discovery
    POST /cds-services/{id}                CRD order-sign / order-select
    GET  /fhir/Questionnaire/{policy}      DTR questionnaire
    POST /fhir/Claim/$submit               PAS prior authorization
    /v1/...                                the JSON API (api.py)
    GET  /openapi.json                     the OpenAPI document

Handlers read the body themselves (after the guard has bounded its size) and
run the decision on a worker thread: clingo and the compiled policies are
synchronous.
"""

from __future__ import annotations

import gc
import logging
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Annotated, Any

import orjson
from fastapi import FastAPI, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, JSONResponse, Response
from fastapi.staticfiles import StaticFiles
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from policykb.bridge import KnowledgeBase
from policykb.bridge.model.errors import CaseError, LimitError, PolicyError
from policykb.service import api, crd, dtr, pas
from policykb.service.audit import REQUESTER, AuditLog, AuditUnavailable, requester
from policykb.service.auth import Refused, Verifier
from policykb.service.decisions import Decisions
from policykb.service.errors import FHIR_JSON, ServiceError, error_response, internal, respond
from policykb.service.settings import ServiceSettings

log = logging.getLogger("policykb.service")

OPEN_PATHS = ("/", "/cds-services", "/openapi.json", "/docs", "/healthz")
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

    def __init__(self, app: ASGIApp, settings: ServiceSettings, verifier: Verifier | None) -> None:
        self.app = app
        self.max_body = settings.max_body
        self.verifier = verifier
        self.public_url = settings.public_url
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
        open_path = path in OPEN_PATHS or path.startswith(("/docs", "/static/"))
        if self.verifier is not None and not open_path:
            audiences = self._audiences(scope, headers)
            try:
                claims = self.verifier.verify(headers.get("authorization"), audiences)
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
        except Exception as error:
            if refused:
                return
            log.error("internal error on %s: %r", path, error)
            if not started:
                detail = "internal error in policykb (logged on the server; please report it)"
                await self._refuse(scope, send, 500, detail)

    def _audiences(self, scope: Scope, headers: dict[str, str]) -> list[str]:
        if self.public_url:
            base = self.public_url.rstrip("/")
        else:
            base = f"{scope.get('scheme', 'http')}://{headers.get('host', '')}"
        return [base + scope["path"], base, base + "/"]

    async def _refuse(self, scope: Scope, send: Send, status: int, detail: str) -> None:
        headers = {"WWW-Authenticate": 'Bearer realm="policykb"'} if status == 401 else None
        response = error_response(scope["path"], status, detail, headers=headers)
        await response(scope, _no_body, send)


async def _no_body() -> Message:
    return {"type": "http.request", "body": b"", "more_body": False}


async def _json(request: Request) -> Any:
    body = await request.body()
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError as error:
        raise ServiceError(400, f"the body is not JSON: {error}") from None


def _fhir(document: dict[str, Any], status: int = 200) -> Response:
    return Response(orjson.dumps(document), status, media_type=FHIR_JSON)


def create_app(settings: ServiceSettings, knowledge: KnowledgeBase | None = None) -> FastAPI:
    """The service over the policies of `settings` (PolicyError if one is wrong)."""
    knowledge = knowledge or KnowledgeBase(settings.kb_paths)
    audit = AuditLog(Path(settings.audit), sync=settings.audit_sync) if settings.audit else None
    decisions = Decisions(knowledge, audit)
    verifier = Verifier.from_file(Path(settings.trust)) if settings.trust else None
    checks = api.CheckReports()
    diffs = api.DiffReports()

    app = FastAPI(
        title="policykb",
        version="0.1.0",
        description=(
            "Coverage decisions from a health plan's written policies, citing their criteria: "
            "Da Vinci CRD (CDS Hooks 2.0), DTR questionnaires, PAS prior authorization, "
            "and a JSON API."
        ),
        docs_url="/docs",
        redoc_url=None,
    )
    app.state.decisions = decisions

    def base_url(request: Request) -> str:
        return (settings.public_url or str(request.base_url)).rstrip("/")

    async def threaded(work: Callable[..., Any], *args: Any) -> Any:
        return await run_in_threadpool(work, *args)

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
        body = await _json(request)
        # Decided on the event loop: about a millisecond of CPU, which threads
        # would not run faster (the GIL) but would queue behind each other.
        # Its audit entries are then put on disk on a thread, while the loop
        # answers others (and their fsync is shared: see AuditLog).
        pending: list[int] = []
        answer = crd.answer(hooks[service], body, decisions, base_url(request), pending)
        if pending:
            await threaded(decisions.settle, pending)
        return Response(orjson.dumps(answer), media_type="application/json")

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
            base_url(request),
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
        body = await _json(request)
        return _fhir(await threaded(pas.submit, body, decisions))

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
    app.add_middleware(Guard, settings=settings, verifier=verifier)
    # The policies, circuits and caches loaded so far live as long as the
    # service: out of the collector's sight, full collections stay short.
    gc.collect()
    gc.freeze()
    return app


def app_from_environment() -> FastAPI:
    """The application of each uvicorn worker (settings passed by `policykb serve`)."""
    return create_app(ServiceSettings.from_environment())
