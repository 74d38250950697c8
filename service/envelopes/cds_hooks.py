"""CDS Hooks 2.0 envelopes: discovery, a hook call, and its answer.

A call's fields are checked here; its draft orders and prefetched record are
FHIR (a Bundle of dict resources, read by the one Bundle reader).
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from policykb.service.envelopes.fhir import Bundle


class ServiceDescriptor(BaseModel):
    hook: str
    id: str
    title: str
    description: str
    prefetch: dict[str, str]
    extension: dict[str, Any] | None = Field(
        None,
        description="CRD's davinci-crd.version and davinci-crd.configuration-options.",
    )


class Discovery(BaseModel):
    """GET /cds-services: the services this CDS Service offers."""

    services: list[ServiceDescriptor]


FHIR_ID = r"^[A-Za-z0-9\-\.]{1,64}$"
"""FHIR R4's id datatype. The patient's id is put into the queries sent to
the client's fhirServer with its token (crd.HookRequest.queries): only an id
can be, so that no '&', '/' or '#' in it asks the EHR something else."""


class HookContext(BaseModel):
    """The context of the hooks CRD serves: the patient, and the orders as
    each hook gives them (other context elements are kept, unread: hook-23)."""

    model_config = ConfigDict(extra="allow")
    patientId: str = Field(pattern=FHIR_ID, description="The FHIR id of the patient.")
    draftOrders: Bundle | None = Field(
        None, description="order-sign, order-select: the draft orders."
    )
    selections: list[Any] | None = Field(
        None, description="order-select: the references of the orders being chosen."
    )
    appointments: Bundle | None = Field(
        None, description="appointment-book: the appointments being booked."
    )
    dispatchedOrders: list[Any] | None = Field(
        None, description="order-dispatch: references to the orders being dispatched."
    )
    encounterId: str | None = Field(
        None, description="encounter-start, encounter-discharge: the Encounter's id."
    )


class FhirAuthorization(BaseModel):
    """The bearer token a CDS service may use on the client's FHIR server."""

    model_config = ConfigDict(extra="allow")
    access_token: str
    token_type: str = "Bearer"


class HookCall(BaseModel):
    """A CDS Hooks request (fields the service does not read are kept, unread)."""

    model_config = ConfigDict(extra="allow")
    hook: str
    hookInstance: str
    context: HookContext
    prefetch: dict[str, Any] | None = Field(
        None, description="Prefetched resources or search Bundles, by the discovery's keys."
    )
    fhirServer: str | None = Field(None, description="The client's FHIR base URL.")
    fhirAuthorization: FhirAuthorization | None = None
    extension: dict[str, Any] | None = Field(
        None, description="davinci-crd.configuration and davinci-crd.requestedVersion."
    )


class Coding(BaseModel):
    system: str
    code: str
    display: str | None = None


class CardSource(BaseModel):
    label: str
    topic: Coding | None = None


class Card(BaseModel):
    uuid: str
    summary: str = Field(max_length=140)
    indicator: Literal["info", "warning", "critical"]
    detail: str
    source: CardSource
    extension: dict[str, Any] | None = None


class SystemAction(BaseModel):
    """An update of a draft order: the order with CRD's coverage-information
    extension (a FHIR resource, as a dict)."""

    type: Literal["update"]
    description: str
    resource: dict[str, Any]


class HookResponse(BaseModel):
    """The answer to a hook call: cards (order-sign only) and system actions."""

    cards: list[Card]
    systemActions: list[SystemAction] | None = None


class FeedbackItem(BaseModel):
    """What the user did with one card (CDS Hooks 2.0 feedback)."""

    model_config = ConfigDict(extra="allow")
    card: str = Field(max_length=256)
    outcome: Literal["accepted", "overridden"]
    outcomeTimestamp: str = Field(max_length=64)
    acceptedSuggestions: list[dict[str, Any]] | None = None
    overrideReason: dict[str, Any] | None = None


class Feedback(BaseModel):
    """POST /cds-services/{id}/feedback: what the user did with cards."""

    model_config = ConfigDict(extra="allow")
    feedback: list[FeedbackItem] = Field(min_length=1, max_length=100)


class FeedbackRecorded(BaseModel):
    """The answer to feedback: how many items were recorded in the audit log."""

    recorded: int
