"""A test-only oracle: Medicare NCD 20.4 (implantable cardioverter
defibrillators) as plain Python.

Written from the policy text (../shared/policies/, NCD version 5) and the
fact vocabulary alone, without reading the encoding's rules, so the two can
check each other. `decide` gives coverage of one scenario on a date of
service; `verdict`, `missing` and `explanations` give the three-valued
semantics of README "Semantics" exactly, over every completion.

Invariants:
- `decide` reads facts only through `get`, one at a time and only when the
  branch it is on needs them (short-circuit), so the completions of a partial
  case are enumerated as a decision tree: a fact is branched on only where it
  is read, over one value per region the TEXT draws (LVEF at or below 30, at
  or below 35, above 35; each event date inside or outside its waiting period
  counted back from the date of service). That is brute force over every
  completion, without the product of 24 domains.
- The date of service is always known (the reference date every case states);
  it is not one of the facts the explanations are drawn from.
- Minimal explanations are found by dualisation (each minimal sufficient set
  is a minimal hitting set of the complements of the maximal insufficient
  sets), exact because sufficiency of a definite verdict is monotone.

Readings, each decided from the text before comparing with the encoding:
- Medicare only: the NCD decides "reasonable and necessary" for Medicare;
  anyone else is not covered under it (`medicare_beneficiary`, default true).
- Initial vs replacement (vocabulary's reading, taken): an initial
  implantation is judged by B1-B5, a replacement by B6 alone; B6 covers a
  replacement only for end of battery life, ERI or device/lead malfunction.
- B1: a `qualifying` sustained VT or VF arrest; no LVEF, NYHA, waiting period
  or shared decision making (the text attaches SDM to B2-B5 only).
- B2: prior MI, LVEF <= 30 (0.30 read as 30%, "<=" includes 30); not NYHA IV
  ("none" and I-III pass); no CABG/PCI within the past 3 months, no MI within
  the past 40 days, not a revascularization candidate; SDM.
- B3: severe ischemic dilated cardiomyopathy, NO personal history of
  sustained VT or VF arrest (any episode, `qualifying` or `other_cause`, is a
  history), NYHA II or III, LVEF <= 35 (35 included); the same waiting
  periods and candidate exclusion; SDM.
- B4: as B3 for non-ischemic cardiomyopathy, plus optimal medical therapy
  "for at least 3 months": on it, and its start on or before the date of
  service minus 3 calendar months (exactly 3 months counts).
- B5: a documented familial/genetic high-risk disorder; SDM.
- Waiting periods, "within the past 40 days": an MI whose date is fewer than
  40 days before the date of service (DOS - MI < 40 days) is within; an MI
  exactly 40 days before is past the period (the trials' "at least 40 days
  after MI"). "Within the past 3 months": a CABG/PCI after the day 3 calendar
  months before the date of service is within; one on that day is past it.
  A month step from a day the shorter month lacks lands on its last day
  (May 31 minus 3 months is February 28, or 29 in a leap year). An event
  dated after the date of service is inside its waiting period (it is not
  yet 40 days / 3 months past). A date is read only when its boolean holds.
- Pacemaker exception: "Exceptions to waiting periods": `combined_with_pacemaker`
  waives both waiting periods (MI 40 days, CABG/PCI 3 months) and nothing
  else (not NYHA IV, not the revascularization candidate exclusion, nor the
  rest of the indication); it applies where waiting periods apply: B2-B4.
- Replacement exception: the waiting periods bind B2-B4 only, which a
  replacement is not judged by, so it changes nothing further.
- Additional criteria: "For each of the 6 covered indications above" read
  literally: clinically stable, LVEF measured by one of the four named
  methods (`lvef_method` other than `other`), no irreversible brain damage,
  no non-cardiac disease with survival under 1 year, no SVT with a poorly
  controlled rate bind B1-B6 alike, replacements included. (The alternative,
  that the LVEF-method criterion binds only B2-B4, which read an LVEF, is
  not taken: the sentence names each of the 6.)
- D: a UNOS heart-transplant candidate's bridge-to-transplant ICD "is
  determined by the local MACs": covered when the MAC has determined to
  cover it (`mac_determined_coverage`), as a further route beside B1-B6 and
  without their criteria; a patient who meets a national indication is
  covered whatever the MAC said. Medicare still required.
- Category B IDE trials: no fact states a trial; nothing is read of it.
"""

from __future__ import annotations

from calendar import monthrange
from collections.abc import Callable, Iterable, Mapping
from datetime import date, timedelta
from functools import cache
from itertools import product
from typing import Any

from tests.oracle.minimal_sets import minimal_sufficient_sets

FIRST_DAY = date(2018, 2, 15)  # "Effective for services performed on or after February 15, 2018"
MI_WAIT_DAYS = 40  # "Had an MI within the past 40 days"
REVASC_WAIT_MONTHS = 3  # "Had a CABG, or PCI ..., within the past 3 months"
OMT_MONTHS = 3  # "been on optimal medical therapy for at least 3 months"
LVEF_B2 = 30.0  # "LVEF <= 0.30"
LVEF_B3_B4 = 35.0  # "LVEF <= 35%"
LVEF_REGIONS = (30.0, 35.0, 50.0)
LVEF_METHODS = ("echocardiography", "radionuclide_imaging", "cardiac_mri", "catheter_angiography")

