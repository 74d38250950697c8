"""`Claim/$submit` with memory: each answer is kept (pas_store), and a Claim
Update (PAS 2.2.1 "Updating authorization requests": a Claim whose
`related.claim` names the earlier Claim, included in the Bundle, spec-65) is
decided against the kept answer of that Claim's chain of updates.

The stored authorization an update names is found by the earlier Claim's
business identifiers, and only among those of the same patient and provider
(spec-53's keys), so a request cannot reach another patient's authorization;
an update that names no kept authorization is refused (422: PAS lets a payer
refuse updates, spec-64). Item by item, by `sequence` (kept across versions,
spec-68):

    cancelled   infoCancelled = true (spec-69) or certificationType 3
                (spec-70): answered X12 306 "C" (cancelled), not decided
    changed     infoChanged added / changed (spec-71, spec-72): decided anew
    unchanged   a final answer (A1 certified, A3 not certified) is kept as it
                was; a pended one is decided again, with whatever the update
                brings (this is how a pended item becomes final here)
    not sent    an item of the kept answer that the update omits keeps its
                answer (spec-46: the answer covers every submitted item)

certificationType 3 on the Claim itself cancels every item (no items
needed). The answer gets a new authorization number (`preAuthRef`), and the
kept row of the earlier version is marked replaced by it, so an inquiry
quoting any number of the chain finds the current answer (spec-47, spec-48).
"""

from __future__ import annotations

import copy
import uuid
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from policykb.service import pas
from policykb.service.decisions import Decisions
from policykb.service.errors import ServiceError
from policykb.service.pas_keys import (
    PAS,
    Entries,
    action_code,
    answer_numbers,
    extension_value,
    identifier_keys,
    patient_keys,
    provider_keys,
    resolve,
)
from policykb.service.pas_store import Authorization, AuthorizationStore, Keys, new_number
from policykb.service.request_budget import UNBOUNDED, Budget

INFO_CHANGED = f"{PAS}/extension-infoChanged"
INFO_CANCELLED = f"{PAS}/modifierextension-infoCancelled"
CERTIFICATION_TYPE = f"{PAS}/extension-certificationType"
X12_1322 = "https://codesystem.x12.org/005010/1322"
CANCELLED = ("C", "Cancelled")
FINAL = frozenset({"A1", "A3"})


def _entries(bundle: object) -> Entries:
    """The Bundle's (fullUrl, resource) pairs, for whatever is readable
    (pas.submit refuses what is not)."""
    found: Entries = []
    raw = bundle.get("entry") if isinstance(bundle, Mapping) else None
    for entry in raw if isinstance(raw, list) else []:
        if isinstance(entry, Mapping) and isinstance(entry.get("resource"), dict):
            full_url = entry.get("fullUrl")
            found.append((full_url if isinstance(full_url, str) else None, entry["resource"]))
    return found


def _cancels(element: Mapping[str, Any]) -> bool:
    """certificationType 3 (Cancel) on the element."""
    concept = extension_value(element, CERTIFICATION_TYPE)
    codings = concept.get("coding") if isinstance(concept, Mapping) else None
    return any(
        isinstance(c, Mapping) and c.get("system") == X12_1322 and c.get("code") == "3"
        for c in codings or []
    )


def _cancelled(item: Mapping[str, Any]) -> bool:
    for extension in item.get("modifierExtension") or []:
        if (
            isinstance(extension, Mapping)
            and extension.get("url") == INFO_CANCELLED
            and extension.get("valueBoolean") is True
        ):
            return True
    return _cancels(item)


def _changed(item: Mapping[str, Any]) -> bool:
    return extension_value(item, INFO_CHANGED) in ("added", "changed")


def _keys(claim: Mapping[str, Any], entries: Entries, answer: Mapping[str, Any]) -> Keys:
    return Keys(
        patient_keys(claim, entries),
        provider_keys(claim, entries),
        identifier_keys(claim.get("identifier")),
        answer_numbers(answer),
    )


