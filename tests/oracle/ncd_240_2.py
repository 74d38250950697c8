"""A test-only oracle: Medicare NCD 240.2 (home use of oxygen) as plain Python.

Written from the policy text (../shared/policies/, NCD version 2, ncdid=169)
and the fact vocabulary alone, without reading the encoding's rules, so the
two can check each other. `decide` gives coverage of one scenario as of the
qualifying study's date (the policy's reference date, which every case
states); `verdict`, `missing` and `explanations` give the three-valued
semantics of README "Semantics" exactly, over every completion.

Invariants:
- `decide` reads facts only through `get`, one at a time and only when the
  branch it is on needs them (short-circuit), so the completions of a partial
  case are enumerated as a decision tree: a fact is branched on only where it
  is read, over one value per region the TEXT draws (PaO2 at or below 55,
  56-59, 60 or more at rest; at or below 55 or 56 or more during sleep and
  exercise; SaO2 at or below 88, 89, 90 or more at rest; decreases of more
  than 10 mm Hg / 5 points or not; P wave above 3 mm or not; hematocrit above
  56% or not; the discharge date before the study, from the study's day to
  two days after it, or later). That is brute force over every completion.
- The qualifying study's date is always known (the reference date): it is the
  frame the discharge date is compared with, never one of the facts the
  explanations are drawn from (the text compares it with no constant).
- Minimal explanations are found by dualisation (each minimal sufficient set
  is a minimal hitting set of the complements of the maximal insufficient
  sets), exact because sufficiency of a decided verdict is monotone.

Readings, each decided from the text before comparing with the encoding (one,
D's, revised after it: marked below)
(the vocabulary's own readings, which fix what each fact means, are taken as
given: one study per condition, the arterial blood gas when both were done;
whole-number PaO2/SaO2; decreases stated as facts):
- Medicare only: a Medicare NCD; anyone else is not covered under it
  (`medicare_beneficiary`, default true).
- Covered = Medicare, not precluded by C, and: for a patient B describes
  (one exhibiting hypoxemia, below), B alone; for any other patient, D (the
  MAC's determination).
- B's claim conditions bind every group: the test "ordered and evaluated by
  the treating practitioner" (`test_ordered_and_evaluated`) and "performed at
  the time of need".
- Oximetry: an SaO2 value counts only when `oximetry_by_qualified_tester`
  ("performed under his or her supervision or ... by a qualified provider or
  supplier of laboratory services"), wherever an SaO2 value is read (rest,
  awake, sleep, sleep decrease, exercise); an arterial blood gas has no
  performer condition. An unacceptable oximetry study shows nothing, on
  either side of any threshold (not even the awake level).
- Time of need, inpatient ("within 2 days of discharge"): the study is done
  on the day of discharge or in the two days before it: study date <=
  discharge date <= study date + 2 days, both edges included (a study two
  days before discharge is within; three is not; a study after discharge is
  not an inpatient's study). The alternative, a window of two days on either
  side of discharge, is not taken: the sentence is about "an inpatient
  hospital patient", and a study after discharge is no longer an inpatient's.
  Otherwise: `test_during_symptomatic_period` as stated.
- Group I at rest: PaO2 <= 55 or SaO2 <= 88 (the rest study, room air).
- Group I during sleep, level: sleep PaO2 <= 55 or SaO2 <= 88 AND the
  patient "demonstrates" PaO2 >= 56 or SaO2 >= 89 while awake, read from the
  rest study (the vocabulary's one awake measurement); no rest study, or an
  unacceptable oximetry one, demonstrates nothing, so this branch fails.
- Group I during sleep, fall: "a decrease in arterial PO2 more than 10 mm Hg,
  or decrease in arterial oxygen saturation more than 5%" (strict: 11 mm Hg,
  6 points), of the sleep study's kind (an ABG reads the PaO2 decrease,
  oximetry the SaO2 decrease), AND symptoms or signs. Reading: the awake
  condition ("for a patient who demonstrates ... while awake") belongs to the
  first alternative only; the fall is a separate alternative after "; or",
  so it needs no awake level. (The alternative: the awake level binds both.)
- Sleep unit: "In either of these cases, coverage is provided only for use
  of oxygen during sleep ... Portable oxygen, therefore, would not be covered
  in this situation": a request qualifying only through the sleep criteria is
  covered for stationary equipment only; a request also meeting Group I at
  rest or during exercise, or Group II, may be portable.
- Group I during exercise: exercise PaO2 <= 55 or SaO2 <= 88 AND awake at
  rest PaO2 >= 56 or SaO2 >= 89 (the rest study) AND "the use of oxygen
  improves the hypoxemia" (`exercise_oxygen_improves`). No unit limit (the
  text states none).
- Group II: PaO2 56-59 (both ends included) or SaO2 exactly 89, read at rest
  (the text names no condition; the rest study is the measurement with no
  qualifier), AND one of: dependent edema suggesting CHF; pulmonary
  hypertension or cor pulmonale measured; P wave greater than 3 mm (3.0 is
  not); hematocrit greater than 56% (56.0 is not).
- Group III: the NCD defines none (the header says so): nothing is read.
- Hypoxemia ("Patients exhibiting hypoxemia are defined using the clinical
  criteria below"), the patient B describes, for C's "in the absence of
  hypoxemia" / "without ... evidence of hypoxemia" and for D's "not described
  in subsection B": Group I at rest; during sleep (the level with the awake
  level, or the fall with its symptoms or signs); during exercise, the level
  at exercise with the awake level at rest, whether or not oxygen improves it
  (the text calls it "the hypoxemia that was demonstrated during exercise"
  before it makes provision depend on the improvement); Group II's level with
  one of its conditions ("Coverage is available ... if there is"). The
  oximetry performer counts (an unacceptable study shows nothing); the claim
  conditions (ordered/evaluated, time of need) and the unit do not: they
  concern the claim, not the patient. Cor pulmonale, for "Breathlessness
  without cor pulmonale": Group II's "Pulmonary hypertension or cor
  pulmonale, determined by ..." (`pulmonary_hypertension_measured` or a P
  wave above 3 mm).
- C precludes coverage, B's and the MAC's alike: oxygen for angina without
  hypoxemia; for breathlessness without cor pulmonale and without hypoxemia;
  for severe PVD with desaturation in an extremity (always); for a terminal
  illness that does not affect breathing (always). "will not cover ... in the
  following circumstances" is read as overriding B for the last two, which
  carry no condition (for the first two B cannot hold anyway).
- D: "The MAC may determine reasonable and necessary coverage ... for
  patients who are not described in subsection B or precluded by subsection
  C of this NCD. Initial coverage for patients with other conditions ...":
  covered when `mac_determined_coverage`, for a patient who does not exhibit
  hypoxemia as B defines it and whom C does not preclude. A hypoxemic patient
  whose claim B does not cover (a test not ordered by the treating
  practitioner, outside the time of need, a portable unit for sleep only, no
  improvement with oxygen during exercise) is not the MAC's to cover: D's
  "patients with other conditions" are those B does not describe, and B's
  limits would mean nothing if a MAC could lift them. (Revised after the
  first comparison: the oracle first read "not described in subsection B"
  as "not covered under B", opening D to every patient B did not cover, and
  counted the exercise criterion as hypoxemia only with the improvement; see
  tests/oracle/test_ncd_240_2_oracle.py.) The 90-day limit and renewal are
  the MAC's ("may ... at MAC discretion"), carried by the fact's meaning; the
  NCD states no re-certification for Groups I and II.
- The MACs' duty to "take into account variations in oxygen measurements"
  has no fact: nothing is read of it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from datetime import date, timedelta
from functools import cache
from itertools import product
from typing import Any

from tests.oracle.minimal_sets import minimal_sufficient_sets

# B, Group I: "An arterial PO2 at or below 55 mm Hg, or an arterial oxygen
# saturation at or below 88%"; awake/at rest: "at or above 56 mm Hg, or ... at
# or above 89%"; Group II: "arterial PO2 is 56-59 mm Hg or ... saturation is 89%".
PAO2_LOW = 55
PAO2_AWAKE = 56
PAO2_GROUP_II_HIGH = 59
SAO2_LOW = 88
SAO2_AWAKE = 89
SAO2_GROUP_II = 89
PAO2_FALL = 10  # "a decrease in arterial PO2 more than 10 mm Hg"
SAO2_FALL = 5  # "or decrease in arterial oxygen saturation more than 5%"
P_WAVE_MM = 3.0  # "P wave greater than 3 mm"
HEMATOCRIT = 56.0  # "a hematocrit greater than 56%"
DISCHARGE_WINDOW_DAYS = 2  # "within 2 days of discharge"
EARLIEST_DATE = date(2000, 1, 1)  # the vocabulary's lower bound of both dates

STUDIES = ("arterial_blood_gas", "oximetry", "none")
ENUMS: Mapping[str, tuple[str, ...]] = {
    "oxygen_equipment": ("stationary", "portable"),
    "rest_study": STUDIES,
    "sleep_study": STUDIES,
    "exercise_study": STUDIES,
}
# One value per region of each number, lowest region first, each region's
# highest value but the last (`region_key` relies on it).
NUMBER_REGIONS: Mapping[str, tuple[Any, ...]] = {
    "pao2_rest": (PAO2_LOW, PAO2_GROUP_II_HIGH, PAO2_GROUP_II_HIGH + 1),
    "sao2_rest": (SAO2_LOW, SAO2_GROUP_II, SAO2_GROUP_II + 1),
    "pao2_sleep": (PAO2_LOW, PAO2_AWAKE),
    "sao2_sleep": (SAO2_LOW, SAO2_AWAKE),
    "pao2_sleep_decrease": (PAO2_FALL, PAO2_FALL + 1),
    "sao2_sleep_decrease": (SAO2_FALL, SAO2_FALL + 1),
    "pao2_exercise": (PAO2_LOW, PAO2_AWAKE),
    "sao2_exercise": (SAO2_LOW, SAO2_AWAKE),
    "p_wave_amplitude": (P_WAVE_MM, P_WAVE_MM + 0.5),
    "hematocrit": (HEMATOCRIT, HEMATOCRIT + 0.5),
}
# The vocabulary's facts in rank order, the reference date (the qualifying
# study's date) left out: always known, it is the frame.
FACTS = (
    "medicare_beneficiary",
    "oxygen_equipment",
    "test_ordered_and_evaluated",
    "oximetry_by_qualified_tester",
    "inpatient_prescription",
    "discharge_date",
    "test_during_symptomatic_period",
    "rest_study",
    "pao2_rest",
    "sao2_rest",
    "sleep_study",
    "pao2_sleep",
    "sao2_sleep",
    "pao2_sleep_decrease",
    "sao2_sleep_decrease",
    "sleep_hypoxemia_signs",
    "exercise_study",
    "pao2_exercise",
    "sao2_exercise",
    "exercise_oxygen_improves",
    "dependent_edema_chf",
    "pulmonary_hypertension_measured",
    "p_wave_amplitude",
    "hematocrit",
    "treats_angina",
    "treats_breathlessness",
    "treats_pvd_desaturation",
    "terminal_illness_not_breathing",
    "mac_determined_coverage",
)
REFERENCE_DATE = "qualifying_test_date"
BOOL_FACTS = tuple(
    f for f in FACTS if f not in ENUMS and f not in NUMBER_REGIONS and f != "discharge_date"
)
DEFAULTS: Mapping[str, Any] = {"medicare_beneficiary": True}

Get = Callable[[str], Any]


def discharge_within_window(discharge: date, study: date) -> bool:
    """ "within 2 days of discharge": the study on the discharge day or in the
    two days before it (both edges included)."""
    return study <= discharge <= study + timedelta(days=DISCHARGE_WINDOW_DAYS)


def decide(get: Get, study_day: date) -> bool:
    """Coverage of one scenario as of the qualifying study's date, reading facts through `get`."""
    # B: "Oxygen therapy and oxygen equipment is covered in the home ..." (a
    # Medicare NCD: Medicare beneficiaries only).
    if not get("medicare_beneficiary"):
        return False
    if _precluded(get):
        return False
    if hypoxemia(get):
        # B describes the patient: B alone decides (its claim conditions, the
        # sleep-only unit and the improvement with oxygen are not for the MAC
        # to waive).
        return _national(get, study_day)
    # D: "The MAC may determine reasonable and necessary coverage of oxygen
    # therapy and oxygen equipment in the home for patients who are not
    # described in subsection B or precluded by subsection C of this NCD.
    # Initial coverage for patients with other conditions may be limited ..."
    return bool(get("mac_determined_coverage"))


