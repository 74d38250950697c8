"""DTR ValueSets: a choice fact's options as a FHIR R4 ValueSet the service
serves and expands (the DTR payer CapabilityStatement's `ValueSet/$expand`,
DTR oper-4, oper-5).

Every ENUM or LIST fact of every policy has one ValueSet: its canonical is
`{base}/fhir/ValueSet/{id}`, its one code system `{base}/fhir/CodeSystem/{id}`
(the options are the policy's own codes), each concept the option's code and
its display as the Questionnaire shows it. Following DTR spec-83, a choice
item embeds its options (answerOption) when it has at most OPTION_LIMIT of
them, and names the ValueSet (answerValueSet) when it has more.

Invariants:
- an id is the policy and fact names joined ("_" as "-") when that is a
  valid FHIR id, else "vs-" and a digest of both, so it names one fact;
- an expansion holds the ValueSet's concepts in the fact's option order,
  filtered by `filter` (case-insensitive, every word a prefix of a word of
  the display or of the code), then paged by `offset` and `count`; `total`
  counts the filtered concepts, before paging; `timestamp` is the time of
  expansion (oper-5: the current date) and every concept is active.
"""

from __future__ import annotations

import hashlib
import re
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from policykb.bridge.model.policy import Fact, FactType, Policy
from policykb.service.errors import ServiceError

OPTION_LIMIT = 40
"""The most options a choice item embeds (DTR spec-83: answerOption for a
fixed list under ~40 codes; a ValueSet to expand beyond)."""
MAX_COUNT = 1000
"""The most concepts one expansion returns."""
FHIR_ID = re.compile(r"[A-Za-z0-9\-.]{1,64}")
CHOICES = (FactType.ENUM, FactType.LIST)


def valueset_id(policy: str, fact: str) -> str:
    """The id of the fact's ValueSet (see the module's invariants)."""
    joined = f"{policy}-{fact}".replace("_", "-")
    if FHIR_ID.fullmatch(joined):
        return joined
    digest = hashlib.sha256(f"{policy}\0{fact}".encode()).hexdigest()[:24]
    return f"vs-{digest}"


def valueset_url(base: str, policy: str, fact: str) -> str:
    return f"{base}/fhir/ValueSet/{valueset_id(policy, fact)}"


def uses_valueset(fact: Fact) -> bool:
    """Whether the fact's item names its ValueSet instead of embedding options."""
    return fact.type in CHOICES and len(fact.options) > OPTION_LIMIT


@dataclass(frozen=True)
class Expansion:
    """What to expand: a text `filter` and a page (`offset`, `count`)."""

    filter: str = ""
    offset: int = 0
    count: int | None = None


def find(policies: Mapping[str, Policy], ident: str) -> tuple[Policy, Fact] | None:
    """The policy and choice fact whose ValueSet has id `ident` (None: none)."""
    for policy in policies.values():
        for fact in policy.facts.values():
            if fact.type in CHOICES and valueset_id(policy.name, fact.name) == ident:
                return policy, fact
    return None


def id_of_url(url: str, base: str) -> str:
    """The id a canonical `url` names among the service's ValueSets (a 404
    when it is not one of them; a version after '|' is ignored)."""
    canonical = url.partition("|")[0]
    prefix = f"{base}/fhir/ValueSet/"
    ident = canonical[len(prefix) :] if canonical.startswith(prefix) else ""
    if not FHIR_ID.fullmatch(ident):
        raise ServiceError(404, f"no ValueSet {url[:120]!r} is served here")
    return ident


def _matches(words: list[str], concept: Mapping[str, str]) -> bool:
    found = re.split(r"[^0-9a-z]+", f"{concept['display']} {concept['code']}".lower())
    return all(any(part.startswith(word) for part in found) for word in words)


