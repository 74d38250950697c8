"""A test-only oracle: Medicare NCD 220.4 (mammograms), with the statute's
screening frequency (Social Security Act 1834(c)(1)-(2)), as plain Python.

Written from the policy text (../shared/policies/, NCD version 1, with the
statute appended to it) and the fact vocabulary alone, without reading the
encoding's rules, so the two can check each other. `decide` gives coverage
of one scenario on a date of service; `verdict`, `missing` and
`explanations` give the three-valued semantics of README "Semantics" exactly,
over every completion.

Invariants:
- `decide` reads facts only through `get`, one at a time and only when the
  branch it is on needs them, so the completions of a partial case are
  enumerated as a decision tree: a fact is branched on only where it is
  read, over one value per region the TEXT draws (age 0-34, 35-39, 40-130;
  the month of the last screening 12 or more calendar months before the
  month of the date of service, or fewer). That is brute force over every
  completion without the product of 16 domains.
- The date of service is always known (the reference date every case
  states); it is not one of the facts explanations are drawn from. A date of
  service before 1978-05-15 (the version's first day) has no reading and is
  refused.
- `last_screening_mammogram_month` enters by its calendar month only (the
  text counts months); the vocabulary asks for the month's first day.
- Minimal explanations are found by dualisation (each minimal sufficient set
  is a minimal hitting set of the complements of the maximal insufficient
  sets), exact because sufficiency of a decided verdict is monotone: more
  known facts leave fewer completions.

Readings, each decided from the text before comparing with the encoding:
- Medicare only ("would not be covered for Medicare purposes"; the statute's
  "payment may be made under this part"): anyone else is not covered
  (`medicare_beneficiary`, default true).
- Two services, by `mammogram_type`: a screening mammography is judged by the
  screening definition and the statute's frequency, a diagnostic one by the
  diagnostic sentences. Neither is covered by the other's rules.
- Both: "and includes a physician's interpretation of the results of the
  procedure" is part of each definition: without it the service is neither
  kind of mammography and not covered (`physician_interpretation`).
- Screening: "furnished to a woman without signs or symptoms of breast
  disease": female and no signs or symptoms. A personal history of breast
  cancer or of benign breast disease does NOT bar screening: the screening
  definition names only signs or symptoms (the alternative, that such a
  woman may be imaged only diagnostically, is not in the text). Also "at a
  minimum a two-view exposure ... of each breast" (`two_views_each_breast`)
  and, from the statute (1)(B), an MQSA-certified facility. No order by a
  physician is read for screening (the text asks it of the diagnostic only);
  `for_routine_screening` is not read for screening (see below).
- Age bands in whole years on the date of service: "under age 35" is 0-34,
  not covered; "over age 34, but under age 40" is 35-39, where "only one
  screening mammography" is paid: covered unless Medicare has already paid
  one at those ages (`screening_paid_age_35_to_39`), and the 11-month rule
  is not read (the text sets it for "a woman over age 39" only); "over age
  39" is 40 and over, where the 11-month rule alone limits frequency and the
  35-39 payment is not read.
- The 11-month rule: "after at least 11 months have passed following the
  month in which the last screening mammography was performed". Months are
  calendar months and the count starts with the month after the last
  screening's month; 11 of them have passed at the start of the 12th month
  after it. So a last screening in January 2024 allows the next from
  2025-01-01 (any day of January 2025), and not on 2024-12-31. Only months
  count: the day of the last screening and of the date of service, month
  ends and leap days change nothing. A last screening in a month after the
  date of service's is not 11 months past (not covered). With no prior
  screening (`prior_screening_mammogram` false) the rule is met and the
  month is not read. "The last screening" is any earlier screening
  mammogram, whoever paid for it (the vocabulary's reading, taken: the text
  says "performed").
- Diagnostic: "A diagnostic mammography is a covered service if it is ordered
  by a doctor of medicine or osteopathy": the order is required for every
  diagnostic route. The routes, any one of which suffices with the order:
  signs or symptoms of breast disease, a personal history of breast cancer,
  a personal history of biopsy-proven benign breast disease (the
  definition's three, each "a diagnostic mammography" and so covered when
  ordered), or the physician's judgment that a mammogram is appropriate
  ("A patient is asymptomatic but ... the physician's judgment is that a
  mammogram is appropriate"; the asymptomatic condition changes nothing, a
  symptomatic patient being covered by the first route). Sex and age are not
  read ("a man or woman"); nor are the views, the facility or the frequency
  (the text sets them for screening).
- Routine screening: "Use of mammograms in routine screening of: (1)
  asymptomatic women aged 50 and over, and (2) asymptomatic women aged 40 or
  over whose mothers or sisters have had the disease, is considered
  medically appropriate, but would not be covered for Medicare purposes."
  It closes the paragraph on covered diagnostic tests and answers its third
  condition ("A patient is asymptomatic but ... the physician's judgment is
  that a mammogram is appropriate"): an asymptomatic patient imaged
  routinely, though appropriately, is not covered on the physician's
  judgment. It does not reach the other routes: a patient with signs or
  symptoms is not "asymptomatic", and a personal history of breast cancer
  or of benign breast disease makes the mammogram diagnostic by definition
  (the groups the sentence names are drawn by age and a mother's or sister's
  disease, never the patient's own history). It binds at any age and sex
  (the ages name where routine screening is appropriate; younger patients'
  is not even that). A screening mammography is paid under the statute's
  rules, which this older sentence does not limit.
  REVISED after comparing with the encoding: first read as closing every
  diagnostic route (a routine purpose denying even a symptomatic patient).
  The sentence's "asymptomatic" and its "considered medically appropriate",
  which mirrors the third condition's "the physician's judgment is that a
  mammogram is appropriate", tie it to the judgment route alone; the first
  reading was wrong.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from datetime import date
from functools import cache
from itertools import product
from typing import Any

from tests.oracle.minimal_sets import minimal_sufficient_sets

FIRST_DAY = date(1978, 5, 15)  # "effective date of this version 05/15/1978"
BASELINE_AGE = 35  # "under age 35" / "over age 34, but under age 40"
ANNUAL_AGE = 40  # "over age 39"
MONTHS_FOLLOWING = 11  # "at least 11 months have passed following the month ..."
AGE_REGIONS = (34, 35, 40)

ENUMS: Mapping[str, tuple[str, ...]] = {
    "mammogram_type": ("screening", "diagnostic"),
    "sex": ("female", "male"),
}
# The vocabulary's facts in rank order, the date of service left out (always known).
FACTS = (
    "medicare_beneficiary",
    "mammogram_type",
    "sex",
    "age",
    "breast_signs_or_symptoms",
    "personal_history_breast_cancer",
    "personal_history_benign_breast_biopsy",
    "physician_judges_appropriate",
    "for_routine_screening",
    "ordered_by_md_or_do",
    "physician_interpretation",
    "two_views_each_breast",
    "mqsa_certified_facility",
    "screening_paid_age_35_to_39",
    "prior_screening_mammogram",
    "last_screening_mammogram_month",
)
BOOL_FACTS = tuple(
    f for f in FACTS if f not in ENUMS and f not in ("age", "last_screening_mammogram_month")
)
DEFAULTS: Mapping[str, Any] = {"medicare_beneficiary": True}

Get = Callable[[str], Any]


def month_number(day: date) -> int:
    """The calendar month of a day as a count of months (consecutive months differ by 1)."""
    return day.year * 12 + day.month - 1


def first_of_month(number: int) -> date:
    """The first day of the month `month_number` gives `number` for."""
    year, month = divmod(number, 12)
    return date(year, month + 1, 1)


def eleven_months_passed(last: date, day: date) -> bool:
    """ "at least 11 months have passed following the month in which the last
    screening mammography was performed": the months after the last one's
    month, up to the date of service's month (excluded), are 11 or more."""
    return month_number(day) - month_number(last) - 1 >= MONTHS_FOLLOWING