def _precluded(get: Get) -> bool:
    # C: "The Centers for Medicare & Medicaid Services will not cover oxygen
    # therapy and oxygen equipment in the home in the following circumstances:"
    # "Severe peripheral vascular disease resulting in clinically evident
    # desaturation in one or more extremities."
    if get("treats_pvd_desaturation"):
        return True
    # "Terminal illnesses unless they affect the ability to breathe."
    if get("terminal_illness_not_breathing"):
        return True
    # "Angina pectoris in the absence of hypoxemia."
    if get("treats_angina") and not hypoxemia(get):
        return True
    # "Breathlessness without cor pulmonale or evidence of hypoxemia."
    return bool(get("treats_breathlessness")) and not _cor_pulmonale(get) and not hypoxemia(get)


def _national(get: Get, study_day: date) -> bool:
    # B: "Initial claims for oxygen therapy for hypoxemic patients must be based
    # on the results of a clinical test that has been ordered and evaluated by
    # the treating practitioner."
    if not get("test_ordered_and_evaluated"):
        return False
    # B: "Required qualifying arterial blood gas or oximetry studies must be
    # performed at the time of need."
    if not _time_of_need(get, study_day):
        return False
    if _group_i_rest(get) or _group_i_exercise(get) or _group_ii(get):
        return True
    # "In either of these cases, coverage is provided only for use of oxygen
    # during sleep, and then only one type of unit will be covered. Portable
    # oxygen, therefore, would not be covered in this situation."
    return _group_i_sleep(get) and get("oxygen_equipment") == "stationary"


