"""What a PAS Claim is found by: the identifiers of its patient and of its
providers, resolved inside the Bundle it came in (PAS 2.2.1 spec-53: a match
on the patient's member id plus the ordering or rendering provider's
identifier), its business identifiers and the authorization numbers it
quotes (the authorizationNumber / administrationReferenceNumber extensions).

Every key is `system|value` of an Identifier (an Identifier without a value
gives none), so that two identifiers match only when both parts are equal.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

PAS = "http://hl7.org/fhir/us/davinci-pas/StructureDefinition"
X12_306 = "https://codesystem.x12.org/005010/306"
AUTHORIZATION_NUMBER = f"{PAS}/extension-authorizationNumber"
ADMINISTRATION_NUMBER = f"{PAS}/extension-administrationReferenceNumber"

Entries = list[tuple[str | None, dict[str, Any]]]


def identifier_keys(identifiers: object) -> frozenset[str]:
    """`system|value` of each Identifier that has a value."""
    found = set()
    for identifier in identifiers if isinstance(identifiers, list) else [identifiers]:
        if not isinstance(identifier, Mapping):
            continue
        value = identifier.get("value")
        if isinstance(value, str) and value.strip():
            system = identifier.get("system")
            found.add(f"{system if isinstance(system, str) else ''}|{value.strip()}")
    return frozenset(found)


def resolve(reference: object, entries: Entries) -> dict[str, Any] | None:
    """The Bundle resource a Reference names (by fullUrl, or by Type/id)."""
    text = reference.get("reference") if isinstance(reference, Mapping) else None
    if not isinstance(text, str) or not text:
        return None
    for full_url, resource in entries:
        if full_url == text or (full_url or "").endswith(f"/{text}"):
            return resource
        if f"{resource.get('resourceType')}/{resource.get('id')}" == text:
            return resource
    return None


def party_keys(reference: object, entries: Entries) -> frozenset[str]:
    """The identifiers of the party a Reference names: the Reference's own
    `identifier`, the resolved resource's, and for a PractitionerRole its
    practitioner's and organization's."""
    keys: set[str] = set()
    if isinstance(reference, Mapping):
        keys |= identifier_keys(reference.get("identifier"))
    resource = resolve(reference, entries)
    if resource is not None:
        keys |= identifier_keys(resource.get("identifier"))
        if resource.get("resourceType") == "PractitionerRole":
            for role in ("practitioner", "organization"):
                inner = resolve(resource.get(role), entries)
                if inner is not None:
                    keys |= identifier_keys(inner.get("identifier"))
    return frozenset(keys)


def patient_keys(claim: Mapping[str, Any], entries: Entries) -> frozenset[str]:
    return party_keys(claim.get("patient"), entries)


def provider_keys(claim: Mapping[str, Any], entries: Entries) -> frozenset[str]:
    """Of `Claim.provider` and of every `Claim.careTeam.provider`."""
    keys = set(party_keys(claim.get("provider"), entries))
    team = claim.get("careTeam")
    for member in team if isinstance(team, list) else []:
        if isinstance(member, Mapping):
            keys |= party_keys(member.get("provider"), entries)
    return frozenset(keys)


def extension_value(element: Mapping[str, Any], url: str) -> Any:
    for extension in element.get("extension") or []:
        if isinstance(extension, Mapping) and extension.get("url") == url:
            for key, value in extension.items():
                if key.startswith("value"):
                    return value
    return None


def quoted_numbers(element: Mapping[str, Any]) -> frozenset[str]:
    """The authorization numbers an element (a Claim or an item) quotes."""
    found = set()
    for url in (AUTHORIZATION_NUMBER, ADMINISTRATION_NUMBER):
        value = extension_value(element, url)
        if isinstance(value, str) and value.strip():
            found.add(value.strip())
    return frozenset(found)


def answer_numbers(claim_response: Mapping[str, Any]) -> frozenset[str]:
    """The numbers an answer gives: its preAuthRef and each item's
    reviewAction number."""
    found = set()
    if isinstance(claim_response.get("preAuthRef"), str):
        found.add(claim_response["preAuthRef"])
    for item in claim_response.get("item") or []:
        for adjudication in item.get("adjudication") or []:
            for extension in adjudication.get("extension") or []:
                for part in extension.get("extension") or []:
                    if part.get("url") == "number" and isinstance(part.get("valueString"), str):
                        found.add(part["valueString"])
    return frozenset(found)


def action_code(item: Mapping[str, Any]) -> str | None:
    """The X12 306 code of an answered ClaimResponse item (its reviewAction)."""
    for adjudication in item.get("adjudication") or []:
        for extension in adjudication.get("extension") or []:
            for part in extension.get("extension") or []:
                for coding in (part.get("valueCodeableConcept") or {}).get("coding") or []:
                    if coding.get("system") == X12_306:
                        return str(coding.get("code"))
    return None
