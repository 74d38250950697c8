"""FHIR DTR: a policy's facts as a Questionnaire; the Questionnaire package
for a coverage and its orders; the clients' error reports."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import orjson
from fastapi import APIRouter, Request
from fastapi.responses import Response

from policykb.service import dtr, dtr_enable, dtr_errors, dtr_package
from policykb.service.deps import Shared, strict_json
from policykb.service.envelopes.fhir import Parameters, Questionnaire
from policykb.service.errors import FHIR_JSON, ServiceError
from policykb.service.openapi import OUTCOMES, fhir_answer, request_body

router = APIRouter(tags=["DTR"])


@router.post(
    "/fhir/Questionnaire/$questionnaire-package",
    response_class=Response,
    responses={**fhir_answer("the package Parameters", Parameters), **OUTCOMES},
    openapi_extra=request_body(Parameters, FHIR_JSON, "application/json"),
)
async def questionnaire_package(request: Request, shared: Shared) -> Response:
    """DTR's $questionnaire-package: a coverage and its orders (or
    Questionnaire canonicals) in, one package Bundle per Questionnaire out."""
    body = await request.body()
    base = shared.base_url(request.scope)

    def build() -> dict[str, Any]:
        today = datetime.now(UTC).date()
        return dtr_package.package(strict_json(body), shared.decisions, base, today)

    answer = await shared.run(build)
    return Response(orjson.dumps(answer), media_type=FHIR_JSON)


@router.post(
    "/fhir/Questionnaire/$log-questionnaire-errors",
    response_class=Response,
    responses={**OUTCOMES},
    openapi_extra=request_body(Parameters, FHIR_JSON, "application/json"),
)
async def log_questionnaire_errors(request: Request, shared: Shared) -> Response:
    """DTR's $log-questionnaire-errors: a client's issues with a Questionnaire, logged."""
    body = await request.body()
    answer = await shared.run(lambda: dtr_errors.log_errors(strict_json(body)))
    return Response(orjson.dumps(answer), media_type=FHIR_JSON)


# Declared after the operations: /fhir/Questionnaire/{policy} would also match
# their paths, and a method the operations lack must name theirs (Allow: POST).
@router.get(
    "/fhir/Questionnaire/{policy}",
    response_class=Response,
    responses={**fhir_answer("a Questionnaire", Questionnaire), **OUTCOMES},
)
async def questionnaire(policy: str, request: Request, shared: Shared) -> Response:
    """The policy's facts as a FHIR R4 Questionnaire (DTR Standard Questionnaire)."""
    decisions = shared.decisions
    if policy not in decisions.policies:
        raise ServiceError(404, f"no Questionnaire {policy[:80]!r}")
    base = shared.base_url(request.scope)

    def build() -> dict[str, Any]:
        today = datetime.now(UTC).date()
        return dtr.questionnaire(
            decisions.policies[policy],
            decisions.versions[policy],
            decisions.mappings[policy],
            base,
            narrowing=dtr_enable.conditions(decisions.knowledge, policy, today),
        )

    document = await shared.run(build)
    return Response(orjson.dumps(document), media_type=FHIR_JSON)