def _time_of_need(get: Get, study_day: date) -> bool:
    if get("inpatient_prescription"):
        # "For an inpatient hospital patient the time of need is within 2 days of discharge."
        return discharge_within_window(get("discharge_date"), study_day)
    # "For those patients whose initial oxygen prescription does not originate
    # during an inpatient hospital stay, the time of need is during the period
    # when the treating practitioner notes signs and symptoms of illness that
    # can be relieved by oxygen in the patient who is to be treated at home."
    return bool(get("test_during_symptomatic_period"))


def hypoxemia(get: Get) -> bool:
    """ "Patients exhibiting hypoxemia are defined using the clinical criteria
    below: Group I: ... Group II: ...": the patient B describes, whatever the
    unit and the claim. During exercise the level at exercise and the awake
    level at rest describe the patient; the improvement with oxygen is a
    condition of provision ("supplemental oxygen is provided for during
    exercise if the use of oxygen improves the hypoxemia that was demonstrated
    during exercise": the text calls it hypoxemia before that test)."""
    return _group_i_rest(get) or _group_i_sleep(get) or _exercise_hypoxemia(get) or _group_ii(get)


def _measurement(get: Get, study_fact: str, pao2: str, sao2: str) -> tuple[str, int] | None:
    """The acceptable measurement of one condition: ("pao2", mm Hg) from an
    arterial blood gas, ("sao2", %) from oximetry performed as B requires, or
    None (no study, or oximetry that is not acceptable)."""
    study = get(study_fact)
    if study == "arterial_blood_gas":
        return ("pao2", get(pao2))
    if study == "oximetry":
        # "A measurement of arterial oxygen saturation obtained by ear or pulse
        # oximetry, however, is also acceptable when ordered and evaluated by the
        # treating practitioner and performed under his or her supervision or
        # when performed by a qualified provider or supplier of laboratory
        # services. A durable medical equipment (DME) supplier is not considered
        # a qualified provider ..."
        if not get("oximetry_by_qualified_tester"):
            return None
        return ("sao2", get(sao2))
    return None


