"""A test-only oracle: Ohio Medicaid UPDL, Immunomodulator Agents: Systemic
Inflammatory Disease (criteria effective 01/01/2024), as plain Python.

Written from the policy text (../shared/policies/, the Gainwell transcription
of the UPDL criteria) and the fact vocabulary alone, without reading the
encoding's rules, so the two can check each other. `decide` gives coverage of
one scenario on a date of service (the policy's reference date, which every
case states); `verdict`, `missing` and `explanations` give the three-valued
semantics of README "Semantics" exactly, over every completion.

Invariants:
- `decide` reads facts only through `get`, one at a time and only when the
  branch it is on needs them (short-circuit), so the completions of a partial
  case are enumerated as a decision tree: a fact is branched on only where it
  is read, over one value per region the TEXT draws. That is brute force over
  every completion.
- Regions: first-line trials fewer than two / two or more; preferred drugs
  indicated 0 / 1 / 2 or more; the failed preferred drugs by (how many, up to
  two; whether a preferred TNF inhibitor, Enbrel or Humira, is among them;
  whether Xeljanz IR is); BSA below 10 / 10 to 25 / above 25; CDAI below 220
  / 220 or more; PASI below 11 / 11 or more; sPGA below 3 / 3 or more; Hurley
  stage by option; the TB test on or before the date of service / after it;
  the phototherapy begun 90 days or more before the date of service / fewer;
  the requested drug by the criteria that name it (preferred, preferred TNF
  inhibitor, Taltz, non-preferred, non-preferred TNF inhibitor, Xeljanz oral
  solution, Xeljanz XR); every other fact by option.
- Approval lengths (initial 90 days, subsequent 365 days) are cautions, not
  part of the verdict, and are not modelled here.

Readings, each decided from the text before comparing with the encoding:
- Initial vs subsequent: a subsequent authorization (a renewal) is judged by
  "Subsequent Authorization Criteria" and "All Authorizations" alone; the
  Clinical PA, step therapy, non-preferred and diagnosis criteria are the
  initial authorization's (the Clinical PA's TB test is "prior to initiation",
  the phototherapy sentence says "initial authorization", and a renewal of
  the same drug is no "further" TNF inhibitor).
- "All Authorizations" binds both kinds: prescribed per FDA labeling, and
  the disease state and its severity criteria documented.
- Clinical PA binds every initial request, preferred or not ("PA" marks every
  preferred drug; a non-preferred drug is authorized only by its criteria,
  which add to the class's): two or more applicable first-line drugs failed
  ("at least two"), no current active infection, and, when the labeling
  requires it, a negative TB test dated on or before the date of service
  ("prior to initiation": a test on the day the drug is initiated precedes
  the first dose; no recency limit is stated, none is read).
- Atopic dermatitis: "at least 10% BSA involvement with two of the following:
  topical corticosteroids or topical calcineurin inhibitors unless atopic
  dermatitis is severe and involves >25% BSA". The two topical trials are the
  Clinical PA's first-line trials (the vocabulary's count); BSA above 25%
  (strictly) waives them, and with it the Clinical PA's two first-line drugs
  ("First line treatment can vary based upon the severity of disease");
  otherwise BSA 10% or more (10 included) and two trials. "Severe" is read as
  the >25% BSA itself (no other fact states it).
- Step therapy binds Taltz alone ("PA ST"): Enbrel or Humira, the preferred
  TNF inhibitors, among the failed preferred drugs ("at least one preferred TNF
  inhibitor indicated for diagnosis").
- Non-preferred drugs: necessity beyond convenience for why the patient
  cannot be changed to a preferred drug, OR, for Xeljanz oral solution (the
  one nonsolid oral formulation), necessity for why not a solid oral form;
  AND failed preferred drugs at least min(2, preferred drugs indicated) ("at
  least two preferred drugs, if indicated for diagnosis": as many as are
  indicated, up to two); AND for Xeljanz XR, Xeljanz IR among them ("its
  immediate release formulation (if available)": it is, as a preferred drug).
  "Brand names that have preferred generics": no preferred generic is in the
  table, so it binds no drug.
- Alopecia areata: a specialist prescriber and a failed topical steroid.
- Crohn's disease: CDAI 220 or more. Hidradenitis suppurativa: Hurley III.
- Plaque psoriasis: "To classify as severe disease patient must present at
  least two of the following: PASI >= 11, BSA >= 10%, sPGA >= 3", read as a
  requirement like the other sections' severity sentences (both edges
  included). "For patients currently receiving phototherapy, initial
  authorization for preferred drugs requires an inadequate clinical response
  to at least 90 days of phototherapy": preferred drugs only (Taltz too); the
  days of phototherapy are those from its start to the date of service, so a
  start 90 days or more before it is enough and 89 is not.
- Ulcerative colitis: after a failed TNF inhibitor (`tnf_inhibitor_failed`,
  or Enbrel or Humira among the failed preferred drugs), a TNF inhibitor is
  not covered: Enbrel, Humira, every adalimumab of the table, Cimzia, Simponi.
- Other diagnoses: no additional criteria. "HUMIRA MUST BE DECISIONED USING
  THE HUMIRA DECISION PATHWAY" names a document the text does not give: Humira
  is judged by these criteria as a preferred drug.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from datetime import date, timedelta
from functools import cache
from itertools import product
from typing import Any

from tests.oracle.minimal_sets import minimal_sufficient_sets

FIRST_DAY = date(2024, 1, 1)  # "UPDL criteria effective 01/01/2024"
EARLIEST_DATE = date(1900, 1, 1)  # the vocabulary's lower bound of the other dates
PHOTOTHERAPY_DAYS = 90  # "at least 90 days of phototherapy"
REFERENCE_DATE = "date_of_service"

PREFERRED = frozenset(
    {"adbry", "enbrel", "dupixent", "humira", "kineret", "otezla", "taltz", "xeljanz_ir"}
)
PREFERRED_TNF = frozenset({"enbrel", "humira"})
TNF_INHIBITORS = PREFERRED_TNF | frozenset(
    {
        "adalimumab_adaz",
        "adalimumab_fkjp",
        "amjevita",
        "cyltezo",
        "hadlima",
        "idacio",
        "yuflyma",
        "yusimry",
        "cimzia",
        "simponi",
    }
)
DRUGS = (
    "adbry",
    "enbrel",
    "dupixent",
    "humira",
    "kineret",
    "otezla",
    "taltz",
    "xeljanz_ir",
    "actemra",
    "adalimumab_adaz",
    "adalimumab_fkjp",
    "amjevita",
    "cibinqo",
    "cimzia",
    "cosentyx",
    "cyltezo",
    "hadlima",
    "idacio",
    "ilumya",
    "kevzara",
    "litfulo",
    "olumiant",
    "orencia",
    "rinvoq",
    "siliq",
    "simponi",
    "skyrizi",
    "sotyktu",
    "stelara",
    "tremfya",
    "xeljanz_solution",
    "xeljanz_xr",
    "yuflyma",
    "yusimry",
)
DIAGNOSES = (
    "alopecia_areata",
    "atopic_dermatitis",
    "crohns_disease",
    "hidradenitis_suppurativa",
    "plaque_psoriasis",
    "ulcerative_colitis",
    "other",
)
# The vocabulary's facts, in its rank order (the date of service, the
# reference date every case states, apart).
FACTS = (
    "request_type",
    "requested_drug",
    "diagnosis",
    "prescribed_per_labeling",
    "severity_documented",
    "first_line_drugs_failed",
    "active_infection",
    "tb_test_required",
    "tb_test_negative",
    "tb_test_date",
    "preferred_drugs_failed",
    "preferred_drugs_indicated",
    "preferred_drug_necessity",
    "solid_oral_necessity",
    "specialist_prescriber",
    "topical_steroid_failed",
    "bsa",
    "cdai",
    "hurley_stage",
    "pasi",
    "spga",
    "on_phototherapy",
    "phototherapy_start_date",
    "phototherapy_inadequate_response",
    "tnf_inhibitor_failed",
    "clinical_response_documented",
    "safety_monitoring_documented",
)
DATE_FACTS = ("tb_test_date", "phototherapy_start_date")
ENUMS: Mapping[str, tuple[str, ...]] = {
    "request_type": ("initial", "subsequent"),
    "diagnosis": DIAGNOSES,
    "hurley_stage": ("i", "ii", "iii"),
}
BOOL_FACTS = tuple(
    f
    for f in FACTS
    if f not in ENUMS
    and f not in DATE_FACTS
    and f
    not in {
        "requested_drug",
        "first_line_drugs_failed",
        "preferred_drugs_failed",
        "preferred_drugs_indicated",
        "bsa",
        "cdai",
        "pasi",
        "spga",
    }
)
DEFAULTS: Mapping[str, Any] = {}  # the vocabulary declares none

FIRST_LINE_TRIALS = 2  # "at least two applicable first-line drugs"
PREFERRED_TRIALS = 2  # "at least two preferred drugs, if indicated for diagnosis"
AD_BSA_MIN = 10  # "at least 10% body surface area (BSA) involvement"
AD_BSA_SEVERE = 25  # "severe and involves >25% BSA"
CDAI_MIN = 220  # "CDAI score of 220 or higher"
PASI_MIN = 11  # "PASI score >= 11"
PSO_BSA_MIN = 10  # "BSA >= 10%"
SPGA_MIN = 3  # "sPGA >= 3"

# One drug per region: the criteria name a drug only as preferred, preferred
# TNF inhibitor, Taltz, non-preferred, non-preferred TNF inhibitor, nonsolid
# oral (Xeljanz oral solution) or extended release (Xeljanz XR).
DRUG_REGIONS = ("adbry", "enbrel", "taltz", "actemra", "cimzia", "xeljanz_solution", "xeljanz_xr")
# One list per region: (how many, up to two; a preferred TNF inhibitor among
# them; Xeljanz IR among them).
FAILED_REGIONS: tuple[tuple[str, ...], ...] = (
    (),
    ("adbry",),
    ("enbrel",),
    ("xeljanz_ir",),
    ("adbry", "dupixent"),
    ("adbry", "humira"),
    ("adbry", "xeljanz_ir"),
    ("enbrel", "xeljanz_ir"),
)
NUMBER_REGIONS: Mapping[str, tuple[Any, ...]] = {
    "first_line_drugs_failed": (1, 2),
    "preferred_drugs_indicated": (0, 1, 2),
    "bsa": (9.5, 10.0, 25.5),
    "cdai": (219, 220),
    "pasi": (10.9, 11.0),
    "spga": (2, 3),
}

Get = Callable[[str], Any]


def drug_region(drug: str) -> str:
    """The region of a requested drug (its stand-in in DRUG_REGIONS)."""
    if drug not in DRUGS:
        raise ValueError(f"not a drug of the class: {drug!r}")
    if drug == "taltz":
        return "taltz"
    if drug in ("xeljanz_solution", "xeljanz_xr"):
        return drug
    if drug in PREFERRED:
        return "enbrel" if drug in PREFERRED_TNF else "adbry"
    return "cimzia" if drug in TNF_INHIBITORS else "actemra"


def failed_region(failed: Iterable[str]) -> tuple[str, ...]:
    """The region of a list of failed preferred drugs (its stand-in in FAILED_REGIONS)."""
    key = _failed_key(tuple(failed))
    return next(r for r in FAILED_REGIONS if _failed_key(r) == key)


def _failed_key(failed: tuple[str, ...]) -> tuple[int, bool, bool]:
    drugs = frozenset(failed)
    return (min(len(drugs), 2), bool(drugs & PREFERRED_TNF), "xeljanz_ir" in drugs)


def phototherapy_long_enough(start: date, day: date) -> bool:
    """ "at least 90 days of phototherapy": the days from its start to the
    date of service, the start 90 days or more before it."""
    return (day - start).days >= PHOTOTHERAPY_DAYS


def tb_test_in_time(test: date, day: date) -> bool:
    """ "negative TB test prior to initiation": on or before the date of service."""
    return test <= day


def decide(get: Get, day: date) -> bool:
    """Coverage of one scenario on a date of service, reading facts through `get`."""
    if day < FIRST_DAY:
        raise ValueError(f"the text decides no date of service before {FIRST_DAY}: {day}")
    # All Authorizations: "Must be prescribed in accordance with FDA approved
    # labeling"; "Documentation of the patient's disease state and the criteria
    # used to classify the severity is required."
    if not get("prescribed_per_labeling") or not get("severity_documented"):
        return False
    if get("request_type") == "subsequent":
        # "Must provide documentation of patient's clinical response to treatment
        # and ongoing safety monitoring"
        return bool(get("clinical_response_documented")) and bool(
            get("safety_monitoring_documented")
        )
    return (
        _clinical_pa(get, day)
        and _step_therapy(get)
        and _non_preferred(get)
        and _diagnosis_criteria(get, day)
    )


def _clinical_pa(get: Get, day: date) -> bool:
    # "Must not have a current, active infection"
    if get("active_infection"):
        return False
    # "Must provide evidence of negative TB test prior to initiation of
    # biologic therapy, if required by labeling"
    if get("tb_test_required") and not (
        get("tb_test_negative") and tb_test_in_time(get("tb_test_date"), day)
    ):
        return False
    # "Must have been an inadequate clinical response of at least 90 days with
    # at least two applicable first-line drugs indicated for diagnosis". For
    # atopic dermatitis its own section decides the same trials (below).
    if get("diagnosis") == "atopic_dermatitis":
        return True
    return bool(get("first_line_drugs_failed") >= FIRST_LINE_TRIALS)


def _step_therapy(get: Get) -> bool:
    # Taltz "PA ST": "at least one preferred TNF inhibitor indicated for diagnosis".
    if get("requested_drug") != "taltz":
        return True
    return bool(frozenset(get("preferred_drugs_failed")) & PREFERRED_TNF)


def _non_preferred(get: Get) -> bool:
    drug = get("requested_drug")
    if drug in PREFERRED:
        return True
    # "medical necessity beyond convenience for why the patient cannot be
    # changed to a preferred drug ... OR For any nonsolid oral dosage
    # formulation: ... why patient cannot be changed to a solid oral dosage
    # formulation"
    necessity = bool(get("preferred_drug_necessity")) or (
        drug == "xeljanz_solution" and bool(get("solid_oral_necessity"))
    )
    if not necessity:
        return False
    # "at least two preferred drugs, if indicated for diagnosis"
    failed = frozenset(get("preferred_drugs_failed"))
    if len(failed) < min(PREFERRED_TRIALS, get("preferred_drugs_indicated")):
        return False
    # "For non-preferred extended-release formulations: ... an inadequate
    # clinical response with its immediate release formulation (if available)"
    return drug != "xeljanz_xr" or "xeljanz_ir" in failed


def _diagnosis_criteria(get: Get, day: date) -> bool:
    diagnosis = get("diagnosis")
    if diagnosis == "alopecia_areata":
        # "prescribed by or in consultation with a specialist"; "an inadequate
        # clinical response of at least 90 days with a topical steroid"
        return bool(get("specialist_prescriber")) and bool(get("topical_steroid_failed"))
    if diagnosis == "atopic_dermatitis":
        # "at least 10% BSA involvement with two of the following: topical
        # corticosteroids or topical calcineurin inhibitors unless atopic
        # dermatitis is severe and involves >25% BSA"
        bsa = get("bsa")
        if bsa > AD_BSA_SEVERE:
            return True
        return bool(bsa >= AD_BSA_MIN and get("first_line_drugs_failed") >= FIRST_LINE_TRIALS)
    if diagnosis == "crohns_disease":
        # "CDAI score of 220 or higher"
        return bool(get("cdai") >= CDAI_MIN)
    if diagnosis == "hidradenitis_suppurativa":
        # "Hurley Stage III"
        return bool(get("hurley_stage") == "iii")
    if diagnosis == "plaque_psoriasis":
        return _psoriasis(get, day)
    if diagnosis == "ulcerative_colitis":
        # "If an inadequate clinical response after 90 days with one TNF
        # inhibitor, further TNF inhibitors will not be authorized"
        if get("requested_drug") not in TNF_INHIBITORS:
            return True
        tnf_failed = bool(get("tnf_inhibitor_failed")) or bool(
            frozenset(get("preferred_drugs_failed")) & PREFERRED_TNF
        )
        return not tnf_failed
    return True


def _psoriasis(get: Get, day: date) -> bool:
    # "at least two of the following: PASI score >= 11, BSA >= 10%, and sPGA >= 3"
    met = 0
    for fact, threshold in (("pasi", PASI_MIN), ("bsa", PSO_BSA_MIN), ("spga", SPGA_MIN)):
        met += get(fact) >= threshold
        if met >= 2:
            break
    if met < 2:
        return False
    # "For patients currently receiving phototherapy, initial authorization for
    # preferred drugs requires an inadequate clinical response to at least 90
    # days of phototherapy"
    if get("requested_drug") not in PREFERRED or not get("on_phototherapy"):
        return True
    return bool(get("phototherapy_inadequate_response")) and phototherapy_long_enough(
        get("phototherapy_start_date"), day
    )


def covered(facts: Mapping[str, Any], day: date) -> bool:
    """Coverage of one complete scenario (every fact `decide` reads is given)."""
    return decide(lambda fact: facts[fact], day)


# --- the three-valued semantics, by enumeration over regions ---------------


def domain(fact: str, day: date) -> tuple[Any, ...]:
    """One value per region of a fact, on a date of service."""
    if fact in BOOL_FACTS:
        return (True, False)
    if fact in ENUMS:
        return ENUMS[fact]
    if fact in NUMBER_REGIONS:
        return NUMBER_REGIONS[fact]
    if fact == "requested_drug":
        return DRUG_REGIONS
    if fact == "preferred_drugs_failed":
        return FAILED_REGIONS
    if fact == "tb_test_date":
        return (day, day + timedelta(days=1))
    if fact == "phototherapy_start_date":
        enough = day - timedelta(days=PHOTOTHERAPY_DAYS)
        return (enough, enough + timedelta(days=1))
    raise ValueError(f"not a fact of the immunomodulators criteria: {fact}")


def region_key(fact: str, value: Any, day: date) -> Any:
    """The region a value falls in (its stand-in in `domain`)."""
    if fact == "requested_drug":
        return drug_region(value)
    if fact == "preferred_drugs_failed":
        return failed_region(value)
    if fact == "bsa":
        return 9.5 if value < AD_BSA_MIN else 10.0 if value <= AD_BSA_SEVERE else 25.5
    if fact in NUMBER_REGIONS:
        regions = NUMBER_REGIONS[fact]
        return max((r for r in regions if r <= value), default=regions[0])
    if fact == "tb_test_date":
        return domain(fact, day)[0 if tb_test_in_time(value, day) else 1]
    if fact == "phototherapy_start_date":
        return domain(fact, day)[0 if phototherapy_long_enough(value, day) else 1]
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
    subset of which does. A needs_information case has only the empty one.
    Found by duality: a minimal sufficient set hits the complement of every
    maximal insufficient set, and the minimal hitting sets of those
    complements that are all sufficient are exactly the minimal sufficient sets."""
    target = verdict(known, day)
    if target == "needs_information":
        return {frozenset()}

    def sufficient(subset: frozenset[str]) -> bool:
        return verdict({f: known[f] for f in subset}, day) == target

    return minimal_sufficient_sets(frozenset(known), sufficient)


def decision_leaves(day: date) -> list[tuple[dict[str, Any], bool]]:
    """Every leaf of `decide`'s tree on a date of service: a partial scenario
    (the facts read on the way, each at a region's stand-in) and the decision
    it reaches whatever the facts it leaves unknown. The leaves partition the
    complete scenarios."""
    leaves: list[tuple[dict[str, Any], bool]] = []
    stack: list[dict[str, Any]] = [{}]
    while stack:
        assignment = stack.pop()

        def get(fact: str, assignment: dict[str, Any] = assignment) -> Any:
            if fact not in assignment:
                raise _Unknown(fact)
            return assignment[fact]

        try:
            leaves.append((assignment, decide(get, day)))
        except _Unknown as unknown:
            values = domain(unknown.fact, day)
            stack.extend({**assignment, unknown.fact: v} for v in reversed(values))
    return leaves


def complete_scenarios(day: date) -> Iterable[dict[str, Any]]:
    """Every complete scenario on a date of service, one value per region of
    each fact (far too many to exhaust: sample them)."""
    for values in product(*(domain(f, day) for f in FACTS)):
        yield dict(zip(FACTS, values, strict=True))
