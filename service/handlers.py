"""Every exception a route raises, answered as its caller's standard speaks
errors (errors.py): problem+json or an OperationOutcome, never a traceback."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

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


async def _http_error(request: Request, error: Exception) -> JSONResponse:
    assert isinstance(error, HTTPException)
    headers = dict(error.headers) if error.headers else None
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
