"""SMART Backend Services: the discovery document and the token endpoint
(smart_auth.py). Both answer 404 when the service has no --smart-clients."""

from __future__ import annotations

from urllib.parse import parse_qsl

import orjson
from fastapi import APIRouter, Request
from fastapi.responses import Response

from policykb.service import smart_auth
from policykb.service.deps import Shared
from policykb.service.envelopes.smart import (
    SmartConfiguration,
    TokenAnswer,
    TokenRefusal,
    TokenRequest,
)
from policykb.service.errors import ServiceError
from policykb.service.openapi import OUTCOMES, PROBLEMS, answer, request_body

router = APIRouter(tags=["SMART"])
NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}
FORM = "application/x-www-form-urlencoded"


def _backend(shared: Shared) -> smart_auth.SmartBackend:
    if shared.smart is None:
        raise ServiceError(404, "this service has no SMART Backend Services (--smart-clients)")
    return shared.smart


@router.get(
    smart_auth.CONFIGURATION_PATH,
    response_class=Response,
    responses={**OUTCOMES, **answer(200, "the SMART configuration", SmartConfiguration)},
)
async def configuration(request: Request, shared: Shared) -> Response:
    """SMART's discovery document: the token endpoint and what it accepts."""
    _backend(shared)
    document = smart_auth.configuration(shared.base_url(request.scope))
    return Response(orjson.dumps(document), media_type="application/json")


def _refusal(error: smart_auth.TokenError) -> Response:
    body = {"error": error.error, "error_description": error.description}
    return Response(
        orjson.dumps(body),
        status_code=error.status,
        media_type="application/json",
        headers=NO_STORE,
    )


@router.post(
    smart_auth.TOKEN_PATH,
    response_class=Response,
    responses={
        **PROBLEMS,
        **answer(200, "an access token", TokenAnswer),
        **answer(400, "a refused request (RFC 6749)", TokenRefusal),
        **answer(401, "a refused client assertion (RFC 6749 invalid_client)", TokenRefusal),
    },
    openapi_extra=request_body(TokenRequest, FORM),
)
async def token(request: Request, shared: Shared) -> Response:
    """client_credentials with a signed JWT client assertion: an access token,
    or an RFC 6749 error (400, or 401 invalid_client)."""
    backend = _backend(shared)
    if request.headers.get("content-type", "").split(";")[0].strip() != FORM:
        return _refusal(smart_auth.TokenError("invalid_request", f"the body must be {FORM}"))
    body = await request.body()
    token_url = f"{shared.base_url(request.scope)}{smart_auth.TOKEN_PATH}"

    def respond() -> Response:
        try:
            pairs = parse_qsl(body.decode("utf-8"), keep_blank_values=True, strict_parsing=True)
        except (UnicodeDecodeError, ValueError):
            return _refusal(smart_auth.TokenError("invalid_request", "the form cannot be read"))
        names = [name for name, _ in pairs]
        repeated = sorted({name for name in names if names.count(name) > 1})
        if repeated:
            text = f"the parameter {repeated[0][:40]!r} is given more than once"
            return _refusal(smart_auth.TokenError("invalid_request", text))
        try:
            granted = backend.token(dict(pairs), token_url)
        except smart_auth.TokenError as error:
            return _refusal(error)
        return Response(orjson.dumps(granted), media_type="application/json", headers=NO_STORE)

    return await shared.run(respond)
