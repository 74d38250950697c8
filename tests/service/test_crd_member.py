"""Member resolution (CRD 2.2.1 resp-44, resp-45): which Coverage a CRD
answer is about, and the not-covered answer with its reason code when the
patient is not a member with one coverage in force. Every extension
returned is checked against the published invariants (test_crd.post)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date
from itertools import product
from typing import Any

import pytest
from fastapi.testclient import TestClient

from policykb.service.app import create_app
from policykb.service.crd_member import (
    COVERAGE_NOT_FOUND,
    NO_ACTIVE_COVERAGE,
    NO_MEMBER,
    performed_on,
    resolve,
)
from policykb.service.settings import ServiceSettings
from tests.crd_ig import value_set_codes
from tests.fhir_records import Record
from tests.service.test_crd import informations, post

COMPLETE = Record(bmis=[("2026-05-01", 41.0)], pregnant=False, diagnoses=["E11.9"])
TEMP = "http://hl7.org/fhir/us/davinci-crd/CodeSystem/temp"
ON = date(2026, 6, 1)


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    audit = tmp_path_factory.mktemp("member") / "audit.jsonl"
    settings = ServiceSettings(audit=str(audit), audit_sync=False, payer_name="Second Plan")
    with TestClient(create_app(settings)) as test_client:
        yield test_client


def coverage(ident: str, **changes: Any) -> dict[str, Any]:
    return {
        "resourceType": "Coverage",
        "id": ident,
        "status": "active",
        "beneficiary": {"reference": "Patient/pat-1"},
        "payor": [{"display": "Health Care Authority"}],
    } | changes


def with_coverages(*coverages: dict[str, Any]) -> dict[str, Any]:
    request = COMPLETE.hook()
    request["prefetch"]["coverage"]["entry"] = [{"resource": c} for c in coverages]
    return request


def test_the_reason_codes_are_the_ig_s() -> None:
    codes = value_set_codes("coverageAssertionReasons")
    assert {(TEMP, c) for c in (NO_MEMBER, NO_ACTIVE_COVERAGE, COVERAGE_NOT_FOUND)} <= codes


@pytest.mark.parametrize(
    ("coverages", "code", "about"),
    [
        # resp-44: no Coverage names the patient (absolute references count).
        ([coverage("c1", beneficiary={"reference": "Patient/someone-else"})], NO_MEMBER, "c1"),
        # resp-45: the patient's coverage is not in force on the day.
        ([coverage("c1", status="cancelled")], NO_ACTIVE_COVERAGE, "c1"),
        ([coverage("c1", period={"end": "2025-12-31"})], NO_ACTIVE_COVERAGE, "c1"),
        ([coverage("c1", period={"start": "2027-01-01"})], NO_ACTIVE_COVERAGE, "c1"),
        # resp-45: two in force, neither told apart as this plan's.
        ([coverage("c1"), coverage("c2")], COVERAGE_NOT_FOUND, "c1"),
    ],
)
def test_a_patient_who_is_not_a_member_with_one_coverage_is_not_covered(
    client: TestClient, coverages: list[dict[str, Any]], code: str, about: str
) -> None:
    answer = post(client, "order-sign", with_coverages(*coverages))
    (info,) = informations(answer)
    assert info["covered"] == ["not-covered"]
    assert "pa-needed" not in info  # crd-ci-q2
    (reason,) = info["reason"]
    assert reason["coding"] == [{"system": TEMP, "code": code}]
    assert reason["text"]
    assert info["coverage"] == [{"reference": f"Coverage/{about}"}]
    assert answer["cards"] == []  # no questions: nothing was decided


def test_the_configured_payer_tells_two_coverages_apart(client: TestClient) -> None:
    ours = coverage("c2", payor=[{"display": "second plan"}])
    (info,) = informations(post(client, "order-sign", with_coverages(coverage("c1"), ours)))
    assert info["covered"] == ["covered"]
    assert info["coverage"] == [{"reference": "Coverage/c2"}]


def test_coverage_in_force_on_the_day_the_order_is_given_decides(client: TestClient) -> None:
    request = with_coverages(coverage("c1", period={"start": "2027-01-01"}))
    request["context"]["draftOrders"]["entry"][0]["resource"]["occurrenceDateTime"] = "2027-02-01"
    (info,) = informations(post(client, "order-sign", request))
    assert info["covered"] == ["covered"]


def test_a_resolved_member_is_decided_unchanged(client: TestClient) -> None:
    others = coverage("c9", beneficiary={"reference": "Patient/someone-else"})
    request = with_coverages(
        others, coverage("c1", beneficiary={"reference": "https://ehr.example/fhir/Patient/pat-1"})
    )
    (info,) = informations(post(client, "order-sign", request))
    assert info["covered"] == ["covered"]
    assert info["coverage"] == [{"reference": "Coverage/c1"}]


def test_no_coverage_at_all_asserts_nothing(client: TestClient) -> None:
    answer = post(client, "order-sign", with_coverages())
    assert "systemActions" not in answer


# -- resolve against its statement, over every combination -----------------------------

PATIENTS = ("pat-1", "other")
STATUSES = ("active", "cancelled")
PERIODS = (None, {"end": "2026-01-01"}, {"start": "2026-01-01"}, {"start": "2027-01-01"})
PAYORS = ("Health Care Authority", "Second Plan")
SHAPES = list(product(PATIENTS, STATUSES, PERIODS, PAYORS))


def _shaped(index: int, shape: tuple[Any, ...]) -> dict[str, Any]:
    patient, status, period, payor = shape
    found = coverage(f"c{index}", status=status, payor=[{"display": payor}])
    found["beneficiary"] = {"reference": f"Patient/{patient}"}
    if period is not None:
        found["period"] = period
    return found


@pytest.mark.parametrize("count", [0, 1, 2])
def test_resolve_follows_its_statement_on_every_record(count: int) -> None:
    """Every record of `count` Coverages drawn from the shapes above, each
    resolved with and without a payer name, against the rules as stated."""
    for shapes in product(SHAPES, repeat=count):
        coverages = [_shaped(i, shape) for i, shape in enumerate(shapes)]
        for payer in (None, "Second Plan"):
            got = resolve(coverages, "pat-1", ON, payer)
            own = [c for c, s in zip(coverages, shapes, strict=True) if s[0] == "pat-1"]
            live = [
                c
                for c, s in zip(coverages, shapes, strict=True)
                if s[0] == "pat-1"
                and s[1] == "active"
                and s[2] not in ({"end": "2026-01-01"}, {"start": "2027-01-01"})
            ]
            named = [c for c in live if payer and c["payor"][0]["display"] == payer]
            if not coverages:
                expected: tuple[Any, str | None] = (None, None)
            elif not own:
                expected = (coverages[0], NO_MEMBER)
            elif not live:
                expected = (own[0], NO_ACTIVE_COVERAGE)
            elif len(live) == 1:
                expected = (live[0], None)
            elif len(named) == 1:
                expected = (named[0], None)
            else:
                expected = (live[0], COVERAGE_NOT_FOUND)
            assert (got.coverage, got.reason) == expected, (shapes, payer)


@pytest.mark.parametrize(
    ("order", "day"),
    [
        ({"occurrenceDateTime": "2027-02-01T10:00:00Z", "authoredOn": "2019-01-01"}, "2027-02-01"),
        ({"occurrencePeriod": {"start": "2027-03-01"}}, "2027-03-01"),
        ({"resourceType": "Appointment", "start": "2027-04-01T09:00:00Z"}, "2027-04-01"),
        ({"resourceType": "Encounter", "period": {"start": "2027-05-01"}}, "2027-05-01"),
        ({"authoredOn": "2019-02-15"}, ON.isoformat()),  # when written does not count
    ],
)
def test_coverage_must_be_in_force_when_the_order_is_given(order: dict[str, Any], day: str) -> None:
    assert performed_on(order, ON).isoformat() == day
