"""The offline checkers of CRD's StructureDefinitions (resp-47) accept the
IG's own example response and catch each kind of departure, so the checks
every CRD test makes of the service's answers (test_crd.post) can fail."""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from tests import crd_logical, crd_profile
from tests.crd_ig import example

COVERAGE_INFORMATION = crd_profile.CANONICAL


def _extensions(document: Any) -> Iterator[dict[str, Any]]:
    if isinstance(document, dict):
        if document.get("url") == COVERAGE_INFORMATION:
            yield document
        for value in document.values():
            yield from _extensions(value)
    elif isinstance(document, list):
        for value in document:
            yield from _extensions(value)


def ours() -> dict[str, Any]:
    """A coverage-information extension as the service returns it."""
    return {
        "url": COVERAGE_INFORMATION,
        "extension": [
            {"url": "coverage", "valueReference": {"reference": "Coverage/cov-1"}},
            {"url": "covered", "valueCode": "conditional"},
            {"url": "pa-needed", "valueCode": "auth-needed"},
            {"url": "doc-needed", "valueCode": "clinical"},
            {"url": "info-needed", "valueCode": "OTH"},
            {"url": "reason", "valueCodeableConcept": {"text": "criterion 1"}},
            {"url": "questionnaire", "valueCanonical": "https://pkb.example/Questionnaire/x|1"},
            {"url": "date", "valueDate": "2026-12-06"},
            {"url": "coverage-assertion-id", "valueString": "abc"},
        ],
    }


def test_the_ig_s_example_extensions_conform() -> None:
    found = list(_extensions(example("CRDServiceResponse")))
    assert found
    for extension in found:
        assert crd_profile.problems(extension) == []
    assert crd_profile.problems(ours()) == []


def _part(name: str) -> Callable[[dict[str, Any]], dict[str, Any]]:
    def find(extension: dict[str, Any]) -> dict[str, Any]:
        return next(p for p in extension["extension"] if p["url"] == name)

    return find


def _drop(name: str) -> Callable[[dict[str, Any]], None]:
    def change(extension: dict[str, Any]) -> None:
        extension["extension"] = [p for p in extension["extension"] if p["url"] != name]

    return change


def _twice(name: str) -> Callable[[dict[str, Any]], None]:
    def change(extension: dict[str, Any]) -> None:
        extension["extension"].append(copy.deepcopy(_part(name)(extension)))

    return change


def _set(name: str, key: str, value: Any) -> Callable[[dict[str, Any]], None]:
    def change(extension: dict[str, Any]) -> None:
        part = _part(name)(extension)
        for old in [k for k in part if k.startswith("value")]:
            del part[old]
        part[key] = value

    return change


@pytest.mark.parametrize(
    ("change", "words"),
    [
        (_drop("coverage"), "coverage: 0 present, cardinality 1..1"),
        (_drop("date"), "date: 0 present"),
        (_twice("covered"), "covered: 2 present"),
        (_twice("pa-needed"), "pa-needed: 2 present, cardinality 0..1"),
        (_set("covered", "valueCode", "maybe"), "not in CRDCoveredInfo"),
        (_set("pa-needed", "valueCode", "covered"), "not in CRDCoveragePaDetail"),
        (_set("info-needed", "valueCode", "because"), "not in CRDInformationNeeded"),
        (_set("covered", "valueString", "covered"), "valueString is not among"),
        (_set("date", "valueDate", "06/12/2026"), "not a valid date"),
        (_set("coverage", "valueReference", {"reference": "Patient/p"}), "not to a Coverage"),
        (
            _set(
                "reason",
                "valueCodeableConcept",
                {"coding": [{"system": crd_profile.SYSTEMS["CRDTempCodes"], "code": "nope"}]},
            ),
            "not in it",
        ),
        (_set("reason", "valueCodeableConcept", {"coding": []}), "no text"),
        (lambda e: e["extension"].append({"url": "verdict", "valueCode": "x"}), "not a slice"),
        (lambda e: e.update(url="http://example.org/other"), "is not http"),
    ],
)
def test_each_departure_from_the_extension_s_definition_is_found(
    change: Callable[[dict[str, Any]], None], words: str
) -> None:
    extension = ours()
    change(extension)
    found = crd_profile.problems(extension)
    assert any(words in p for p in found), found


def response() -> dict[str, Any]:
    return {
        "cards": [
            {
                "uuid": "6e3c5ac0-8d1b-4b24-9a5c-2b4a3a3e9d61",
                "summary": "Answers needed",
                "indicator": "info",
                "detail": "The questions",
                "source": {
                    "label": "Health plan",
                    "topic": {"system": crd_logical.CARD_TYPE_SYSTEM, "code": "instructions"},
                },
            }
        ],
        "systemActions": [
            {"type": "update", "description": "x", "resource": {"resourceType": "ServiceRequest"}}
        ],
    }


def test_the_ig_s_example_response_and_ours_conform_to_the_logical_models() -> None:
    assert crd_logical.problems(example("CRDServiceResponse"), "CRDHooksResponseBase") == []
    assert crd_logical.problems(response(), "CRDHooksResponse-instructions") == []
    assert crd_logical.problems(response(), "CRDHooksResponse-coverageInformation") == []


@pytest.mark.parametrize(
    ("model", "change", "words"),
    [
        ("CRDHooksResponseBase", lambda r: r["cards"][0].pop("uuid"), "uuid 0 present, min 1"),
        (
            "CRDHooksResponseBase",
            lambda r: r["cards"][0]["source"].pop("topic"),
            "topic 0 present, min 1",
        ),
        (
            "CRDHooksResponseBase",
            lambda r: r["cards"][0]["source"]["topic"].update(system="http://example.org"),
            "not a CRD card type",
        ),
        ("CRDHooksResponse-instructions", lambda r: r["cards"][0].pop("detail"), "detail 0"),
        (
            "CRDHooksResponse-instructions",
            lambda r: r["cards"][0].update(links=[{"label": "l", "url": "u", "type": "absolute"}]),
            "links 1 present, max 0",
        ),
        ("CRDHooksResponse-instructions", lambda r: r.update(cards=[]), "cards 0 present, min 1"),
        (
            "CRDHooksResponse-coverageInformation",
            lambda r: r["systemActions"][0].update(type="create"),
            "is not the pattern 'update'",
        ),
        (
            "CRDHooksResponse-coverageInformation",
            lambda r: r["systemActions"][0].update(resourceId=["ServiceRequest/1"]),
            "resourceId 1 present, max 0",
        ),
        (
            "CRDHooksResponse-coverageInformation",
            lambda r: r["systemActions"][0].update(resource={"resourceType": "Patient"}),
            "a Patient is not of CRD's request profiles",
        ),
        ("CRDHooksResponse-coverageInformation", lambda r: r.pop("systemActions"), "min 1"),
    ],
)
def test_each_departure_from_a_logical_model_is_found(
    model: str, change: Callable[[dict[str, Any]], Any], words: str
) -> None:
    document = response()
    change(document)
    found = crd_logical.problems(document, model)
    assert any(words in p for p in found), found
