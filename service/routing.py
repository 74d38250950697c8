"""Which policy decides an ordered code: each policy's applicable_code/4."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from policykb.bridge.model.errors import PolicyError
from policykb.bridge.model.policy import OrderCode, Policy

CODE_SYSTEMS = {
    "http://www.ama-assn.org/go/cpt": "cpt",
    "urn:oid:2.16.840.1.113883.6.12": "cpt",
    "https://www.cms.gov/Medicare/Coding/HCPCSReleaseCodeSets": "hcpcs",
    "urn:oid:2.16.840.1.113883.6.285": "hcpcs",
}
"""FHIR code system URIs of the billing code systems policies name."""

SYSTEM_URIS = {
    "cpt": "http://www.ama-assn.org/go/cpt",
    "hcpcs": "https://www.cms.gov/Medicare/Coding/HCPCSReleaseCodeSets",
}


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
    """The codes of every policy, indexed once; a code declared by two
    policies is a configuration error found at start-up."""

    def __init__(self, policies: Iterable[Policy]) -> None:
        self._by_code: dict[tuple[str, str], tuple[str, OrderCode]] = {}
        for policy in policies:
            for code in policy.codes:
                key = (code.system, code.code)
                if key in self._by_code and self._by_code[key][0] != policy.name:
                    raise PolicyError(
                        f"{code.system.upper()} {code.code} is an applicable code of both "
                        f"{self._by_code[key][0]} and {policy.name}: a code routes to one policy"
                    )
                self._by_code[key] = (policy.name, code)

    def __len__(self) -> int:
        return len(self._by_code)

    def candidates(self, concept: object) -> list[Route]:
        """The policies whose codes a CodeableConcept names, in coding order."""
        routes = []
        for coding in codings(concept):
            system = CODE_SYSTEMS.get(str(coding.get("system", "")))
            code = coding.get("code")
            if system is None or not isinstance(code, str):
                continue
            found = self._by_code.get((system, code.strip()))
            if found is not None:
                routes.append(Route(found[0], found[1], coding))
        return routes


def route_holds(route: Route, read: Mapping[str, object]) -> bool:
    """Whether the facts read from the record leave the code this policy's
    (applicable_code_when/4: each named fact has its value or is unknown)."""
    return all(read.get(fact, value) == value for fact, value in route.code.requires)
