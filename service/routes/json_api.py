"""The JSON API, /v1: the CLI's JSON contracts over HTTP (service/api.py).

Bodies are the envelope models of envelopes/json_api, read by the strict
reader on a decision thread (StrictJsonRoute); every answer is computed on a
decision thread and sent as it was computed (the response models describe
it in the OpenAPI document).
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query
from fastapi.responses import JSONResponse

from policykb.service import api
from policykb.service.deps import Shared, StrictJsonRoute
from policykb.service.envelopes import json_api as models
from policykb.service.openapi import PROBLEMS

router = APIRouter(prefix="/v1", tags=["JSON API"], route_class=StrictJsonRoute, responses=PROBLEMS)


def _sent(document: dict[str, Any]) -> JSONResponse:
    return JSONResponse(document)


@router.post("/evaluate", response_model=models.EvaluationAnswer)
async def evaluate(
    shared: Shared, document: models.CaseDocument, audit: bool = True
) -> JSONResponse:
    """Evaluate a case: verdict, criteria, minimal explanation, missing facts.
    A decision, audited; `audit=false` for a what-if that decides nothing."""
    return _sent(await shared.run(api.evaluate, shared.decisions, document, audit))


@router.post("/why", response_model=models.WhyAnswer)
async def why(
    shared: Shared,
    document: models.CaseDocument,
    max_changes: Annotated[int, Query(ge=1, le=models.MAX_CHANGES)] = 20,
    keep: Annotated[list[str] | None, Query(max_length=200)] = None,
) -> JSONResponse:
    """Why a case got its verdict: every minimal explanation, the smallest changes."""
    return _sent(await shared.run(api.why, shared.decisions, document, max_changes, keep or []))


@router.post("/check", response_model=models.CheckAnswer)
async def check(shared: Shared, request: models.CheckRequest) -> JSONResponse:
    """A policy's check findings, each with its witness."""
    return _sent(await shared.run(shared.checks.report, shared.decisions, request))


@router.get("/policies", response_model=models.PolicyList)
async def policies(shared: Shared) -> JSONResponse:
    """The loaded policies: title, version (content hash), codes, facts."""
    return _sent(api.policies(shared.decisions))


@router.get("/policies/{name}", response_model=models.Vocabulary)
async def policy(shared: Shared, name: str) -> JSONResponse:
    """A policy's facts (type, question, options, bounds, default) and criteria."""
    return _sent(api.vocabulary(shared.decisions, name))


@router.post("/prove", response_model=models.ProofAnswer)
async def prove(shared: Shared, document: models.CaseDocument) -> JSONResponse:
    """The second engine's verdict and proof tree (SWI-Prolog)."""
    return _sent(await shared.run(api.prove, shared.decisions, document))


@router.post("/notice", response_model=models.NoticeAnswer)
async def notice(shared: Shared, document: models.CaseDocument) -> JSONResponse:
    """The notice of the determination, as Markdown."""
    return _sent(await shared.run(api.notice, shared.decisions, document))


@router.post("/diff", response_model=models.DiffAnswer)
async def diff(shared: Shared, request: models.DiffRequest) -> JSONResponse:
    """The regions of scenarios whose verdict differs between two policies."""
    return _sent(await shared.run(shared.diffs.report, shared.decisions, request))


@router.post("/cases/parse", response_model=models.ParsedCase)
async def parse_case(shared: Shared, given: models.CaseText) -> JSONResponse:
    """A case file's text (JSON or YAML), checked, as a case document."""
    return _sent(await shared.run(api.parse_case, shared.decisions, given))