def _at_rest(get: Get) -> tuple[str, int] | None:
    return _measurement(get, "rest_study", "pao2_rest", "sao2_rest")


def _low(measured: tuple[str, int] | None) -> bool:
    """ "An arterial PO2 at or below 55 mm Hg, or an arterial oxygen saturation at or below 88%"."""
    if measured is None:
        return False
    kind, value = measured
    return value <= (PAO2_LOW if kind == "pao2" else SAO2_LOW)


def _awake_normal(get: Get) -> bool:
    """ "for a patient who demonstrates an arterial PO2 at or above 56 mm Hg, or
    an arterial oxygen saturation at or above 89%, while awake" / "during the
    day while at rest": read from the study at rest."""
    measured = _at_rest(get)
    if measured is None:
        return False
    kind, value = measured
    return value >= (PAO2_AWAKE if kind == "pao2" else SAO2_AWAKE)


def _group_i_rest(get: Get) -> bool:
    # Group I: "An arterial PO2 at or below 55 mm Hg, or an arterial oxygen
    # saturation at or below 88%, taken at rest, breathing room air".
    return _low(_at_rest(get))


def _group_i_sleep(get: Get) -> bool:
    # "An arterial PO2 at or below 55 mm Hg, or an arterial oxygen saturation at
    # or below 88%, taken during sleep for a patient who demonstrates an arterial
    # PO2 at or above 56 mm Hg, or an arterial oxygen saturation at or above
    # 89%, while awake;"
    if _low(_measurement(get, "sleep_study", "pao2_sleep", "sao2_sleep")) and _awake_normal(get):
        return True
    # "or a greater than normal fall in oxygen level during sleep (a decrease in
    # arterial PO2 more than 10 mm Hg, or decrease in arterial oxygen saturation
    # more than 5%) associated with symptoms or signs reasonably attributable to
    # hypoxemia (e.g., impairment of cognitive processes and nocturnal
    # restlessness or insomnia)."
    fall = _measurement(get, "sleep_study", "pao2_sleep_decrease", "sao2_sleep_decrease")
    if fall is None:
        return False
    kind, decrease = fall
    if decrease <= (PAO2_FALL if kind == "pao2" else SAO2_FALL):
        return False
    return bool(get("sleep_hypoxemia_signs"))