def valueset(
    policy: Policy, version: str, fact: Fact, base: str, expansion: Expansion | None = None
) -> dict[str, Any]:
    """The fact's ValueSet; with `expansion`, expanded as asked."""
    ident = valueset_id(policy.name, fact.name)
    system = f"{base}/fhir/CodeSystem/{ident}"
    concepts = [
        {"code": option, "display": fact.option_texts.get(option, option)}
        for option in fact.options
    ]
    document: dict[str, Any] = {
        "resourceType": "ValueSet",
        "id": ident,
        "url": f"{base}/fhir/ValueSet/{ident}",
        "version": version[:16],
        "name": "".join(part.capitalize() for part in re.split(r"[-_.]", ident)),
        "title": f"{policy.title}: {fact.question or fact.meaning or fact.name}",
        "status": "active",
        "compose": {"include": [{"system": system, "concept": concepts}]},
    }
    if expansion is None:
        return document
    words = [word for word in re.split(r"[^0-9a-z]+", expansion.filter.lower()) if word]
    kept = [concept for concept in concepts if _matches(words, concept)]
    end = None if expansion.count is None else expansion.offset + expansion.count
    page = kept[expansion.offset : end]
    parameters: list[dict[str, Any]] = []
    if expansion.filter:
        parameters.append({"name": "filter", "valueString": expansion.filter})
    if expansion.offset or expansion.count is not None:
        parameters.append({"name": "offset", "valueInteger": expansion.offset})
    if expansion.count is not None:
        parameters.append({"name": "count", "valueInteger": expansion.count})
    document["expansion"] = {
        "identifier": f"urn:uuid:{uuid.uuid4()}",
        "timestamp": datetime.now(UTC).isoformat(timespec="seconds"),
        "total": len(kept),
        "offset": expansion.offset,
        **({"parameter": parameters} if parameters else {}),
        "contains": [{"system": system, **concept} for concept in page],
    }
    if not page:
        del document["expansion"]["contains"]  # FHIR: no empty arrays
    return document


def _integer(text: object, name: str, low: int, high: int) -> int:
    if isinstance(text, int) and not isinstance(text, bool):
        number = text
    elif isinstance(text, str) and text.isdigit():
        number = int(text)
    else:
        raise ServiceError(400, f"'{name}' must be a whole number", where=name)
    if not low <= number <= high:
        raise ServiceError(400, f"'{name}' must be from {low} to {high}", where=name)
    return number


def expansion_of(given: Mapping[str, object]) -> Expansion:
    """The expansion the parameters `filter`, `offset` and `count` ask for
    (a 400 naming the one that is not valid)."""
    text = given.get("filter", "")
    if not isinstance(text, str) or len(text) > 200:
        raise ServiceError(400, "'filter' must be text of at most 200 characters", where="filter")
    offset = _integer(given.get("offset", 0), "offset", 0, 10**9)
    count = given.get("count")
    return Expansion(
        filter=text,
        offset=offset,
        count=None if count is None else _integer(count, "count", 0, MAX_COUNT),
    )


PARAMETER_KEYS = {
    "url": ("valueUri", "valueString", "valueCanonical"),
    "filter": ("valueString",),
    "offset": ("valueInteger",),
    "count": ("valueInteger",),
}


def parameters_of(document: object) -> dict[str, object]:
    """The `$expand` inputs a POSTed Parameters resource gives (a 400 when
    the body is not one; parameters this service does not use are ignored)."""
    if not isinstance(document, Mapping) or document.get("resourceType") != "Parameters":
        raise ServiceError(400, "the body must be a Parameters resource", where="Parameters")
    found: dict[str, object] = {}
    raw = document.get("parameter")
    for index, parameter in enumerate(raw if isinstance(raw, list) else []):
        if not isinstance(parameter, Mapping) or parameter.get("name") not in PARAMETER_KEYS:
            continue
        name = str(parameter["name"])
        values = [parameter[key] for key in PARAMETER_KEYS[name] if key in parameter]
        if len(values) != 1:
            raise ServiceError(
                400,
                f"parameter {name!r} needs one of {', '.join(PARAMETER_KEYS[name])}",
                where=f"Parameters.parameter[{index}]",
            )
        found[name] = values[0]
    return found
