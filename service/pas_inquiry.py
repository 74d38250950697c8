"""Da Vinci PAS `Claim/$inquire` (the Claim-inquiry OperationDefinition, PAS
2.2.1): a query by example. The input is a PAS Inquiry Request Bundle whose
first entry is a Claim Inquiry; the output is a Parameters resource with one
`return` parameter per matching authorization, each a PAS Inquiry Response
Bundle whose first entry is that authorization's current ClaimResponse
(Claim Inquiry Response profile), then the resources it refers to and the
Claim it answers (spec-44, spec-45). No match: a Parameters with no
parameter (the operation's `return` is 0..*).

Matching (spec-53, spec-47, spec-48): the inquiry must identify the patient
and a provider; an authorization matches when one of the patient's
identifiers AND one of the providers' (Claim.provider or careTeam, NPI or
other, `system|value`) are among its own. The inquiry's Claim.identifier is
the inquiry's own trace number and is not searched on (IG, "Prior
Authorization Inquiries"). Then each inquiry item narrows the search by what
it carries (a stored authorization matches when some inquiry item matches
some of its items; an inquiry with no items, or only items that carry no
criterion, matches every authorization of the patient and provider):

    authorizationNumber / administrationReferenceNumber (item or Claim)
                     one of the numbers of the authorization's chain
    productOrService the same code (any system: HCPCS is written with both
                     http and https); 'not-applicable' means any (spec-43)
    servicedDate / servicedPeriod
                     overlaps the stored item's, when the stored item has one
    reviewActionCode the stored item's current X12 306 code

A match on a replaced authorization answers its current version (the last
update), each current authorization once. Nothing is withheld (spec-49's
MAY is not used, so spec-50's warning never arises).
"""

from __future__ import annotations

import copy
import uuid
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from policykb.service import pas
from policykb.service.envelopes.fhir import Bundle
from policykb.service.envelopes.reading import validated
from policykb.service.errors import ServiceError
from policykb.service.pas_keys import (
    PAS,
    Entries,
    action_code,
    extension_value,
    patient_keys,
    provider_keys,
    quoted_numbers,
)
from policykb.service.pas_store import Authorization, AuthorizationStore

INQUIRY_RESPONSE_BUNDLE = f"{PAS}/profile-pas-inquiry-response-bundle"
CLAIM_INQUIRY_RESPONSE = f"{PAS}/profile-claiminquiryresponse"
NOT_APPLICABLE = "not-applicable"


def _codes(concept: object) -> frozenset[str]:
    codings = concept.get("coding") if isinstance(concept, Mapping) else None
    return frozenset(
        c["code"].strip()
        for c in (codings if isinstance(codings, list) else [])
        if isinstance(c, Mapping) and isinstance(c.get("code"), str)
    )


def _period(item: Mapping[str, Any]) -> tuple[str, str] | None:
    """The item's service dates as (first, last) ISO dates (compared as text)."""
    if isinstance(item.get("servicedDate"), str):
        day = item["servicedDate"][:10]
        return day, day
    period = item.get("servicedPeriod")
    if isinstance(period, Mapping):
        start, end = period.get("start"), period.get("end")
        return (
            start[:10] if isinstance(start, str) else "0000-00-00",
            end[:10] if isinstance(end, str) else "9999-12-31",
        )
    return None


def _item_matches(asked: Mapping[str, Any], stored: Mapping[str, Any], action: str | None) -> bool:
    codes = _codes(asked.get("productOrService")) - {NOT_APPLICABLE}
    if codes and not codes & _codes(stored.get("productOrService")):
        return False
    wanted, held = _period(asked), _period(stored)
    if wanted is not None and held is not None and (held[1] < wanted[0] or wanted[1] < held[0]):
        return False
    review = _codes(extension_value(asked, pas.REVIEW_ACTION_CODE))
    return not (review and action not in review)


def _actions(authorization: Authorization) -> dict[int, str | None]:
    return {
        i["itemSequence"]: action_code(i)
        for i in pas.claim_response(authorization.response).get("item", [])
    }


