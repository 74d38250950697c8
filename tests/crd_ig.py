"""The CRD IG's own material for the tests (tests/fixtures/crd, with its
origin in the README there): ext-coverage-information's invariants as
published, and the IG's example CDS Hooks requests."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

CRD = Path(__file__).parent / "fixtures" / "crd"
INVARIANT = re.compile(
    r'^Invariant: (?P<key>\S+)\s*\n(?:.*\n)*?Expression: "(?P<expression>[^"]*)"', re.MULTILINE
)


def crd_invariants() -> dict[str, str]:
    """Each invariant of ext-coverage-information (crd-ci-q1 ..) and its
    FHIRPath, read from the IG's FSH."""
    text = (CRD / "CoverageInformation.fsh").read_text(encoding="utf-8")
    found = {m["key"]: m["expression"] for m in INVARIANT.finditer(text)}
    declared = re.search(r"^\* obeys (.*)$", text, re.MULTILINE)
    assert declared is not None
    assert sorted(found) == sorted(declared[1].split(" and ")), "every invariant obeyed is read"
    return found


def example(name: str) -> dict[str, Any]:
    """One of the IG's example JSON documents, as published."""
    document: dict[str, Any] = json.loads((CRD / f"{name}.json").read_text(encoding="utf-8"))
    return document


def value_set_codes(value_set_id: str) -> set[tuple[str, str]]:
    """The (system, code) pairs a value set of the IG's FSH lists as
    `* CodeSystemName#code` (the code systems the IG names by alias)."""
    text = (CRD / "CoverageInformationValuesets.fsh").read_text(encoding="utf-8")
    block = re.search(rf"^Id: {re.escape(value_set_id)}\n(?P<body>(?:.*\n)*?)(?:\n|$)", text, re.M)
    assert block is not None, value_set_id
    systems = {"CRDTempCodes": "http://hl7.org/fhir/us/davinci-crd/CodeSystem/temp"}
    return {(systems[m[1]], m[2]) for m in re.finditer(r"^\* (\w+)#([\w-]+)", block["body"], re.M)}


CRD_VALUE_SETS = "http://hl7.org/fhir/us/davinci-crd/ValueSet/"
VALUE_SETS = {f"{CRD_VALUE_SETS}coverageAssertionReasons": "coverageAssertionReasons"}


def _member_of(inputs: list[Any], value_set: str | list[str]) -> list[bool]:
    """FHIRPath memberOf (which fhirpathpy does not implement) over the IG's
    own value sets: a CodeableConcept is a member when one of its codings is."""
    url = value_set if isinstance(value_set, str) else value_set[0]
    codes = value_set_codes(VALUE_SETS[url])
    members = [
        any(
            (c.get("system"), c.get("code")) in codes
            for c in (item.get("coding") or [] if isinstance(item, dict) else [])
        )
        for item in inputs
    ]
    # memberOf is defined on one item; crd-ci-q7 applies it to every reason
    # at once, so a collection is a member when each of its items is.
    return [all(members)] if members else []


FHIRPATH_OPTIONS = {
    "userInvocationTable": {"memberOf": {"fn": _member_of, "arity": {1: ["String"]}}}
}
"""fhirpathpy options under which every published invariant evaluates."""


def invariant_results(extension: dict[str, Any]) -> dict[str, list[Any]]:
    """Each published invariant of ext-coverage-information on `extension`."""
    import fhirpathpy
    from fhirpathpy.models import models

    return {
        key: fhirpathpy.evaluate(
            extension, expression, model=models["r4"], options=FHIRPATH_OPTIONS
        )
        for key, expression in crd_invariants().items()
    }
