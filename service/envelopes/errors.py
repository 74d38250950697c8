"""The two error envelopes: RFC 9457 problem+json (the JSON API and the page)
and FHIR's OperationOutcome (/fhir and /cds-services). errors.py writes them;
these models describe them in the OpenAPI document."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field


class Problem(BaseModel):
    """An RFC 9457 problem: `detail` is one line naming what is wrong,
    `pointer` where (a field or parameter), when known."""

    type: str = Field(examples=["about:blank"])
    title: str
    status: int = Field(ge=400, le=599)
    detail: str
    pointer: str | None = None


class Issue(BaseModel):
    severity: Literal["fatal", "error"]
    code: str
    diagnostics: str
    expression: list[str] | None = None


class OperationOutcome(BaseModel):
    """A FHIR R4 OperationOutcome with one issue."""

    resourceType: Literal["OperationOutcome"]
    issue: list[Issue] = Field(min_length=1)
