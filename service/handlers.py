"""Every exception a route raises, answered as its caller's standard speaks
errors (errors.py): problem+json or an OperationOutcome, never a traceback."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException

from policykb.bridge.model.errors import CaseError, LimitError, PolicyError
from policykb.service.audit import AuditUnavailable
from policykb.service.errors import ServiceError, error_response, internal, respond

Handler = Callable[[Request, Exception], Awaitable[JSONResponse]]

BY_STATUS: dict[type[Exception], int] = {
    CaseError: 422,
    PolicyError: 422,
    LimitError: 413,
    AuditUnavailable: 503,
}
"""Errors of the bridge and the audit log that reach a route, by status."""


def _with_status(status: int) -> Handler:
    async def handle(request: Request, error: Exception) -> JSONResponse:
        return error_response(request.url.path, status, str(error))

    return handle


async def _service_error(request: Request, error: Exception) -> JSONResponse:
    assert isinstance(error, ServiceError)
    return respond(request, error)


METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE")


def _allowed(request: Request) -> str | None:
    """Every method the path takes, as the OpenAPI document lists them: one
    path may have a route per method (GET, PUT and DELETE of a FHIR
    resource), and Starlette's 405 names only the first route's. Of the
    documented paths that match, the one with the fewest parameters is the
    path's (a literal `$questionnaire-package` shadows `{policy}`)."""
    paths: dict[str, dict[str, Any]] = request.app.openapi().get("paths", {})
    segments = request.url.path.split("/")
    best: tuple[int, str] | None = None
    for template in paths:
        parts = template.split("/")
        if len(parts) != len(segments):
            continue
        pairs = zip(parts, segments, strict=True)
        if all(p == s or (p.startswith("{") and p.endswith("}")) for p, s in pairs):
            parameters = sum(p.startswith("{") for p in parts)
            if best is None or parameters < best[0]:
                best = (parameters, template)
    if best is None:
        return None
    methods = [m.upper() for m in paths[best[1]] if m.upper() in METHODS]
    return ", ".join(methods) if methods else None


async def _http_error(request: Request, error: Exception) -> JSONResponse:
    assert isinstance(error, HTTPException)
    headers = dict(error.headers) if error.headers else None
    if error.status_code == 405 and headers is not None and "Allow" in headers:
        headers["Allow"] = _allowed(request) or headers["Allow"]
    return error_response(request.url.path, error.status_code, str(error.detail), headers=headers)


async def _invalid(request: Request, error: Exception) -> JSONResponse:
    """A body or parameter that its model refuses: 422 naming the first field
    (a body that is not JSON: 400)."""
    assert isinstance(error, RequestValidationError)
    first = error.errors()[0] if error.errors() else {"msg": "invalid request", "loc": ()}
    where = ".".join(str(part) for part in first.get("loc", ()))
    if first.get("type") == "json_invalid":
        return error_response(request.url.path, 400, f"the body is not JSON ({where})")
    return error_response(
        request.url.path, 422, f"{where}: {first.get('msg', 'invalid')}", where or None
    )


async def _unexpected(request: Request, error: Exception) -> JSONResponse:
    return internal(request, error)


def install(app: FastAPI) -> None:
    """Register the handlers on `app`."""
    app.add_exception_handler(ServiceError, _service_error)
    app.add_exception_handler(HTTPException, _http_error)
    app.add_exception_handler(RequestValidationError, _invalid)
    for kind, status in BY_STATUS.items():
        app.add_exception_handler(kind, _with_status(status))
    app.add_exception_handler(Exception, _unexpected)
