"""A test-only oracle: Medicare NCD 100.1 (bariatric surgery) as plain Python.

Written from the policy text (../shared/policies/, NCD version 5) and the
fact vocabulary alone, without reading the encoding's rules, so the two can
check each other. `covered` decides one complete scenario on a date of
service; `verdict`, `missing` and `explanations` give the three-valued
semantics of README "Semantics" by brute force over every completion.

Invariants: a scenario's number and code facts enter only through the
regions the TEXT draws (BMI below 35 / 35 or more; diagnoses holding an E11
code or not), so brute force over those regions is brute force over every
value; a date of service before 2006-02-21 has no reading (the text covers
nothing before it) and is refused.

Readings, each decided from the text before comparing with the encoding:
- Medicare only. B covers "for Medicare beneficiaries", C is "for all
  Medicare beneficiaries": anyone else is not covered under this NCD.
- BMI: "body-mass index >= 35" includes 35.
- Co-morbidity: `other_obesity_comorbidity` (the request's clinical
  statement), or, on and after 2009-02-12, type 2 diabetes mellitus (an E11
  code in `diagnoses`); before that day diagnoses are not read.
- Unsuccessful medical treatment: the fact as stated, no length or form.
- Facility: B's certification applies to "these procedures" (RYGBP, BPD/DS,
  LAGB) only, for dates of service before 2013-09-24; on and after it,
  "facilities are no longer required to be certified". The fact means
  certified on the date of service, so the certification date is not asked.
  D's procedures (stand-alone LSG, unlisted ones) carry no facility
  requirement: the sentence that imposes one names "these procedures".
- Stand-alone LSG: non-covered before 2012-06-27 (C, "prior to June 27,
  2012"); on and after, "MACs ... may determine coverage ... only when all of
  the following conditions a.-c. are satisfied": covered only when a.-c. hold
  AND the MAC has determined to cover it (`mac_determined_coverage`); a.-c.
  failing is not covered whatever the MAC said ("only when").
- Procedures "not specifically identified ... as covered or non-covered"
  (`other`): "left to the local MACs" for beneficiaries meeting the three
  conditions, so covered only when those hold and the MAC covers it; for
  anyone else not covered ("Treatments for obesity alone remain
  non-covered" and the NCD gives the MAC nothing to decide). The sentence
  carries no date: it is read on every date of service from 2006-02-21.
- Open vs laparoscopic: by the vocabulary's options; open AGB, open sleeve,
  VBG (open and laparoscopic), intestinal bypass and gastric balloon are
  non-covered on every date (C names no date for them).
- `mac_determined_coverage` is read only for LSG (from 2012-06-27) and
  `other`; for B's procedures national coverage decides.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import date
from functools import cache
from itertools import product
from typing import Any

from tests.oracle.minimal_sets import minimal_sufficient_by_every_subset

FIRST_DAY = date(2006, 2, 21)  # B: "on and after February 21, 2006"
T2DM_FROM = date(2009, 2, 12)  # B: "on and after February 12, 2009" (T2DM)
LSG_MAC_FROM = date(2012, 6, 27)  # C: "(prior to June 27, 2012)"; D: "on and after June 27, 2012"
NO_CERTIFICATION_FROM = date(2013, 9, 24)  # B: "on and after September 24, 2013 ... no longer"

# Every date at which the text's reading changes, and a day on each side.
DATE_REPRESENTATIVES = (
    date(2006, 2, 21),
    date(2009, 2, 11),
    date(2009, 2, 12),
    date(2012, 6, 26),
    date(2012, 6, 27),
    date(2013, 9, 23),
    date(2013, 9, 24),
    date(2025, 1, 15),
)

PROCEDURES = (
    "rygbp",
    "bpd_ds",
    "lagb",
    "lsg",
    "open_sleeve",
    "open_agb",
    "vbg",
    "intestinal_bypass",
    "gastric_balloon",
    "other",
)
B_PROCEDURES = frozenset({"rygbp", "bpd_ds", "lagb"})
C_PROCEDURES = frozenset({"open_sleeve", "open_agb", "vbg", "intestinal_bypass", "gastric_balloon"})
BOOL_FACTS = (
    "medicare_beneficiary",
    "other_obesity_comorbidity",
    "medical_treatment_unsuccessful",
    "mac_determined_coverage",
    "facility_certified",
)
# The vocabulary's facts, in its rank order.
FACTS = (
    "medicare_beneficiary",
    "bariatric_procedure",
    "bmi",
    "other_obesity_comorbidity",
    "diagnoses",
    "medical_treatment_unsuccessful",
    "facility_certified",
    "mac_determined_coverage",
)
DEFAULTS: Mapping[str, Any] = {"medicare_beneficiary": True}
BMI_THRESHOLD = 35  # B and D: "body-mass index >= 35"
# Region representatives: one value per region the text draws.
BMI_REGIONS = (34.0, 35.0)
DIAGNOSES_REGIONS: tuple[tuple[str, ...], ...] = ((), ("E11.9",))


def is_type_2_diabetes(code: str) -> bool:
    """ICD-10-CM E11 and every code under it ("Type 2 diabetes mellitus"; E08,
    E09, E10 and E13 are other diabetes, not type 2)."""
    return code.replace(".", "").upper().startswith("E11")


def covered(facts: Mapping[str, Any], day: date) -> bool:
    """Coverage of one complete scenario on a date of service."""
    if day < FIRST_DAY:
        raise ValueError(f"the text decides no date of service before {FIRST_DAY}: {day}")
    # B: "covered for Medicare beneficiaries"; C: "for all Medicare beneficiaries".
    if not facts["medicare_beneficiary"]:
        return False
    # B/D: "have at least one co-morbidity related to obesity"; B: "Effective for
    # services performed on and after February 12, 2009, ... Type 2 diabetes
    # mellitus is a co-morbidity for purposes of this NCD" (the whole NCD, D too).
    t2dm = day >= T2DM_FROM and any(is_type_2_diabetes(c) for c in facts["diagnoses"])
    comorbidity = bool(facts["other_obesity_comorbidity"]) or t2dm
    # B/D: "have a body-mass index >= 35, ..., and have been previously
    # unsuccessful with medical treatment for obesity".
    conditions = (
        facts["bmi"] >= BMI_THRESHOLD
        and comorbidity
        and bool(facts["medical_treatment_unsuccessful"])
    )
    procedure = facts["bariatric_procedure"]
    if procedure in B_PROCEDURES:
        # B: "these procedures are only covered when performed at facilities that
        # are: (1) certified by the American College of Surgeons ... or (2)
        # certified by the American Society for Bariatric Surgery ...";
        # "Effective for dates of service on and after September 24, 2013,
        # facilities are no longer required to be certified."
        facility = day >= NO_CERTIFICATION_FROM or bool(facts["facility_certified"])
        return conditions and facility
    if procedure in C_PROCEDURES:
        # C: "The following bariatric surgery procedures are non-covered for all
        # Medicare beneficiaries: Open adjustable gastric banding; Open sleeve
        # gastrectomy; ... Open and laparoscopic vertical banded gastroplasty;
        # Intestinal bypass surgery; and, Gastric balloon for treatment of obesity."
        return False
    if procedure == "lsg":
        # C: "Laparoscopic sleeve gastrectomy (prior to June 27, 2012)" is non-covered.
        if day < LSG_MAC_FROM:
            return False
        # D: "MACs ... may determine coverage of stand-alone laparoscopic sleeve
        # gastrectomy (LSG) ... only when all of the following conditions a.-c.
        # are satisfied." Reading: the MAC's determination is needed, and a.-c.
        return conditions and bool(facts["mac_determined_coverage"])
    if procedure == "other":
        # D: "The determination of coverage for any bariatric surgery procedures
        # that are not specifically identified in an NCD as covered or
        # non-covered, for Medicare beneficiaries who have a body-mass index >=
        # 35, have at least one co-morbidity ..., and have been previously
        # unsuccessful with medical treatment for obesity, is left to the local
        # MACs." Reading: covered when the MAC covers it, for those beneficiaries only.
        return conditions and bool(facts["mac_determined_coverage"])
    raise ValueError(f"unknown bariatric_procedure {procedure!r}")


def domain(fact: str) -> tuple[Any, ...]:
    """One value per region of a fact: brute force over these is over every value."""
    if fact in BOOL_FACTS:
        return (True, False)
    if fact == "bariatric_procedure":
        return PROCEDURES
    if fact == "bmi":
        return BMI_REGIONS
    if fact == "diagnoses":
        return DIAGNOSES_REGIONS
    raise ValueError(f"not a fact of NCD 100.1: {fact}")


def region_key(fact: str, value: Any) -> Any:
    """The region a value falls in (its stand-in in `domain`)."""
    if fact == "bmi":
        return BMI_REGIONS[value >= BMI_THRESHOLD]
    if fact == "diagnoses":
        return DIAGNOSES_REGIONS[any(is_type_2_diabetes(c) for c in value)]
    return value


def _key(known: Mapping[str, Any]) -> tuple[tuple[str, Any], ...]:
    return tuple(sorted((f, region_key(f, v)) for f, v in known.items()))


@cache
def _outcomes(known: tuple[tuple[str, Any], ...], day: date) -> frozenset[bool]:
    fixed = dict(known)
    unknown = [f for f in FACTS if f not in fixed]
    return frozenset(
        covered({**fixed, **dict(zip(unknown, values, strict=True))}, day)
        for values in product(*(domain(f) for f in unknown))
    )


def verdict(known: Mapping[str, Any], day: date) -> str:
    """Covered in every completion, in none, or needs information (no default filled in)."""
    outcomes = _outcomes(_key(known), day)
    if outcomes == {True}:
        return "covered"
    if outcomes == {False}:
        return "not_covered"
    return "needs_information"


def with_defaults(facts: Mapping[str, Any]) -> dict[str, Any]:
    """The case's known facts: the vocabulary's defaults for facts it leaves absent."""
    return {**{f: v for f, v in DEFAULTS.items() if f not in facts}, **facts}


def missing(known: Mapping[str, Any], day: date) -> set[str]:
    """For needs_information, the unknown facts the verdict can turn on: for some
    filling of the other unknowns, changing the fact changes coverage."""
    if verdict(known, day) != "needs_information":
        return set()
    fixed = {f: region_key(f, v) for f, v in known.items()}
    unknown = [f for f in FACTS if f not in fixed]
    turns = set()
    for values in product(*(domain(f) for f in unknown)):
        full = {**fixed, **dict(zip(unknown, values, strict=True))}
        base = covered(full, day)
        for fact in unknown:
            if fact in turns:
                continue
            if any(covered({**full, fact: other}, day) != base for other in domain(fact)):
                turns.add(fact)
    return turns


def explanations(known: Mapping[str, Any], day: date) -> set[frozenset[str]]:
    """Every minimal explanation: sets of known facts that alone (all else
    unknown, no default filled in again) give the case's verdict, no proper
    subset of which does. A needs_information case has only the empty one."""
    target = verdict(known, day)
    return minimal_sufficient_by_every_subset(
        known, lambda subset: verdict({f: known[f] for f in subset}, day) == target
    )


def complete_scenarios() -> Iterable[dict[str, Any]]:
    """Every complete scenario, one value per region of each fact."""
    for values in product(*(domain(f) for f in FACTS)):
        yield dict(zip(FACTS, values, strict=True))
