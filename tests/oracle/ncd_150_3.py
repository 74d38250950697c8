"""A test-only oracle: Medicare NCD 150.3 (bone mass measurements, whose
conditions are the Medicare Benefit Policy Manual, chapter 15, section 80.5,
Rev. 70) as plain Python.

Written from the policy text (../shared/policies/) and the fact vocabulary
alone, without reading the encoding's rules, so the two can check each
other. `decide` gives coverage of one scenario on a date of service;
`verdict`, `missing` and `explanations` give the three-valued semantics of
README "Semantics" exactly, over every completion.

Invariants:
- `decide` reads facts only through `get`, one at a time and only when the
  branch it is on needs them (short-circuit), so the completions of a partial
  case are enumerated as a decision tree: a fact is branched on only where it
  is read, over one value per region the TEXT draws (a dose below 5.0 mg or
  at least 5.0; a course of at most 3 months or more; the month of the last
  covered BMM at least 24 calendar months before the month of service or
  not). That is brute force over every completion, without the product of
  20 domains.
- The date of service is always known (the reference date every case
  states); it is not one of the facts the explanations are drawn from.
- Minimal explanations are found by dualisation (each minimal sufficient set
  is a minimal hitting set of the complements of the maximal insufficient
  sets), exact because sufficiency of a definite verdict is monotone.

Readings, each decided from the text before comparing with the encoding:
- Medicare only (80.5.4 "Medicare covers BMM under the following
  conditions"): anyone else is not covered under it (`medicare_beneficiary`,
  default true).
- Definition (80.5.3), all three bullets required: performed to identify bone
  mass, detect bone loss or determine bone quality; a densitometer other than
  single- or dual-photon absorptiometry or a sonometer; a physician's
  interpretation. 80.5.7 names single and dual photon absorptiometry
  noncovered: both deny, whatever else holds. "that has been cleared for
  marketing ... by the FDA" is read as binding the densitometer as well as
  the sonometer (the relative clause follows the whole "either ... or"
  phrase; 42 CFR 410.31 is the same sentence). The alternative, that only a
  sonometer needs clearance, is not taken. SEXA, QCT, peripheral DXA and
  "other densitometer" are densitometers other than the photon
  absorptiometries: they pass the definition.
- 80.5.4 1. (the treating practitioner's order after an evaluation) and 2.
  (physician supervision) each required, one fact each.
- 80.5.4 3. with 80.5.6: at least one of the five conditions:
  (1) a woman (`sex` female) determined estrogen-deficient and at clinical
  risk (the NOTE on estrogen replacement therapy changes nothing the facts
  state); (2) vertebral abnormalities on x-ray; (3) receiving OR expecting
  glucocorticoid therapy with an average of at least 5.0 mg prednisone
  equivalent per day ("5.0 mg ..., or greater": 5.0 included) for MORE than
  3 months (3 months exactly is not enough); (4) primary
  hyperparathyroidism; (5) monitoring of an FDA-approved osteoporosis drug.
- 80.5.4 4.: a BMM that monitors an osteoporosis drug therapy must be axial
  DXA, whatever other condition of 80.5.6 the patient also meets (the
  sentence speaks of the individual being monitored, and the fact says this
  BMM is such monitoring).
- 80.5.4 5.: a confirmatory BMM is not covered when the initial BMM was axial
  DXA; when it was not, the confirmatory BMM must be axial DXA.
- Frequency (80.5.5) binds every BMM (the manual gives no other frequency
  for a non-screening BMM; its exceptions are the "more frequent" cases):
  with no prior covered BMM it is met; otherwise "at least 23 months have
  passed since the month the last covered BMM was performed" counts whole
  calendar months AFTER that month and before the month of service (the
  count starts with the month after; the month of service is not yet
  passed), so the month of service must be at least 24 months after the
  last covered month: last covered in January 2024 allows any day of
  January 2026, not December 2025 ("once every 2 years"). Only months count:
  the day of the month of either date never matters (the edge day is the
  first of the month 24 months on, and every day of that month passes).
  The month is read from the date given (the vocabulary asks for its first
  day). A last covered month after the month of service fails the standard.
- Exceptions (80.5.5 "When medically necessary, Medicare may pay for more
  frequent BMMs"), each lifting only the frequency standard, never another
  condition: monitoring a beneficiary ON long-term glucocorticoid therapy
  of more than 3 months (`glucocorticoid_therapy` = receiving and months
  > 3; no dose stated in that sentence, so none read; a patient merely
  expecting therapy is not yet "on" it); confirming a baseline BMM
  (`confirmatory_bmm`, itself subject to 80.5.4 5.); any other medical
  circumstance (`other_frequent_bmm_necessity`, the open list).
- 80.5.9 (further systems CMS may add by NCD) and 80.5.8 (claims) state no
  condition a case's facts can meet or miss.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from datetime import date
from functools import cache
from itertools import product
from typing import Any

from tests.oracle.minimal_sets import minimal_sufficient_sets

FIRST_DAY = date(2007, 1, 1)  # "Effective: 01-01-07"
MONTHS_BETWEEN = 24  # "at least 23 months have passed since the month": 23 whole months after it
DOSE_MG = 5.0  # "equivalent to an average of 5.0 mg of prednisone, or greater, per day"
COURSE_MONTHS = 3.0  # "for more than 3 months"
DOSE_REGIONS = (4.99, 5.0)
COURSE_REGIONS = (3.0, 3.01)

TECHNIQUES = (
    "dxa_axial",
    "dxa_peripheral",
    "qct",
    "sexa",
    "other_densitometer",
    "ultrasound",
    "single_photon",
    "dual_photon",
)
ENUMS: Mapping[str, tuple[str, ...]] = {
    "bmm_technique": TECHNIQUES,
    "sex": ("female", "male"),
    "glucocorticoid_therapy": ("none", "receiving", "expecting"),
}
DECIMAL_FACTS = ("prednisone_equivalent_mg_per_day", "glucocorticoid_therapy_months")
DATE_FACTS = ("last_covered_bmm_month",)
# The vocabulary's facts in rank order, the date of service left out (always known).
FACTS = (
    "medicare_beneficiary",
    "bmm_technique",
    "fda_cleared_device",
    "measures_bone_mass",
    "physician_interpretation",
    "ordered_by_treating_practitioner",
    "physician_supervision",
    "sex",
    "estrogen_deficient_at_risk",
    "vertebral_abnormalities_on_xray",
    "glucocorticoid_therapy",
    "prednisone_equivalent_mg_per_day",
    "glucocorticoid_therapy_months",
    "primary_hyperparathyroidism",
    "osteoporosis_drug_monitoring",
    "confirmatory_bmm",
    "initial_bmm_dxa_axial",
    "prior_covered_bmm",
    "last_covered_bmm_month",
    "other_frequent_bmm_necessity",
)
BOOL_FACTS = tuple(
    f for f in FACTS if f not in ENUMS and f not in DECIMAL_FACTS and f not in DATE_FACTS
)
DEFAULTS: Mapping[str, Any] = {"medicare_beneficiary": True}

Get = Callable[[str], Any]


def month_index(day: date) -> int:
    """The calendar month a day falls in, counted from year 0."""
    return day.year * 12 + day.month - 1


def first_of_month(index: int) -> date:
    """The first day of a month given by `month_index`."""
    year, month = divmod(index, 12)
    return date(year, month + 1, 1)


def frequency_passed(last_month: date, day: date) -> bool:
    """ "at least 23 months have passed since the month the last covered BMM was
    performed": the whole months after that month and before the month of
    service number 23 or more; the days within either month never count."""
    return month_index(day) - month_index(last_month) - 1 >= MONTHS_BETWEEN - 1


def decide(get: Get, day: date) -> bool:
    """Coverage of one scenario on a date of service, reading facts through `get`."""
    if day < FIRST_DAY:
        raise ValueError(f"the text decides no date of service before {FIRST_DAY}: {day}")
    # 80.5.4: "Medicare covers BMM under the following conditions" (Medicare only).
    if not get("medicare_beneficiary"):
        return False
    return (
        _is_a_bmm(get)
        # 80.5.4 1.: "Is ordered by the physician or qualified nonphysician
        # practitioner who is treating the beneficiary following an evaluation ..."
        and bool(get("ordered_by_treating_practitioner"))
        # 80.5.4 2.: "Is performed under the appropriate level of physician supervision"
        and bool(get("physician_supervision"))
        # 80.5.4 3.: "... a beneficiary who meets the conditions described in §80.5.6."
        and _qualified_individual(get)
        and _monitoring_by_axial_dxa(get)
        and _confirmatory_allowed(get)
        and _frequency_met(get, day)
    )


def _is_a_bmm(get: Get) -> bool:
    technique = get("bmm_technique")
    return (
        # 80.5.7: "Single photon absorptiometry ... Dual photon absorptiometry" are
        # noncovered; 80.5.3: "a bone densitometer (other than single-photon or
        # dual-photon absorptiometry) or a bone sonometer system"
        technique not in ("single_photon", "dual_photon")
        # 80.5.3: "... that has been cleared for marketing for BMM by the [FDA] ...,
        # or approved for marketing" (read as binding either device)
        and bool(get("fda_cleared_device"))
        # 80.5.3: "Is performed to identify bone mass, detect bone loss, or determine
        # bone quality."
        and bool(get("measures_bone_mass"))
        # 80.5.3: "Includes a physician's interpretation of the results."
        and bool(get("physician_interpretation"))
    )


def _glucocorticoid_condition(get: Get) -> bool:
    # 80.5.6 3.: "An individual receiving (or expecting to receive) glucocorticoid
    # (steroid) therapy equivalent to an average of 5.0 mg of prednisone, or
    # greater, per day, for more than 3 months."
    return (
        get("glucocorticoid_therapy") in ("receiving", "expecting")
        and get("prednisone_equivalent_mg_per_day") >= DOSE_MG
        and get("glucocorticoid_therapy_months") > COURSE_MONTHS
    )


def _qualified_individual(get: Get) -> bool:
    # 80.5.6: "a beneficiary must meet at least one of the five conditions"
    return (
        # 1. "A woman who has been determined ... to be estrogen-deficient and at
        # clinical risk for osteoporosis"
        (get("sex") == "female" and bool(get("estrogen_deficient_at_risk")))
        # 2. "An individual with vertebral abnormalities as demonstrated by an x-ray"
        or bool(get("vertebral_abnormalities_on_xray"))
        or _glucocorticoid_condition(get)
        # 4. "An individual with primary hyperparathyroidism."
        or bool(get("primary_hyperparathyroidism"))
        # 5. "An individual being monitored to assess the response to or efficacy of
        # an FDA-approved osteoporosis drug therapy."
        or bool(get("osteoporosis_drug_monitoring"))
    )


def _monitoring_by_axial_dxa(get: Get) -> bool:
    # 80.5.4 4.: "In the case of an individual being monitored to assess the
    # response to or efficacy of an FDA-approved osteoporosis drug therapy, is
    # performed with a dual-energy x-ray absorptiometry system (axial skeleton)."
    return not get("osteoporosis_drug_monitoring") or get("bmm_technique") == "dxa_axial"


def _confirmatory_allowed(get: Get) -> bool:
    # 80.5.4 5.: "... who has a confirmatory BMM, is performed by [axial DXA] if the
    # initial BMM was not performed by [axial DXA]. A confirmatory baseline BMM is
    # not covered if the initial BMM was performed by [axial DXA]."
    if not get("confirmatory_bmm"):
        return True
    return not get("initial_bmm_dxa_axial") and get("bmm_technique") == "dxa_axial"


def _frequency_met(get: Get, day: date) -> bool:
    # 80.5.5: "Medicare pays for a screening BMM once every 2 years (at least 23
    # months have passed since the month the last covered BMM was performed)."
    if not get("prior_covered_bmm"):
        return True
    if frequency_passed(get("last_covered_bmm_month"), day):
        return True
    # "When medically necessary, Medicare may pay for more frequent BMMs. Examples
    # include, but are not limited to, ...:"
    return (
        # "Monitoring beneficiaries on long-term glucocorticoid (steroid) therapy of
        # more than 3 months." (on it: receiving; no dose in this sentence)
        (
            get("glucocorticoid_therapy") == "receiving"
            and get("glucocorticoid_therapy_months") > COURSE_MONTHS
        )
        # "Confirming baseline BMMs to permit monitoring of beneficiaries in the future."
        or bool(get("confirmatory_bmm"))
        # "... but are not limited to": any other medically necessary circumstance.
        or bool(get("other_frequent_bmm_necessity"))
    )


def covered(facts: Mapping[str, Any], day: date) -> bool:
    """Coverage of one complete scenario (every fact `decide` reads is given)."""
    return decide(lambda fact: facts[fact], day)


# --- the three-valued semantics, by enumeration over regions ---------------


def frequency_edge(day: date) -> date:
    """The latest month (as its first day) whose BMM lets a BMM on `day` pass
    the frequency standard."""
    return first_of_month(month_index(day) - MONTHS_BETWEEN)


def domain(fact: str, day: date) -> tuple[Any, ...]:
    """One value per region of a fact, as of the date of service."""
    if fact in BOOL_FACTS:
        return (True, False)
    if fact in ENUMS:
        return ENUMS[fact]
    if fact == "prednisone_equivalent_mg_per_day":
        return DOSE_REGIONS
    if fact == "glucocorticoid_therapy_months":
        return COURSE_REGIONS
    if fact == "last_covered_bmm_month":
        edge = frequency_edge(day)
        return (edge, first_of_month(month_index(edge) + 1))
    raise ValueError(f"not a fact of NCD 150.3: {fact}")


def region_key(fact: str, value: Any, day: date) -> Any:
    """The region a value falls in (its stand-in in `domain`)."""
    if fact == "prednisone_equivalent_mg_per_day":
        return DOSE_REGIONS[value >= DOSE_MG]
    if fact == "glucocorticoid_therapy_months":
        return COURSE_REGIONS[value > COURSE_MONTHS]
    if fact == "last_covered_bmm_month":
        return domain(fact, day)[not frequency_passed(value, day)]
    return value


class _Unknown(Exception):
    def __init__(self, fact: str) -> None:
        super().__init__(fact)
        self.fact = fact


Key = tuple[tuple[str, Any], ...]


def _key(known: Mapping[str, Any], day: date) -> Key:
    return tuple(sorted((f, region_key(f, v, day)) for f, v in known.items()))


def _reachable(
    probe: Callable[[Get], Any],
    fixed: Mapping[str, Any],
    day: date,
    stop: Callable[[set[Any]], bool],
) -> set[Any]:
    """Every result `probe` gives over the completions of `fixed` (branching on
    each unknown fact where it is read), stopping early once `stop` holds."""
    results: set[Any] = set()
    stack = [dict(fixed)]
    while stack:
        assignment = stack.pop()

        def get(fact: str, assignment: dict[str, Any] = assignment) -> Any:
            if fact not in assignment:
                raise _Unknown(fact)
            return assignment[fact]

        try:
            results.add(probe(get))
        except _Unknown as unknown:
            stack.extend({**assignment, unknown.fact: v} for v in domain(unknown.fact, day))
            continue
        if stop(results):
            break
    return results


@cache
def _verdict(known: Key, day: date) -> str:
    outcomes = _reachable(lambda get: decide(get, day), dict(known), day, lambda r: len(r) > 1)
    if outcomes == {True}:
        return "covered"
    if outcomes == {False}:
        return "not_covered"
    return "needs_information"


def verdict(known: Mapping[str, Any], day: date) -> str:
    """Covered in every completion, in none, or needs information (no default filled in)."""
    return _verdict(_key(known, day), day)


def with_defaults(facts: Mapping[str, Any]) -> dict[str, Any]:
    """The case's known facts: the vocabulary's defaults for facts it leaves absent."""
    return {**{f: v for f, v in DEFAULTS.items() if f not in facts}, **facts}


def _setting(get: Get, fact: str, value: Any) -> Get:
    """`get` with one fact set to a value."""

    def read(name: str) -> Any:
        return value if name == fact else get(name)

    return read


def missing(known: Mapping[str, Any], day: date) -> set[str]:
    """For needs_information, the unknown facts the verdict can turn on: for some
    filling of the other unknowns, changing the fact changes coverage."""
    if verdict(known, day) != "needs_information":
        return set()
    fixed = dict(_key(known, day))
    turns = set()
    for fact in (f for f in FACTS if f not in fixed):
        values = domain(fact, day)
        for a, b in ((a, b) for i, a in enumerate(values) for b in values[i + 1 :]):

            def flips(get: Get, fact: str = fact, a: Any = a, b: Any = b) -> bool:
                return decide(_setting(get, fact, a), day) != decide(_setting(get, fact, b), day)

            if True in _reachable(flips, fixed, day, lambda r: True in r):
                turns.add(fact)
                break
    return turns


def explanations(known: Mapping[str, Any], day: date) -> set[frozenset[str]]:
    """Every minimal explanation: sets of known facts that alone (all else
    unknown, no default filled in again) give the case's verdict, no proper
    subset of which does. A needs_information case has only the empty one."""
    target = verdict(known, day)
    if target == "needs_information":
        return {frozenset()}

    def sufficient(subset: frozenset[str]) -> bool:
        return verdict({f: known[f] for f in subset}, day) == target

    return minimal_sufficient_sets(frozenset(known), sufficient)


def complete_scenarios(day: date) -> Iterable[dict[str, Any]]:
    """Every complete scenario as of a date of service, one value per region of
    each fact (8 * 3 * 2**18 = 6,291,456 of them: sample, do not exhaust)."""
    for values in product(*(domain(f, day) for f in FACTS)):
        yield dict(zip(FACTS, values, strict=True))
