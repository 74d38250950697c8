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


class Discovery(BaseModel):
    """GET /cds-services: the services this CDS Service offers."""

    services: list[ServiceDescriptor]


class HookContext(BaseModel):
    """order-sign / order-select context: the patient and the draft orders."""

    model_config = ConfigDict(extra="allow")
    patientId: str
    draftOrders: Bundle
    selections: list[Any] | None = Field(
        None, description="order-select: the references of the orders being chosen."
    )


class HookCall(BaseModel):
    """A CDS Hooks request (fields the service does not read are kept, unread)."""

    model_config = ConfigDict(extra="allow")
    hook: str
    hookInstance: str
    context: HookContext
    prefetch: dict[str, Any] | None = Field(
        None, description="Prefetched resources or search Bundles, by the discovery's keys."
    )


class CardSource(BaseModel):
    label: str


class Card(BaseModel):
    uuid: str
    summary: str = Field(max_length=140)
    indicator: Literal["info", "warning", "critical"]
    detail: str
    source: CardSource


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
