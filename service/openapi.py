"""The OpenAPI document's parts that FastAPI does not derive from a route's
signature, derived here from the envelope models.

A FHIR or CDS Hooks body is read and validated off the event loop (deps), so
its route declares no body parameter: `request_body(Model)` names the model,
and `install` adds every such model's schema to the document's components.
Errors are described per surface: problem+json (`PROBLEMS`) or an
OperationOutcome (`OUTCOMES`).
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi
from pydantic import BaseModel
from pydantic.json_schema import models_json_schema

from policykb.service.envelopes.errors import OperationOutcome, Problem
from policykb.service.errors import FHIR_JSON, PROBLEM_JSON

REF = "#/components/schemas/{model}"
ERRORS = (400, 401, 404, 413, 422, 500)
_declared: set[type[BaseModel]] = {Problem, OperationOutcome}
"""The models named by request_body, errors and fhir_answer (added to components)."""


def _ref(model: type[BaseModel]) -> dict[str, str]:
    _declared.add(model)
    return {"$ref": REF.format(model=model.__name__)}


def request_body(model: type[BaseModel], *media_types: str) -> dict[str, Any]:
    """A route's `openapi_extra` declaring `model` as its JSON body."""
    content = {media: {"schema": _ref(model)} for media in media_types or ("application/json",)}
    return {"requestBody": {"content": content, "required": True}}


def _errors(media_type: str, model: type[BaseModel]) -> dict[int | str, dict[str, Any]]:
    return {
        status: {"description": "an error", "content": {media_type: {"schema": _ref(model)}}}
        for status in ERRORS
    }


PROBLEMS = _errors(PROBLEM_JSON, Problem)
"""The errors of the JSON API and CDS Hooks discovery: problem+json."""
OUTCOMES = _errors(FHIR_JSON, OperationOutcome)
"""The errors of /fhir and /cds-services/{id}: an OperationOutcome."""


def answer(
    status: int, description: str, model: type[BaseModel], media_type: str = "application/json"
) -> dict[int | str, dict[str, Any]]:
    """A route's answer of `status` in `media_type`."""
    return {status: {"description": description, "content": {media_type: {"schema": _ref(model)}}}}


def fhir_answer(description: str, model: type[BaseModel]) -> dict[int | str, dict[str, Any]]:
    """A FHIR route's 200, application/fhir+json."""
    return {200: {"description": description, "content": {FHIR_JSON: {"schema": _ref(model)}}}}


def install(app: FastAPI) -> None:
    """Generate `app`'s document once, on first request, with the declared models."""

    def document() -> dict[str, Any]:
        if app.openapi_schema is None:
            generated = get_openapi(
                title=app.title,
                version=app.version,
                description=app.description,
                routes=app.routes,
            )
            _, definitions = models_json_schema(
                [(model, "validation") for model in sorted(_declared, key=lambda m: m.__name__)],
                ref_template=REF,
            )
            schemas = generated.setdefault("components", {}).setdefault("schemas", {})
            for name, schema in definitions.get("$defs", {}).items():
                schemas.setdefault(name, schema)
            app.openapi_schema = generated
        return app.openapi_schema

    app.openapi = document  # type: ignore[method-assign]
