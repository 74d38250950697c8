"""Errors as the caller's standard speaks them, never a traceback.

FHIR routes (/fhir, /cds-services) answer with a FHIR OperationOutcome; the
JSON API and everything else with RFC 9457 problem+json. The status says
whose fault it is: 4xx the request's (one line naming what is wrong and
where), 500 policykb's (a fixed text; the detail goes to the server log).
"""

from __future__ import annotations

import logging
from http import HTTPStatus
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse

log = logging.getLogger("policykb.service")

FHIR_JSON = "application/fhir+json"
PROBLEM_JSON = "application/problem+json"
FHIR_PREFIXES = ("/fhir", "/cds-services")

ISSUE_CODES = {
    400: "invalid",
    401: "login",
    403: "forbidden",
    404: "not-found",
    405: "not-supported",
    413: "too-long",
    415: "not-supported",
    422: "processing",
}


class ServiceError(Exception):
    """A request the service refuses: its HTTP status and one line saying why."""

    def __init__(self, status: int, detail: str, *, where: str | None = None) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail
        self.where = where


def operation_outcome(status: int, detail: str, where: str | None = None) -> dict[str, Any]:
    issue: dict[str, Any] = {
        "severity": "fatal" if status >= 500 else "error",
        "code": ISSUE_CODES.get(status, "exception" if status >= 500 else "invalid"),
        "diagnostics": detail,
    }
    if where:
        issue["expression"] = [where]
    return {"resourceType": "OperationOutcome", "issue": [issue]}


def problem(status: int, detail: str, where: str | None = None) -> dict[str, Any]:
    document: dict[str, Any] = {
        "type": "about:blank",
        "title": HTTPStatus(status).phrase,
        "status": status,
        "detail": detail,
    }
    if where:
        document["pointer"] = where
    return document


def error_response(
    path: str,
    status: int,
    detail: str,
    where: str | None = None,
    headers: dict[str, str] | None = None,
) -> JSONResponse:
    """The error in the form the route's callers read."""
    if path.startswith(FHIR_PREFIXES):
        body = operation_outcome(status, detail, where)
        return JSONResponse(body, status, headers=headers, media_type=FHIR_JSON)
    body = problem(status, detail, where)
    return JSONResponse(body, status, headers=headers, media_type=PROBLEM_JSON)


def respond(request: Request, error: ServiceError) -> JSONResponse:
    headers = {"WWW-Authenticate": 'Bearer realm="policykb"'} if error.status == 401 else None
    return error_response(request.url.path, error.status, error.detail, error.where, headers)


def internal(request: Request, error: Exception) -> JSONResponse:
    log.error("internal error on %s %s: %r", request.method, request.url.path, error)
    return error_response(
        request.url.path, 500, "internal error in policykb (logged on the server; please report it)"
    )