def decide(get: Get, day: date) -> bool:
    """Coverage of one scenario on a date of service, reading facts through `get`."""
    if day < FIRST_DAY:
        raise ValueError(f"the text decides no date of service before {FIRST_DAY}: {day}")
    # "would not be covered for Medicare purposes"; "payment may be made under this part".
    if not get("medicare_beneficiary"):
        return False
    # Both definitions: "and includes a physician's interpretation of the
    # results of the procedure".
    if not get("physician_interpretation"):
        return False
    if get("mammogram_type") == "screening":
        return _screening(get, day)
    return _diagnostic(get)


def _screening(get: Get, day: date) -> bool:
    # "A screening mammography is a radiologic procedure furnished to a woman
    # without signs or symptoms of breast disease, for the purpose of early
    # detection of breast cancer"
    if get("sex") != "female" or get("breast_signs_or_symptoms"):
        return False
    # "A screening mammography has limitations as it must be, at a minimum a
    # two-view exposure (cranio-caudal and a medial lateral oblique view) of each breast."
    if not get("two_views_each_breast"):
        return False
    # Statute (1)(B): "if the screening mammography is conducted by a facility
    # that has a certificate (or provisional certificate) issued under section 263b"
    if not get("mqsa_certified_facility"):
        return False
    age = get("age")
    # "Payment may not be made for a screening mammography performed on a woman under age 35."
    if age < BASELINE_AGE:
        return False
    # "Payment may be made for only one screening mammography performed on a
    # woman over age 34, but under age 40."
    if age < ANNUAL_AGE:
        return not get("screening_paid_age_35_to_39")
    # "For an asymptomatic woman over age 39, payment may be made for a
    # screening mammography performed after at least 11 months have passed
    # following the month in which the last screening mammography was performed."
    if not get("prior_screening_mammogram"):
        return True
    return eleven_months_passed(get("last_screening_mammogram_month"), day)