def _group_i_exercise(get: Get) -> bool:
    # "An arterial PO2 at or below 55 mm Hg or an arterial oxygen saturation at
    # or below 88%, taken during exercise [...], for a patient who demonstrates
    # an arterial PO2 at or above 56 mm Hg, or an arterial oxygen saturation at
    # or above 89%, during the day while at rest. In this case, supplemental
    # oxygen is provided for during exercise if the use of oxygen improves the
    # hypoxemia that was demonstrated during exercise when the patient was
    # breathing room air."
    return _exercise_hypoxemia(get) and bool(get("exercise_oxygen_improves"))


def _exercise_hypoxemia(get: Get) -> bool:
    return _low(_measurement(get, "exercise_study", "pao2_exercise", "sao2_exercise")) and (
        _awake_normal(get)
    )


def _group_ii_level(get: Get) -> bool:
    # "Coverage is available for patients whose arterial PO2 is 56-59 mm Hg or
    # whose arterial blood oxygen saturation is 89%" (read at rest).
    measured = _at_rest(get)
    if measured is None:
        return False
    kind, value = measured
    if kind == "pao2":
        return PAO2_AWAKE <= value <= PAO2_GROUP_II_HIGH
    return value == SAO2_GROUP_II


def _cor_pulmonale(get: Get) -> bool:
    # "Pulmonary hypertension or cor pulmonale, determined by measurement of
    # pulmonary artery pressure, gated blood pool scan, echocardiogram, or "P"
    # pulmonale on EKG (P wave greater than 3 mm in standard leads II, III, or AVFL"
    return bool(get("pulmonary_hypertension_measured")) or get("p_wave_amplitude") > P_WAVE_MM


def _group_ii(get: Get) -> bool:
    # "... if there is: Dependent edema suggesting congestive heart failure; or,
    # [pulmonary hypertension or cor pulmonale]; or, Erythrocythemia with a
    # hematocrit greater than 56%."
    return _group_ii_level(get) and (
        bool(get("dependent_edema_chf")) or _cor_pulmonale(get) or get("hematocrit") > HEMATOCRIT
    )


def covered(facts: Mapping[str, Any], study_day: date) -> bool:
    """Coverage of one complete scenario (every fact `decide` reads is given)."""
    return decide(lambda fact: facts[fact], study_day)


# --- the three-valued semantics, by enumeration over regions ---------------


def domain(fact: str, study_day: date) -> tuple[Any, ...]:
    """One value per region of a fact, as of the qualifying study's date."""
    if fact in BOOL_FACTS:
        return (True, False)
    if fact in ENUMS:
        return ENUMS[fact]
    if fact in NUMBER_REGIONS:
        return NUMBER_REGIONS[fact]
    if fact == "discharge_date":
        # before the study (no such day within the bounds when the study is on
        # the earliest day); from the study's day to two days after; later
        regions = (
            study_day - timedelta(days=1),
            study_day,
            study_day + timedelta(days=DISCHARGE_WINDOW_DAYS + 1),
        )
        return tuple(d for d in regions if d >= EARLIEST_DATE)
    raise ValueError(f"not a fact of NCD 240.2: {fact}")


def region_key(fact: str, value: Any, study_day: date) -> Any:
    """The region a value falls in (its stand-in in `domain`)."""
    if fact in NUMBER_REGIONS:
        regions = NUMBER_REGIONS[fact]
        return next((r for r in regions[:-1] if value <= r), regions[-1])
    if fact == "discharge_date":
        before, within, after = (
            study_day - timedelta(days=1),
            study_day,
            study_day + timedelta(days=DISCHARGE_WINDOW_DAYS + 1),
        )
        if value < study_day:
            return before
        return within if discharge_within_window(value, study_day) else after
    return value


