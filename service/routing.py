"""Which policy decides an ordered code: each policy's applicable_code/4."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from policykb.bridge.model.errors import PolicyError
from policykb.bridge.model.policy import OrderCode, Policy

ACCEPTED_URIS: dict[str, tuple[str, ...]] = {
    # CRD's and US Core's CPT URI, and CPT's OID.
    "cpt": ("http://www.ama-assn.org/go/cpt", "urn:oid:2.16.840.1.113883.6.12"),
    # HCPCS as terminology.hl7.org names it (CRD's examples), the same URI
    # over http (PAS's examples: Claim.item.productOrService), and the OID.
    "hcpcs": (
        "https://www.cms.gov/Medicare/Coding/HCPCSReleaseCodeSets",
        "http://www.cms.gov/Medicare/Coding/HCPCSReleaseCodeSets",
        "urn:oid:2.16.840.1.113883.6.285",
    ),
    # RxNorm (US Core's medication coding, the NLM's URI) and its OID: a
    # MedicationRequest or MedicationDispense is routed by its
    # medicationCodeableConcept's RxCUI.
    "rxnorm": ("http://www.nlm.nih.gov/research/umls/rxnorm", "urn:oid:2.16.840.1.113883.6.88"),
}
"""The FHIR code system URIs accepted for each billing code system policies
name: one table, each URI under one system."""

CODE_SYSTEMS = {uri: system for system, uris in ACCEPTED_URIS.items() for uri in uris}
"""Each accepted URI to its code system."""

SYSTEM_URIS = {system: uris[0] for system, uris in ACCEPTED_URIS.items()}
"""The URI the service writes for each code system."""

HCPCS_LEVEL_I = re.compile(r"[0-9]{4}[0-9FTU]")
"""HCPCS level I codes are CPT codes (category I five digits; II ends in F,
III in T; PLA codes in U): under an HCPCS URI they are routed as CPT (PAS's
examples send 99212 under the HCPCS URI). Level II codes start with a letter."""


def code_system(uri: object, code: str) -> str | None:
    """The billing code system a coding's `system` and code belong to (None:
    a URI no policy's system is written with)."""
    system = CODE_SYSTEMS.get(uri) if isinstance(uri, str) else None
    if system == "hcpcs" and HCPCS_LEVEL_I.fullmatch(code):
        return "cpt"
    return system


@dataclass(frozen=True)
class Route:
    """An ordered code and the policy that decides it."""

    policy: str
    code: OrderCode
    coding: Mapping[str, Any]


def codings(concept: object) -> list[Mapping[str, Any]]:
    """The codings of a CodeableConcept ([] for anything else)."""
    if not isinstance(concept, Mapping):
        return []
    found = concept.get("coding")
    return [c for c in found if isinstance(c, Mapping)] if isinstance(found, list) else []


class Router:
    """The codes of every policy, indexed once. A code two policies claim is
    tried in their precedence order (precedence/2): the first whose
    applicable_code_when/4 conditions hold of the record decides. A code
    claimed with no precedence between its policies, or any other conflict
    among the policies (bridge/analysis/catalogue.py), is a configuration
    error found at start-up."""

    def __init__(self, policies: Iterable[Policy]) -> None:
        from policykb.bridge.analysis.catalogue import catalogue_conflicts, routing_order

        by_name = {policy.name: policy for policy in policies}
        conflicts = catalogue_conflicts({name: [p] for name, p in by_name.items()})
        if conflicts:
            more = len(conflicts) - 1
            rest = f" (and {more} more: policykb check --all lists them)" if more else ""
            raise PolicyError(conflicts[0].message + rest)
        claims: dict[tuple[str, str], dict[str, OrderCode]] = {}
        for policy in by_name.values():
            for code in policy.codes:
                claims.setdefault((code.system, code.code), {})[policy.name] = code
        self._by_code: dict[tuple[str, str], list[tuple[str, OrderCode]]] = {
            key: [(name, claimants[name]) for name in routing_order(claimants, by_name)]
            for key, claimants in claims.items()
        }

    def __len__(self) -> int:
        return len(self._by_code)

    def candidates(self, concept: object) -> list[Route]:
        """The policies whose codes a CodeableConcept names, in coding order
        and, for a code several claim, in their precedence order."""
        routes = []
        for coding in codings(concept):
            code = coding.get("code")
            if not isinstance(code, str):
                continue
            system = code_system(coding.get("system"), code.strip())
            if system is None:
                continue
            for policy, order_code in self._by_code.get((system, code.strip()), ()):
                routes.append(Route(policy, order_code, coding))
        return routes


def route_holds(route: Route, read: Mapping[str, object], stated: bool = False) -> bool:
    """Whether the facts read from the record leave the code this policy's
    (applicable_code_when/4: each named fact has its value or is unknown;
    with `stated`, each has its value: the record shows the code is its)."""
    if stated:
        return all(fact in read and read[fact] == value for fact, value in route.code.requires)
    return all(read.get(fact, value) == value for fact, value in route.code.requires)