def _diagnostic(get: Get) -> bool:
    # "A diagnostic mammography is a covered service if it is ordered by a
    # doctor of medicine or osteopathy as defined in §1861(r)(1) of the Act."
    if not get("ordered_by_md_or_do"):
        return False
    # "furnished to a man or woman with signs and symptoms of breast disease, or
    # a personal history of breast cancer, or a personal history of biopsy -
    # proven benign breast disease"; "A radiological mammogram is a covered
    # diagnostic test under the following conditions: A patient has distinct
    # signs and symptoms ...; A patient has a history of breast cancer; or"
    if (
        get("breast_signs_or_symptoms")
        or get("personal_history_breast_cancer")
        or get("personal_history_benign_breast_biopsy")
    ):
        return True
    # "A patient is asymptomatic but, on the basis of the patient's history and
    # other factors the physician considers significant, the physician's
    # judgment is that a mammogram is appropriate. Use of mammograms in routine
    # screening of: (1) asymptomatic women aged 50 and over, and (2)
    # asymptomatic women aged 40 or over whose mothers or sisters have had the
    # disease, is considered medically appropriate, but would not be covered
    # for Medicare purposes."
    return bool(get("physician_judges_appropriate")) and not get("for_routine_screening")


def covered(facts: Mapping[str, Any], day: date) -> bool:
    """Coverage of one complete scenario (every fact `decide` reads is given)."""
    return decide(lambda fact: facts[fact], day)


# --- the three-valued semantics, by enumeration over regions ---------------


def domain(fact: str, day: date) -> tuple[Any, ...]:
    """One value per region of a fact, as of the date of service: for the last
    screening's month, the latest month 11 months have passed after, and the
    month after it."""
    if fact in BOOL_FACTS:
        return (True, False)
    if fact in ENUMS:
        return ENUMS[fact]
    if fact == "age":
        return AGE_REGIONS
    if fact == "last_screening_mammogram_month":
        edge = month_number(day) - MONTHS_FOLLOWING - 1
        return (first_of_month(edge), first_of_month(edge + 1))
    raise ValueError(f"not a fact of NCD 220.4: {fact}")


def region_key(fact: str, value: Any, day: date) -> Any:
    """The region a value falls in (its stand-in in `domain`)."""
    if fact == "age":
        return AGE_REGIONS[(value >= BASELINE_AGE) + (value >= ANNUAL_AGE)]
    if fact == "last_screening_mammogram_month":
        return domain(fact, day)[not eleven_months_passed(value, day)]
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
    """Every result `probe` gives over the completions of `fixed`, branching on
    an unknown fact where it is first read, stopping early once `stop` holds."""
    results: set[Any] = set()
    pending = [dict(fixed)]
    while pending:
        assignment = pending.pop()

        def get(fact: str, assignment: dict[str, Any] = assignment) -> Any:
            if fact not in assignment:
                raise _Unknown(fact)
            return assignment[fact]

        try:
            results.add(probe(get))
        except _Unknown as unknown:
            pending.extend({**assignment, unknown.fact: v} for v in domain(unknown.fact, day))
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
        for i, a in enumerate(values):
            for b in values[i + 1 :]:

                def flips(get: Get, fact: str = fact, a: Any = a, b: Any = b) -> bool:
                    return decide(_setting(get, fact, a), day) != decide(
                        _setting(get, fact, b), day
                    )

                if True in _reachable(flips, fixed, day, lambda r: True in r):
                    turns.add(fact)
                    break
            if fact in turns:
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
    each fact (2**12 booleans * 2 types * 2 sexes * 3 ages * 2 months = 98,304)."""
    for values in product(*(domain(f, day) for f in FACTS)):
        yield dict(zip(FACTS, values, strict=True))