class _Unknown(Exception):
    def __init__(self, fact: str) -> None:
        super().__init__(fact)
        self.fact = fact


Key = tuple[tuple[str, Any], ...]


def _key(known: Mapping[str, Any], study_day: date) -> Key:
    return tuple(sorted((f, region_key(f, v, study_day)) for f, v in known.items()))


def _reachable(
    probe: Callable[[Get], Any],
    fixed: Mapping[str, Any],
    study_day: date,
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
            stack.extend({**assignment, unknown.fact: v} for v in domain(unknown.fact, study_day))
            continue
        if stop(results):
            break
    return results


@cache
def _verdict(known: Key, study_day: date) -> str:
    outcomes = _reachable(
        lambda get: decide(get, study_day), dict(known), study_day, lambda r: len(r) > 1
    )
    if outcomes == {True}:
        return "covered"
    if outcomes == {False}:
        return "not_covered"
    return "needs_information"


def verdict(known: Mapping[str, Any], study_day: date) -> str:
    """Covered in every completion, in none, or needs information (no default filled in)."""
    return _verdict(_key(known, study_day), study_day)


def with_defaults(facts: Mapping[str, Any]) -> dict[str, Any]:
    """The case's known facts: the vocabulary's defaults for facts it leaves absent."""
    return {**{f: v for f, v in DEFAULTS.items() if f not in facts}, **facts}


def _setting(get: Get, fact: str, value: Any) -> Get:
    """`get` with one fact set to a value."""

    def read(name: str) -> Any:
        return value if name == fact else get(name)

    return read


def missing(known: Mapping[str, Any], study_day: date) -> set[str]:
    """For needs_information, the unknown facts the verdict can turn on: for some
    filling of the other unknowns, changing the fact changes coverage."""
    if verdict(known, study_day) != "needs_information":
        return set()
    fixed = dict(_key(known, study_day))
    turns = set()
    for fact in (f for f in FACTS if f not in fixed):
        values = domain(fact, study_day)
        for a, b in ((a, b) for i, a in enumerate(values) for b in values[i + 1 :]):

            def flips(get: Get, fact: str = fact, a: Any = a, b: Any = b) -> bool:
                return decide(_setting(get, fact, a), study_day) != decide(
                    _setting(get, fact, b), study_day
                )

            if True in _reachable(flips, fixed, study_day, lambda r: True in r):
                turns.add(fact)
                break
    return turns


def explanations(known: Mapping[str, Any], study_day: date) -> set[frozenset[str]]:
    """Every minimal explanation: sets of known facts that alone (all else
    unknown, no default filled in again) give the case's verdict, no proper
    subset of which does. A needs_information case has only the empty one."""
    target = verdict(known, study_day)
    if target == "needs_information":
        return {frozenset()}

    def sufficient(subset: frozenset[str]) -> bool:
        return verdict({f: known[f] for f in subset}, study_day) == target

    return minimal_sufficient_sets(frozenset(known), sufficient)


def decision_leaves(study_day: date) -> list[tuple[dict[str, Any], bool]]:
    """Every leaf of `decide`'s tree as of a study date, in a fixed order: a
    partial scenario (the facts read on the way, each at a region's stand-in)
    and the decision it reaches whatever the facts it leaves unknown. The
    leaves partition the complete scenarios: each complete scenario extends
    exactly one of them."""
    leaves: list[tuple[dict[str, Any], bool]] = []
    stack: list[dict[str, Any]] = [{}]
    while stack:
        assignment = stack.pop()

        def get(fact: str, assignment: dict[str, Any] = assignment) -> Any:
            if fact not in assignment:
                raise _Unknown(fact)
            return assignment[fact]

        try:
            leaves.append((assignment, decide(get, study_day)))
        except _Unknown as unknown:
            values = domain(unknown.fact, study_day)
            stack.extend({**assignment, unknown.fact: v} for v in reversed(values))
    return leaves


def complete_scenarios(study_day: date) -> Iterable[dict[str, Any]]:
    """Every complete scenario as of a study date, one value per region of each
    fact (far too many to exhaust: sample them)."""
    for values in product(*(domain(f, study_day) for f in FACTS)):
        yield dict(zip(FACTS, values, strict=True))