ENUMS: Mapping[str, tuple[str, ...]] = {
    "icd_service": ("initial", "replacement"),
    "replacement_reason": (
        "end_of_battery_life",
        "elective_replacement_indicator",
        "malfunction",
        "other",
    ),
    "sustained_vt_history": ("none", "qualifying", "other_cause"),
    "vf_arrest_history": ("none", "qualifying", "other_cause"),
    "lvef_method": (*LVEF_METHODS, "other"),
    "nyha_class": ("none", "i", "ii", "iii", "iv"),
    "severe_dilated_cardiomyopathy": ("none", "ischemic", "non_ischemic"),
}
DATE_FACTS = ("last_mi_date", "last_revascularization_date", "optimal_medical_therapy_start")
# The vocabulary's facts in rank order, the date of service left out (always known).
FACTS = (
    "medicare_beneficiary",
    "icd_service",
    "replacement_reason",
    "sustained_vt_history",
    "vf_arrest_history",
    "prior_mi",
    "last_mi_date",
    "lvef",
    "lvef_method",
    "nyha_class",
    "prior_revascularization",
    "last_revascularization_date",
    "revascularization_candidate",
    "combined_with_pacemaker",
    "severe_dilated_cardiomyopathy",
    "on_optimal_medical_therapy",
    "optimal_medical_therapy_start",
    "familial_high_risk_disorder",
    "shared_decision_making",
    "clinically_stable",
    "irreversible_brain_damage",
    "noncardiac_limited_survival",
    "svt_poorly_controlled_rate",
    "unos_heart_transplant_candidate",
    "mac_determined_coverage",
)
BOOL_FACTS = tuple(f for f in FACTS if f not in ENUMS and f not in DATE_FACTS and f != "lvef")
DEFAULTS: Mapping[str, Any] = {"medicare_beneficiary": True}

Get = Callable[[str], Any]


def months_before(day: date, months: int) -> date:
    """The same day `months` calendar months earlier, or the last day of that
    month when it is shorter."""
    year, month = divmod(day.year * 12 + day.month - 1 - months, 12)
    return date(year, month + 1, min(day.day, monthrange(year, month + 1)[1]))


def mi_within_wait(mi: date, day: date) -> bool:
    """ "Had an MI within the past 40 days": fewer than 40 days before the date of service."""
    return (day - mi).days < MI_WAIT_DAYS


def revascularization_within_wait(done: date, day: date) -> bool:
    """ "within the past 3 months": after the day 3 calendar months before."""
    return done > months_before(day, REVASC_WAIT_MONTHS)


def therapy_long_enough(start: date, day: date) -> bool:
    """ "for at least 3 months": begun on or before the day 3 months before."""
    return start <= months_before(day, OMT_MONTHS)


def decide(get: Get, day: date) -> bool:
    """Coverage of one scenario on a date of service, reading facts through `get`."""
    if day < FIRST_DAY:
        raise ValueError(f"the text decides no date of service before {FIRST_DAY}: {day}")
    # B: "CMS has determined that ... the use of ICDs ... is reasonable and necessary"
    # (a Medicare NCD: Medicare beneficiaries only).
    if not get("medicare_beneficiary"):
        return False
    if _national(get, day):
        return True
    # D: "For patients that are candidates for heart transplantation on the UNOS
    # transplant list awaiting a donor heart, coverage of ICDs ... as a
    # bridge-to-transplant ... is determined by the local MACs."
    return bool(get("unos_heart_transplant_candidate")) and bool(get("mac_determined_coverage"))


def _national(get: Get, day: date) -> bool:
    # "For each of the 6 covered indications above, the following additional
    # criteria must also be met: ..."
    if not _additional_criteria(get):
        return False
    if get("icd_service") == "replacement":
        # B6: "Patients with an existing ICD may receive an ICD replacement if it is
        # required due to the end of battery life, elective replacement indicator
        # (ERI), or device/lead malfunction."
        return bool(get("replacement_reason") != "other")
    return _b1(get) or _b2(get, day) or _b3(get, day) or _b4(get, day) or _b5(get)


def _additional_criteria(get: Get) -> bool:
    return (
        # "Patients must be clinically stable (e.g., not in shock, from any etiology)"
        bool(get("clinically_stable"))
        # "LVEF must be measured by echocardiography, radionuclide (nuclear medicine)
        # imaging, cardiac magnetic resonance imaging (MRI), or catheter angiography"
        and get("lvef_method") in LVEF_METHODS
        # "Patients must not have: Significant, irreversible brain damage; or, Any
        # disease, other than cardiac disease ... associated with a likelihood of
        # survival less than 1 year; or, Supraventricular tachycardia such as atrial
        # fibrillation with a poorly controlled ventricular rate."
        and not get("irreversible_brain_damage")
        and not get("noncardiac_limited_survival")
        and not get("svt_poorly_controlled_rate")
    )