def _matches(
    inquiry: Mapping[str, Any],
    items: list[Mapping[str, Any]],
    current: Authorization,
    chain_numbers: frozenset[str],
) -> bool:
    claim_numbers = quoted_numbers(inquiry)
    if claim_numbers and not claim_numbers & chain_numbers:
        return False
    actions = _actions(current)
    stored = [i for i in current.claim.get("item") or [] if isinstance(i, Mapping)]
    criteria = [i for i in items if _criteria(i)]
    if not criteria:
        return True
    for asked in criteria:
        numbers = quoted_numbers(asked)
        if numbers and not numbers & chain_numbers:
            continue
        for position, item in enumerate(stored):
            sequence = item.get("sequence", position + 1)
            if _item_matches(asked, item, actions.get(sequence)):
                return True
    return False


def _criteria(item: Mapping[str, Any]) -> bool:
    return bool(
        quoted_numbers(item)
        or _codes(item.get("productOrService")) - {NOT_APPLICABLE}
        or _period(item)
        or extension_value(item, pas.REVIEW_ACTION_CODE)
    )


def _chain_numbers(store: AuthorizationStore, current: str, members: list[str]) -> frozenset[str]:
    numbers: set[str] = set()
    for number in members:
        numbers |= store.keys(number, "number")
    return frozenset(numbers | store.keys(current, "number"))


def _response_bundle(authorization: Authorization) -> dict[str, Any]:
    """The PAS Inquiry Response Bundle of one authorization."""
    bundle = copy.deepcopy(authorization.response)
    answer = pas.claim_response(bundle)
    answer["meta"] = {"profile": [CLAIM_INQUIRY_RESPONSE]}
    full_urls = {e.get("fullUrl") for e in bundle["entry"]}
    claim_url = authorization.claim_url or f"urn:uuid:{uuid.uuid4()}"
    if claim_url not in full_urls:
        bundle["entry"].append({"fullUrl": claim_url, "resource": authorization.claim})
    if "reference" not in answer.get("request", {}):
        answer["request"] = {"reference": claim_url}  # the Claim is now in the Bundle
    bundle["id"] = str(uuid.uuid4())
    bundle["meta"] = {"profile": [INQUIRY_RESPONSE_BUNDLE]}
    bundle["timestamp"] = datetime.now(UTC).isoformat(timespec="seconds")
    return bundle


def inquire(bundle: object, store: AuthorizationStore) -> dict[str, Any]:
    """The Parameters answering a PAS Inquiry Request Bundle."""
    if not isinstance(bundle, dict) or bundle.get("resourceType") != "Bundle":
        raise ServiceError(422, "$inquire takes a FHIR Bundle")
    request = validated(Bundle, bundle, 422, "Bundle")
    if not request.entry:
        raise ServiceError(
            422, "the Bundle has no entries (the first must be the Claim)", where="Bundle.entry"
        )
    empty = request.first_without_resource()
    if empty is not None:
        raise ServiceError(422, "each entry must hold a resource", where=f"Bundle.entry[{empty}]")
    entries: Entries = [(e.fullUrl, e.held) for e in request.entry if e.held is not None]
    inquiry = entries[0][1]
    if inquiry.get("resourceType") != "Claim":
        raise ServiceError(
            422, "the Bundle's first entry must be the Claim Inquiry", where="Bundle.entry[0]"
        )
    patients = patient_keys(inquiry, entries)
    if not patients:
        raise ServiceError(
            422,
            "the inquiry must identify the patient by an identifier (the member id), "
            "on the Patient in the Bundle or on the reference",
            where="Claim.patient",
        )
    providers = provider_keys(inquiry, entries)
    if not providers:
        raise ServiceError(
            422,
            "the inquiry must identify the ordering or rendering provider by an identifier "
            "(the NPI), on the resource in the Bundle or on the reference",
            where="Claim.provider",
        )
    raw_items = inquiry.get("item")
    items = [i for i in raw_items if isinstance(i, Mapping)] if isinstance(raw_items, list) else []
    chains: dict[str, list[str]] = {}  # current number -> every number of its chain that matched
    for number in store.matching(patients, providers):
        current = store.current(number)
        if current is not None:
            chains.setdefault(current.number, []).append(number)
    found = []
    for current_number, members in chains.items():
        current = store.get(current_number)
        if current is None:
            continue
        if _matches(inquiry, items, current, _chain_numbers(store, current_number, members)):
            found.append(current)
    answer: dict[str, Any] = {"resourceType": "Parameters", "id": str(uuid.uuid4())}
    if found:
        answer["parameter"] = [{"name": "return", "resource": _response_bundle(a)} for a in found]
    return answer
