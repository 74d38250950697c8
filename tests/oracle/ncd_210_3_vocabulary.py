"""The NCD 210.3 oracle read through the encoding's fact vocabulary
(kb/policies/colorectal-cancer-screening/vocabulary.lp, the only file of
the encoding the oracle's author read).

`VOCABULARY` gives the three-valued layer (ncd_210_3_completions) the
vocabulary's facts, one value per region the TEXT draws for each, and the
oracle's decision reading them; `document` writes a partial case as the
case format has it (a history as a bare list: at least these records, or
{"complete": true, "records": [...]}).

Invariants:
- Every oracle field is read from exactly one vocabulary fact, except the
  two the vocabulary folds into `family_history_crc_or_polyps` (a close
  relative makes a member at high risk; any relative leaves average risk).
- A record's `result` not_reported is not a positive result.
- Whether a colonoscopy followed the latest positive stool-based test up is
  the vocabulary's own fact (colonoscopy_since_positive_stool_test); the
  oracle reads it there rather than from the records' dates.
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping, Sequence
from datetime import date
from decimal import Decimal
from typing import Any

from tests.oracle import ncd_210_3 as text
from tests.oracle.ncd_210_3_completions import Get, Partial, Vocabulary

POLICY = "colorectal-cancer-screening"
HISTORY = "screenings"
TEST_NAMES = {"sdna": text.STOOL_DNA, "flexible_sigmoidoscopy": text.SIGMOIDOSCOPY}
VOCABULARY_TESTS = {oracle: name for name, oracle in TEST_NAMES.items()}
ENUMS: Mapping[str, tuple[str, ...]] = {
    "screening_test": (
        "gfobt",
        "ifobt",
        "sdna",
        "blood_biomarker",
        "flexible_sigmoidoscopy",
        "colonoscopy",
        "barium_enema",
        "ct_colonography",
        "other",
    ),
    "family_history_crc_or_polyps": ("close_relative", "other_relative_only", "none"),
    "ordering_practitioner": ("physician", "nonphysician_practitioner", "other"),
    "performing_practitioner": ("physician", "nonphysician_practitioner", "other"),
    "barium_enema_contrast": ("double", "single", "neither"),
}
# The vocabulary's facts in rank order, the date of service left out (always known).
FACTS = (
    "medicare_beneficiary",
    "screening_test",
    "age",
    "family_history_crc_or_polyps",
    "family_history_fap",
    "family_history_hnpcc",
    "personal_history_adenomatous_polyps",
    "personal_history_crc",
    "inflammatory_bowel_disease",
    "colorectal_signs_or_symptoms",
    "ordering_practitioner",
    "order_in_writing",
    "performing_practitioner",
    "barium_enema_contrast",
    "cannot_tolerate_double_contrast",
    "sdna_is_cologuard",
    "fda_authorized_for_crc_screening",
    "clia_certified_lab",
    "test_sensitivity_percent",
    "test_specificity_percent",
    "post_approval_study_met",
    "informed_of_follow_on_colonoscopy",
    "colonoscopy_since_positive_stool_test",
    HISTORY,
)
NUMBERS = ("age", "test_sensitivity_percent", "test_specificity_percent")
BOOLS = tuple(f for f in FACTS if f not in ENUMS and f not in NUMBERS and f != HISTORY)
DEFAULTS: Mapping[str, Any] = {"medicare_beneficiary": True}

# Each oracle field and the vocabulary fact it is read from.
SAME = {
    "medicare_beneficiary": "medicare_beneficiary",
    "age": "age",
    "family_history_fap": "family_history_fap",
    "family_history_hnpcc": "family_history_hnpcc",
    "personal_history_adenomatous_polyps": "personal_history_adenomatous_polyps",
    "personal_history_crc": "personal_history_crc",
    "inflammatory_bowel_disease": "inflammatory_bowel_disease",
    "signs_or_symptoms": "colorectal_signs_or_symptoms",
    "ordered_by": "ordering_practitioner",
    "order_in_writing": "order_in_writing",
    "performed_by": "performing_practitioner",
    "barium_enema_contrast": "barium_enema_contrast",
    "cannot_tolerate_double_contrast": "cannot_tolerate_double_contrast",
    "is_cologuard": "sdna_is_cologuard",
    "fda_authorized_for_screening": "fda_authorized_for_crc_screening",
    "clia_laboratory": "clia_certified_lab",
    "sensitivity": "test_sensitivity_percent",
    "specificity": "test_specificity_percent",
    "post_approval_study_met": "post_approval_study_met",
    "informed_of_performance_and_follow_on": "informed_of_follow_on_colonoscopy",
    "colonoscopy_since_positive_stool_test": "colonoscopy_since_positive_stool_test",
    "history": HISTORY,
}

# One value per region of each number the text cuts: age under 45, 45-85,
# over 85; sensitivity below 74, 74-79, 79-90, 90 and over; specificity
# below 87, 87-90, 90 and over.
AGE_CUTS = (text.MINIMUM_AGE, text.BIOMARKER_MAXIMUM_AGE + 1)
SENSITIVITY_CUTS = (74, 79, 90)
SPECIFICITY_CUTS = (87, 90)
CUTS = {
    "age": AGE_CUTS,
    "test_sensitivity_percent": SENSITIVITY_CUTS,
    "test_specificity_percent": SPECIFICITY_CUTS,
}
LOWEST = {"age": 0, "test_sensitivity_percent": 0, "test_specificity_percent": 0}


def oracle_test(name: str) -> str:
    return TEST_NAMES.get(name, name)


def vocabulary_test(name: str) -> str:
    return VOCABULARY_TESTS.get(name, name)


def translated(vget: Get) -> Get:
    """The oracle's fields, read from the vocabulary's facts through `vget`."""

    def get(name: str) -> Any:
        if name == "test":
            return oracle_test(vget("screening_test"))
        if name == "close_relative_crc_or_adenomatous_polyp":
            return vget("family_history_crc_or_polyps") == "close_relative"
        if name == text.FAMILY_HISTORY_CRC_OR_POLYPS:
            return vget("family_history_crc_or_polyps") != "none"
        return vget(SAME[name])

    return get


def decide(vget: Get, day: date, history_signs: bool = text.HISTORY_SIGNS) -> bool:
    return text.decide(translated(vget), day, history_signs)


def domain(fact: str, day: date) -> Sequence[Any]:
    if fact in ENUMS:
        return ENUMS[fact]
    if fact in CUTS:
        values = (LOWEST[fact], *CUTS[fact])
        return values if fact == "age" else tuple(Decimal(v) for v in values)
    return (True, False)


def region(fact: str, value: Any, day: date) -> Hashable:
    """The region a value lies in: its stand-in in `domain` (a number's), or itself."""
    if fact in CUTS:
        stand_in: Hashable = domain(fact, day)[sum(value >= cut for cut in CUTS[fact])]
        return stand_in
    known: Hashable = value
    return known


def vocabulary(history_signs: bool = text.HISTORY_SIGNS) -> Vocabulary:
    return Vocabulary(
        facts=FACTS,
        histories=frozenset({HISTORY}),
        domain=domain,
        region=region,
        decide=lambda vget, day: decide(vget, day, history_signs),
        defaults=DEFAULTS,
    )


VOCABULARY = vocabulary()


def record_of(row: Mapping[str, Any]) -> text.Record:
    """A case's record ({test, date, result}) in the oracle's terms."""
    day = row["date"]
    return text.Record(
        oracle_test(row["test"]),
        day if isinstance(day, date) else date.fromisoformat(day),
        row["result"],
    )


def row_of(record: text.Record) -> dict[str, Any]:
    return {
        "test": vocabulary_test(record.test),
        "date": record.day.isoformat(),
        "result": record.result,
    }


def document(known: Mapping[str, Any], day: date) -> dict[str, Any]:
    """A case document as JSON would give it (the history's records in date order)."""
    facts: dict[str, Any] = {"date_of_service": day.isoformat()}
    for fact, value in known.items():
        if value is None:
            continue
        if isinstance(value, Partial):
            rows = [row_of(r) for r in sorted(value.records, key=lambda r: (r.day, r.test))]
            facts[fact] = {"complete": True, "records": rows} if value.complete else rows
        elif isinstance(value, Decimal):
            facts[fact] = float(value) if value != int(value) else int(value)
        else:
            facts[fact] = value
    return {"policy": POLICY, "facts": facts}