def _updated(
    claim: Mapping[str, Any], entries: Entries, store: AuthorizationStore
) -> Authorization | None:
    """The kept authorization a Claim Update names; None for a new request."""
    related = claim.get("related")
    if related is not None and not isinstance(related, list):
        raise ServiceError(422, "'related' must be a list", where="Claim.related")
    for index, relation in enumerate(related or []):
        reference = relation.get("claim") if isinstance(relation, Mapping) else None
        if reference is None:
            continue
        where = f"Claim.related[{index}].claim"
        earlier = resolve(reference, entries)
        if earlier is None or earlier.get("resourceType") != "Claim":
            raise ServiceError(
                422, "the Claim this one updates must be in the Bundle (PAS spec-65)", where=where
            )
        patients, providers = patient_keys(claim, entries), provider_keys(claim, entries)
        found: list[Authorization] = []
        for key in identifier_keys(earlier.get("identifier")):
            for number in store.with_key("claim", key):
                if store.keys(number, "patient") & patients and (
                    store.keys(number, "provider") & providers
                ):
                    current = store.current(number)
                    if current is not None and current.number not in {f.number for f in found}:
                        found.append(current)
        if not found:
            raise ServiceError(
                422,
                "the Claim this one updates was not submitted here for this patient and "
                "provider (matched by its identifier, the patient's and the provider's)",
                where=where,
            )
        return found[-1]  # the latest request with that identifier (a client may reuse one)
    return None


def _cancelled_item(
    sequence: int, note: int, kept: Mapping[str, Any] | None, provider: object
) -> dict[str, Any]:
    """A cancelled item's answer: the kept item's authorized provider, else
    the Claim's provider (the profile wants one on every item)."""
    if kept is not None and kept.get("extension"):
        extensions = copy.deepcopy(kept["extension"])
        extensions = [e for e in extensions if e.get("url") != pas.PRE_AUTH_ISSUE_DATE]
    else:
        authorized: list[dict[str, Any]] = []
        if isinstance(provider, Mapping):
            authorized.append({"url": "provider", "valueReference": dict(provider)})
        authorized.append(
            {
                "url": pas.AUTHORIZED_PROVIDER_TYPE,
                "valueCodeableConcept": {
                    "coding": [{"system": pas.X12_98, "code": "SJ", "display": "Service Provider"}]
                },
            }
        )
        extensions = [{"url": pas.AUTHORIZED_PROVIDER, "extension": authorized}]
    return {
        "extension": extensions,
        "itemSequence": sequence,
        "noteNumber": [note],
        "adjudication": [
            {
                "extension": [pas._review(CANCELLED, None)],
                "category": {"coding": [{"system": pas.ADJUDICATION, "code": "submitted"}]},
                "reason": {"text": "Cancelled by the requester's update"},
            }
        ],
    }


def _carried_base(
    kept: Authorization, claim: Mapping[str, Any], full_url: str | None
) -> dict[str, Any]:
    """The kept response Bundle, renewed to answer the update (nothing to decide)."""
    bundle = copy.deepcopy(kept.response)
    answer = pas.claim_response(bundle)
    answer["id"] = str(uuid.uuid4())
    answer["created"] = datetime.now(UTC).isoformat(timespec="seconds")
    answer["outcome"] = "complete"
    if isinstance(claim.get("id"), str) and claim["id"]:
        answer["request"] = {"reference": f"Claim/{claim['id']}"}
    elif full_url:
        answer["request"] = {"reference": full_url}
    if claim.get("identifier"):
        answer["identifier"] = claim["identifier"]
    bundle["id"] = str(uuid.uuid4())
    bundle["timestamp"] = answer["created"]
    bundle["entry"][0]["fullUrl"] = f"urn:uuid:{answer['id']}"
    return bundle


def submit(
    bundle: object,
    decisions: Decisions,
    store: AuthorizationStore,
    budget: Budget = UNBOUNDED,
    pending: list[int] | None = None,
    replaced: list[Authorization] | None = None,
) -> dict[str, Any]:
    """The response Bundle to a PAS request Bundle (new or an update), kept
    in `store` under its new `preAuthRef` before it is returned. For an
    update, the authorization it replaces is appended to `replaced`."""
    entries = _entries(bundle)
    claim = entries[0][1] if entries else None
    kept = None
    if isinstance(claim, dict) and claim.get("resourceType") == "Claim":
        kept = _updated(claim, entries, store)
    if kept is None or claim is None:
        answer = pas.submit(bundle, decisions, budget, pending)
        return _keep(answer, entries[0][1], entries, store, None)  # the Claim it answered
    if replaced is not None:
        replaced.append(kept)
    return _update(bundle, claim, entries, kept, decisions, store, budget, pending)


