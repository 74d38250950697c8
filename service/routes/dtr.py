"""FHIR DTR: a policy's facts as a Questionnaire; the Questionnaire package
for a coverage and its orders; the clients' error reports; the ValueSets of
its choice facts, read and expanded (`ValueSet/$expand`)."""

from __future__ import annotations

from collections.abc import Awaitable
from datetime import UTC, datetime
from typing import Any

import orjson
from fastapi import APIRouter, Request
from fastapi.responses import Response

from policykb.service import (
    dtr,
    dtr_adaptive,
    dtr_enable,
    dtr_errors,
    dtr_package,
    dtr_valuesets,
)
from policykb.service.deps import Shared, strict_json
from policykb.service.envelopes.fhir import Parameters, Questionnaire, Resource
from policykb.service.errors import FHIR_JSON, ServiceError
from policykb.service.hook_log import LogUnavailable
from policykb.service.openapi import OUTCOMES, fhir_answer, request_body
from policykb.service.routes import get_and_post

router = APIRouter(tags=["DTR"])


async def _reading_the_hook_log(work: Awaitable[dict[str, Any]]) -> dict[str, Any]:
    """The answer of work that looks orders up in the hook log (DTR
    spec-43); 503 if the log cannot be read."""
    try:
        return await work
    except LogUnavailable as error:
        raise ServiceError(503, str(error)) from None


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
        return dtr_package.package(
            strict_json(body), shared.decisions, base, today, shared.hook_log.called_for
        )

    answer = await _reading_the_hook_log(shared.run(build))
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


@router.post(
    "/fhir/Questionnaire/$next-question",
    response_class=Response,
    responses={**fhir_answer("the next-question output Parameters", Parameters), **OUTCOMES},
    openapi_extra=request_body(Parameters, FHIR_JSON, "application/json"),
)
async def next_question(request: Request, shared: Shared) -> Response:
    """SDC/DTR $next-question on an adaptive Questionnaire: the response's
    contained Questionnaire rebuilt with exactly the questions its answers
    still need (DTR spec-17)."""
    body = await request.body()
    base = shared.base_url(request.scope)
    answer = await _reading_the_hook_log(
        shared.run(
            lambda: dtr_adaptive.next_question(
                strict_json(body), shared.decisions, base, shared.hook_log.called_for
            )
        )
    )
    return Response(orjson.dumps(answer), media_type=FHIR_JSON)


# Declared after the operations: /fhir/Questionnaire/{policy} would also match
# their paths, and a method the operations lack must name theirs (Allow: POST).
@router.get(
    "/fhir/Questionnaire/{policy}",
    response_class=Response,
    responses={**fhir_answer("a Questionnaire", Questionnaire), **OUTCOMES},
)
async def questionnaire(policy: str, request: Request, shared: Shared) -> Response:
    """The policy's facts as a FHIR R4 Questionnaire (DTR Standard
    Questionnaire); `{policy}-adaptive`: its adaptive form (DTR
    AdaptiveQuestionnaire-Search, answered by $next-question)."""
    decisions = shared.decisions
    base = shared.base_url(request.scope)
    adaptive = dtr_adaptive.policy_of_id(policy, decisions.policies)
    if policy not in decisions.policies and adaptive is not None:
        searched = dtr_adaptive.search_questionnaire(decisions, adaptive, base)
        return Response(orjson.dumps(searched), media_type=FHIR_JSON)
    if policy not in decisions.policies:
        raise ServiceError(404, f"no Questionnaire {policy[:80]!r}")

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


async def _expand_inputs(request: Request) -> dict[str, object]:
    """The `$expand` inputs: the query's, and for a POST with a body, its
    Parameters' (which win)."""
    given: dict[str, object] = dict(request.query_params)
    if request.method == "POST":
        body = await request.body()
        if body.strip():
            given.update(dtr_valuesets.parameters_of(strict_json(body)))
    return given


async def _expanded(
    ident: str, given: dict[str, object], request: Request, shared: Shared
) -> Response:
    decisions = shared.decisions
    base = shared.base_url(request.scope)
    expansion = dtr_valuesets.expansion_of(given)
    found = dtr_valuesets.find(decisions.policies, ident)
    if found is None:
        raise ServiceError(404, f"no ValueSet {ident[:80]!r}")
    policy, fact = found

    def build() -> dict[str, Any]:
        version = decisions.versions[policy.name]
        return dtr_valuesets.valueset(policy, version, fact, base, expansion)

    document = await shared.run(build)
    return Response(orjson.dumps(document), media_type=FHIR_JSON)


@get_and_post(
    router,
    "/fhir/ValueSet/$expand",
    response_class=Response,
    responses={**fhir_answer("the ValueSet with its expansion", Resource), **OUTCOMES},
)
async def expand(request: Request, shared: Shared) -> Response:
    """`ValueSet/$expand` (DTR's operation): `url` names one of the service's
    ValueSets; `filter`, `offset` and `count` narrow and page the expansion."""
    given = await _expand_inputs(request)
    url = given.get("url")
    if not isinstance(url, str) or not url:
        raise ServiceError(400, "$expand needs the ValueSet's 'url' (DTR oper-4)", where="url")
    ident = dtr_valuesets.id_of_url(url, shared.base_url(request.scope))
    return await _expanded(ident, given, request, shared)


@get_and_post(
    router,
    "/fhir/ValueSet/{ident}/$expand",
    response_class=Response,
    responses={**fhir_answer("the ValueSet with its expansion", Resource), **OUTCOMES},
)
async def expand_instance(ident: str, request: Request, shared: Shared) -> Response:
    """`$expand` on one ValueSet, by id (as the type-level operation)."""
    return await _expanded(ident, await _expand_inputs(request), request, shared)


# Declared after the operations, which /fhir/ValueSet/{ident} would also match.
@router.get(
    "/fhir/ValueSet/{ident}",
    response_class=Response,
    responses={**fhir_answer("a ValueSet (its definition, unexpanded)", Resource), **OUTCOMES},
)
async def read_valueset(ident: str, request: Request, shared: Shared) -> Response:
    """A choice fact's ValueSet, by id."""
    found = dtr_valuesets.find(shared.decisions.policies, ident)
    if found is None:
        raise ServiceError(404, f"no ValueSet {ident[:80]!r}")
    policy, fact = found
    version = shared.decisions.versions[policy.name]
    base = shared.base_url(request.scope)
    document = dtr_valuesets.valueset(policy, version, fact, base)
    return Response(orjson.dumps(document), media_type=FHIR_JSON)