def _b1(get: Get) -> bool:
    # B1: "An episode of sustained VT, either spontaneous or induced by an EP study,
    # not associated with an acute MI and not due to a transient or reversible
    # cause; or An episode of cardiac arrest due to VF, not due to a transient or
    # reversible cause."
    return bool(
        get("sustained_vt_history") == "qualifying" or get("vf_arrest_history") == "qualifying"
    )


def _waiting_periods_met(get: Get, day: date) -> bool:
    # "must not have: Had a CABG, or PCI ..., within the past 3 months; or, Had an MI
    # within the past 40 days"; "Exceptions to waiting periods ...: Cardiac
    # Pacemakers: ... may receive the combined devices in one procedure".
    mi_recent = bool(get("prior_mi")) and mi_within_wait(get("last_mi_date"), day)
    revasc_recent = bool(get("prior_revascularization")) and revascularization_within_wait(
        get("last_revascularization_date"), day
    )
    return not (mi_recent or revasc_recent) or bool(get("combined_with_pacemaker"))


def _b2(get: Get, day: date) -> bool:
    # B2: "Patients with a prior MI and a measured LVEF <= 0.30. Patients must not
    # have: NYHA classification IV heart failure; or ...; or, Clinical symptoms and
    # findings that would make them a candidate for coronary revascularization.
    # For these patients identified in B2, a formal shared decision making
    # encounter must occur ..."
    return (
        bool(get("prior_mi"))
        and get("lvef") <= LVEF_B2
        and get("nyha_class") != "iv"
        and _waiting_periods_met(get, day)
        and not get("revascularization_candidate")
        and bool(get("shared_decision_making"))
    )


def _primary_prevention(get: Get, day: date, cardiomyopathy: str) -> bool:
    # B3/B4: "severe, [non-]ischemic, dilated cardiomyopathy but no personal history
    # of sustained VT or cardiac arrest due to VF, and have NYHA Class II or III
    # heart failure, LVEF <= 35%. Additionally, patients must not have: [waiting
    # periods]; or, Clinical symptoms and findings that would make them a candidate
    # for coronary revascularization." + the SDM sentence.
    return (
        get("severe_dilated_cardiomyopathy") == cardiomyopathy
        and get("sustained_vt_history") == "none"
        and get("vf_arrest_history") == "none"
        and get("nyha_class") in ("ii", "iii")
        and get("lvef") <= LVEF_B3_B4
        and _waiting_periods_met(get, day)
        and not get("revascularization_candidate")
        and bool(get("shared_decision_making"))
    )


def _b3(get: Get, day: date) -> bool:
    return _primary_prevention(get, day, "ischemic")


def _b4(get: Get, day: date) -> bool:
    # B4 also: "been on optimal medical therapy for at least 3 months".
    return (
        _primary_prevention(get, day, "non_ischemic")
        and bool(get("on_optimal_medical_therapy"))
        and therapy_long_enough(get("optimal_medical_therapy_start"), day)
    )


def _b5(get: Get) -> bool:
    # B5: "documented, familial or genetic disorders with a high risk of
    # life-threatening tachyarrhythmias ..." + the SDM sentence.
    return bool(get("familial_high_risk_disorder")) and bool(get("shared_decision_making"))


def covered(facts: Mapping[str, Any], day: date) -> bool:
    """Coverage of one complete scenario (every fact `decide` reads is given)."""
    return decide(lambda fact: facts[fact], day)


# --- the three-valued semantics, by enumeration over regions ---------------


def domain(fact: str, day: date) -> tuple[Any, ...]:
    """One value per region of a fact, as of the date of service."""
    if fact in BOOL_FACTS:
        return (True, False)
    if fact in ENUMS:
        return ENUMS[fact]
    if fact == "lvef":
        return LVEF_REGIONS
    if fact == "last_mi_date":
        edge = day - timedelta(days=MI_WAIT_DAYS)
        return (edge, edge + timedelta(days=1))
    if fact == "last_revascularization_date":
        edge = months_before(day, REVASC_WAIT_MONTHS)
        return (edge, edge + timedelta(days=1))
    if fact == "optimal_medical_therapy_start":
        edge = months_before(day, OMT_MONTHS)
        return (edge, edge + timedelta(days=1))
    raise ValueError(f"not a fact of NCD 20.4: {fact}")


def region_key(fact: str, value: Any, day: date) -> Any:
    """The region a value falls in (its stand-in in `domain`)."""
    if fact == "lvef":
        return next(r for r in LVEF_REGIONS if value <= r) if value <= LVEF_B3_B4 else 50.0
    if fact == "last_mi_date":
        return domain(fact, day)[mi_within_wait(value, day)]
    if fact == "last_revascularization_date":
        return domain(fact, day)[revascularization_within_wait(value, day)]
    if fact == "optimal_medical_therapy_start":
        return domain(fact, day)[not therapy_long_enough(value, day)]
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
    each fact (2,123,366,400 of them: sample, do not exhaust)."""
    for values in product(*(domain(f, day) for f in FACTS)):
        yield dict(zip(FACTS, values, strict=True))
