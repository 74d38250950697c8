"""The one Bundle reader: a FHIR Bundle's entries and the resources they hold.

CRD's draft orders and prefetched searches and PAS's request are Bundles;
each is validated here, so every surface reads entries the same way. A
resource stays a dict (see the package's docstring for the boundary).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError


class BundleEntry(BaseModel):
    """An entry: its resource, if it holds one (other fields are kept, unread)."""

    model_config = ConfigDict(extra="allow")
    fullUrl: str | None = None
    resource: dict[str, Any] | None = None

    @property
    def held(self) -> dict[str, Any] | None:
        """The resource, when it is one (an object naming its resourceType)."""
        resource = self.resource
        return resource if resource and isinstance(resource.get("resourceType"), str) else None


class Bundle(BaseModel):
    """A FHIR Bundle, as far as the service reads it: its entries."""

    model_config = ConfigDict(extra="allow")
    resourceType: Literal["Bundle"]
    entry: list[BundleEntry] = Field(default_factory=list)

    def resources(self) -> list[tuple[int, dict[str, Any]]]:
        """The resources the entries hold, with each entry's index."""
        return [(i, e.held) for i, e in enumerate(self.entry) if e.held is not None]

    def nested_entries(self) -> Iterator[BundleEntry]:
        """Its entries and, at any depth, those of the Bundles they hold (a
        held Bundle that is malformed holds none)."""
        pending = [self]
        while pending:
            bundle = pending.pop()
            for entry in bundle.entry:
                yield entry
                held = entry.held
                if held is not None and held["resourceType"] == "Bundle":
                    try:
                        pending.append(Bundle.model_validate(held))
                    except ValidationError:
                        continue

    def first_without_resource(self) -> int | None:
        """The index of the first entry that holds no resource (None: all do)."""
        return next((i for i, e in enumerate(self.entry) if e.held is None), None)


def entry_count(value: object) -> int:
    """How many resources a raw Bundle or resource holds, counted before it
    is validated (the request budget refuses a large one before any work)."""
    if isinstance(value, Mapping) and value.get("resourceType") == "Bundle":
        entries = value.get("entry")
        return len(entries) if isinstance(entries, list) else 0
    return 1 if isinstance(value, Mapping) else 0


def is_bundle(value: object) -> bool:
    return isinstance(value, Mapping) and value.get("resourceType") == "Bundle"


class Resource(BaseModel):
    """A FHIR resource the service returns (validated in the tests against
    the FHIR R4B models; here, only its type)."""

    model_config = ConfigDict(extra="allow")
    resourceType: str


class Questionnaire(Resource):
    resourceType: Literal["Questionnaire"]


class ClaimResponse(Resource):
    resourceType: Literal["ClaimResponse"]


class Parameters(Resource):
    resourceType: Literal["Parameters"]


class CapabilityStatement(Resource):
    resourceType: Literal["CapabilityStatement"]


class Subscription(Resource):
    resourceType: Literal["Subscription"]