def _update(
    bundle: object,
    claim: dict[str, Any],
    entries: Entries,
    kept: Authorization,
    decisions: Decisions,
    store: AuthorizationStore,
    budget: Budget,
    pending: list[int] | None,
) -> dict[str, Any]:
    if claim.get("use") != "preauthorization":
        raise ServiceError(422, "the Claim's use must be preauthorization", where="Claim.use")
    kept_items = {i["itemSequence"]: i for i in pas.claim_response(kept.response).get("item", [])}
    kept_notes = {n["number"]: n for n in pas.claim_response(kept.response).get("processNote", [])}
    cancel_all = _cancels(claim)
    raw = claim.get("item", [])
    if not isinstance(raw, list):
        raise ServiceError(422, "'item' must be a list", where="Claim.item")
    items: list[Any] = raw
    plan: list[tuple[int, str]] = []  # (sequence, "cancel" | "keep" | "decide")
    to_decide: list[Mapping[str, Any]] = []
    positions: dict[int, tuple[int, int]] = {}  # sequence -> (in the update, in to_decide)
    for position, item in enumerate(items):
        if not isinstance(item, Mapping):
            raise ServiceError(
                422, "a Claim item must be an object", where=f"Claim.item[{position}]"
            )
        sequence = item.get("sequence", position + 1)
        if not isinstance(sequence, int) or isinstance(sequence, bool) or sequence < 1:
            raise ServiceError(
                422,
                "'sequence' must be a positive integer",
                where=f"Claim.item[{position}].sequence",
            )
        if cancel_all or _cancelled(item):
            plan.append((sequence, "cancel"))
        elif not _changed(item) and action_code(kept_items.get(sequence, {})) in FINAL:
            plan.append((sequence, "keep"))
        else:
            plan.append((sequence, "decide"))
            positions[sequence] = (position, len(to_decide))
            to_decide.append(item)
    sent = {s for s, _ in plan}
    plan += [(s, "cancel" if cancel_all else "keep") for s in kept_items if s not in sent]
    if to_decide:
        request = copy.deepcopy(bundle)
        assert isinstance(request, dict)
        request["entry"][0]["resource"]["item"] = to_decide
        answer = pas.submit(request, decisions, budget, pending)
    else:
        answer = _carried_base(kept, claim, entries[0][0])
    claim_response = pas.claim_response(answer)
    fresh = {i["itemSequence"]: i for i in claim_response.get("item", []) if to_decide}
    notes: list[dict[str, Any]] = list(claim_response.get("processNote", [])) if to_decide else []
    by_number = {n["number"]: n for n in notes}
    merged = []
    for sequence, how in plan:
        if how == "decide":
            decided = fresh[sequence]
            # its note names where it was in the items decided; say where it is in the update
            original, decided_at = positions[sequence]
            for note in decided.get("noteNumber", []):
                if note in by_number:
                    by_number[note]["text"] = by_number[note]["text"].replace(
                        f"Claim.item[{decided_at}]", f"Claim.item[{original}]"
                    )
            merged.append(decided)
            continue
        number = len(notes) + 1
        if how == "cancel":
            notes.append(
                {
                    "number": number,
                    "type": "display",
                    "text": f"Item {sequence} was cancelled by this update.",
                }
            )
            merged.append(
                _cancelled_item(sequence, number, kept_items.get(sequence), claim.get("provider"))
            )
        else:
            carried = copy.deepcopy(kept_items[sequence])
            texts = [
                kept_notes[n]["text"] for n in carried.get("noteNumber", []) if n in kept_notes
            ]
            notes.append(
                {
                    "number": number,
                    "type": "display",
                    "text": "\n".join([f"Unchanged since authorization {kept.number}.", *texts]),
                }
            )
            carried["noteNumber"] = [number]
            merged.append(carried)
    claim_response["item"] = merged
    claim_response["processNote"] = notes
    return _keep(answer, claim, entries, store, kept.number)


def _keep(
    answer: dict[str, Any],
    claim: dict[str, Any],
    entries: Entries,
    store: AuthorizationStore,
    replaces: str | None,
) -> dict[str, Any]:
    number = new_number()
    claim_response = pas.claim_response(answer)
    claim_response["preAuthRef"] = number
    store.save(
        number,
        claim,
        entries[0][0],
        answer,
        _keys(claim, entries, claim_response),
        replaces=replaces,
    )
    return answer
