"""CRD's ext-coverage-information (CRD 2.2.1), built from a decision.

    covered        covered | not-covered | conditional (needs information)
                   | indeterminate (the record could not be read: resp-43)
    pa-needed      absent on not-covered (crd-ci-q2); auth-needed or no-auth as
                   the policy states (policy(prior_authorization, ...)), else
                   conditional
    doc-needed     clinical, with the policy's adaptive questionnaire, when facts are missing
                   (not on the secondary hooks: hook-19)
    info-needed    OTH whenever covered or pa-needed is conditional (crd-ci-q3
                   since 2.1: conditional needs info-needed), with a reason
                   saying what is needed (crd-ci-q6)
    billingCode    the billing option a policy decided, when the order's own
                   code was not one (the assumption made: impl-5)
    reason         each cited criterion with its quoted sentence, as text
    date, coverage-assertion-id

Every invariant of the extension (crd-ci-q1 .. q9) is checked on generated
decisions by its published FHIRPath in tests/service/test_crd.py.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import date
from typing import Any

from policykb.bridge.model.result import CoveredFrom, Verdict
from policykb.service.decisions import Decision
from policykb.service.dtr import adaptive_url

COVERAGE_INFORMATION = (
    "http://hl7.org/fhir/us/davinci-crd/StructureDefinition/ext-coverage-information"
)
COVERED = {
    Verdict.COVERED: "covered",
    Verdict.NOT_COVERED: "not-covered",
    Verdict.NEEDS_INFORMATION: "conditional",
}
PRIOR_AUTHORIZATION = {"required": "auth-needed", "not required": "no-auth"}
REASONS_SYSTEM = "http://hl7.org/fhir/us/davinci-crd/CodeSystem/temp"
VOLATILE = frozenset({"date", "coverage-assertion-id"})
UNREAD_SHOWN = 5
"""The unread records a coverage information names at most."""
"""Parts that differ between two assertions of the same information."""


def _text(reason: str) -> dict[str, Any]:
    return {"url": "reason", "valueCodeableConcept": {"text": reason}}


def coverage_information(
    decision: Decision,
    coverage: Mapping[str, Any],
    base: str,
    today: date,
    billing_codes: Sequence[Mapping[str, Any]] = (),
    secondary: bool = False,
    covered_from: CoveredFrom | None = None,
    unread: Sequence[str] = (),
) -> dict[str, Any]:
    """The extension for a decision about the Coverage `coverage` (a Reference).

    `unread`: resources a history could not be read from (fhir_histories),
    each "history: Type/id: why"; a decision that needs information says
    them (at most UNREAD_SHOWN), since the history was read only in part.

    `covered_from`: a denial's earliest covered date of service, given as
    one more reason.

    `secondary`: the answer is to a secondary hook (order-select,
    encounter-start, encounter-discharge), where it SHALL NOT say that
    clinical or administrative information is needed (hook-19): no
    doc-needed, so no questionnaire (crd-ci-q1); info-needed still says
    what is missing (crd-ci-q3)."""
    verdict = decision.verdict
    parts: list[dict[str, Any]] = [
        {"url": "coverage", "valueReference": dict(coverage)},
        {"url": "covered", "valueCode": COVERED[verdict]},
    ]
    needed: list[str] = []
    if verdict is not Verdict.NOT_COVERED:
        stated = decision.policy.info.get("prior_authorization", ("",))[0]
        pa_needed = PRIOR_AUTHORIZATION.get(stated, "conditional")
        parts.append({"url": "pa-needed", "valueCode": pa_needed})
        if pa_needed == "conditional":
            needed.append(
                "the policy does not say whether prior authorization is required: "
                "ask the health plan"
            )
    if verdict is Verdict.NEEDS_INFORMATION:
        if not secondary:
            parts.append({"url": "doc-needed", "valueCode": "clinical"})
        facts = ", ".join(missing.fact for missing in decision.evaluation.missing)
        then = (
            "it is asked for when the order is signed" if secondary else "answer its questionnaire"
        )
        needed.insert(
            0, f"the record does not state what the policy needs to decide ({facts}): {then}"
        )
        more = len(unread) - UNREAD_SHOWN
        needed += [f"a record that was not read ({note})" for note in unread[:UNREAD_SHOWN]]
        if more > 0:
            needed.append(f"{more} more records that were not read")
    if needed:
        parts.append({"url": "info-needed", "valueCode": "OTH"})
    parts += [{"url": "billingCode", "valueCoding": dict(coding)} for coding in billing_codes]
    parts += [_text(reason) for reason in decision.reasons()]
    if covered_from is not None:
        parts.append(_text(f"Earliest date of service covered: {covered_from.words}"))
    parts += [_text(f"Information needed: {reason}.") for reason in needed]
    if verdict is Verdict.NEEDS_INFORMATION and not secondary:
        url = adaptive_url(base, decision.policy.name)  # exact narrowing (dtr_package)
        parts.append({"url": "questionnaire", "valueCanonical": f"{url}|{decision.version[:16]}"})
    parts += [
        {"url": "date", "valueDate": today.isoformat()},
        {"url": "coverage-assertion-id", "valueString": decision.assertion_id},
    ]
    return {"url": COVERAGE_INFORMATION, "extension": parts}


def indeterminate(
    coverage: Mapping[str, Any], reason: str, today: date, assertion_id: str
) -> dict[str, Any]:
    """The extension when the record could not be read (resp-43: technical
    issues give indeterminate with a reason, crd-ci-q9)."""
    return {
        "url": COVERAGE_INFORMATION,
        "extension": [
            {"url": "coverage", "valueReference": dict(coverage)},
            {"url": "covered", "valueCode": "indeterminate"},
            {"url": "pa-needed", "valueCode": "indeterminate"},
            {"url": "doc-needed", "valueCode": "indeterminate"},
            {
                "url": "reason",
                "valueCodeableConcept": {
                    "coding": [{"system": REASONS_SYSTEM, "code": "technical"}],
                    "text": reason,
                },
            },
            {"url": "date", "valueDate": today.isoformat()},
            {"url": "coverage-assertion-id", "valueString": assertion_id},
        ],
    }


def not_covered_for(
    coverage: Mapping[str, Any], code: str, text: str, today: date, assertion_id: str
) -> dict[str, Any]:
    """The extension when the patient is not a member with one coverage in
    force (resp-44: no-member-found; resp-45: no-active-coverage or
    coverage-not-found): not-covered, so no pa-needed (crd-ci-q2), with the
    reason coded from coverageAssertionReasons and said in its text."""
    return {
        "url": COVERAGE_INFORMATION,
        "extension": [
            {"url": "coverage", "valueReference": dict(coverage)},
            {"url": "covered", "valueCode": "not-covered"},
            {
                "url": "reason",
                "valueCodeableConcept": {
                    "coding": [{"system": REASONS_SYSTEM, "code": code}],
                    "text": text,
                },
            },
            {"url": "date", "valueDate": today.isoformat()},
            {"url": "coverage-assertion-id", "valueString": assertion_id},
        ],
    }


def _content(extension: object) -> list[object] | None:
    """An extension's parts but those that differ between equal assertions."""
    if not isinstance(extension, Mapping) or extension.get("url") != COVERAGE_INFORMATION:
        return None
    parts = extension.get("extension")
    if not isinstance(parts, list):
        return None
    return [p for p in parts if not (isinstance(p, Mapping) and p.get("url") in VOLATILE)]


def already_carried(order: Mapping[str, Any], extension: Mapping[str, Any]) -> bool:
    """The order already carries this coverage information (all but its date
    and assertion id the same): nothing new to send (resp-35, resp-29)."""
    carried = order.get("extension")
    new = _content(extension)
    return isinstance(carried, list) and any(_content(e) == new for e in carried)
