"""A test-only oracle: Ohio Medicaid UPDL, Endocrine Agents: Diabetes -
Non-Insulin, the GLP-1 receptor agonist part (criteria effective 01/01/2024),
as plain Python.

Written from the policy text alone (../shared/policies/, the Gainwell
transcription: PART A the UPDL criteria, PART B the vendor's semaglutide
decision pathway), before the fact vocabulary existed and without reading the
encoding, so the two can check each other. `covered` decides one complete case
(`Case`, this module's own description of a request); the adapter to the
vocabulary's facts and the three-valued semantics over every completion are
in `ohio_glp1_semantics.py`.

Invariants:
- `covered` reads a drug history only through `adequate_trials` (the set of
  preferred drugs with an adequate trial) and an A1C history only through
  `a1c_reading` (the results of the latest day on or before the date of
  service, and whether there are two or more): two complete histories with
  the same readings decide alike, which is what lets the semantics
  enumerate completions by their readings.
- Every threshold and window is a named constant below, quoted where it is
  stated; no branch reads a fact its sentence does not name.

Readings, each decided from the text before the vocabulary or the encoding
was seen (the alternative not taken in brackets):
- Scope: requests for a GLP-1 drug of the class: the preferred Byetta,
  Trulicity and Victoza; the non-preferred Ozempic, Rybelsus, Mounjaro,
  Bydureon BCise and Adlyxin (the title's list); and Wegovy, which PART B
  names only to deny ("STOP. This is an administrative denial. Obesity drugs
  are not covered.").
- "All Authorizations: Must be prescribed in accordance with FDA approved
  labeling" binds every request, preferred or not, initial or subsequent.
  Every GLP-1 of the class is labeled for type 2 diabetes only, so a
  diagnosis other than type 2 diabetes (prediabetes, type 1, obesity, other)
  is outside the labeling ("This does NOT include prediabetes").
- A preferred drug carries no PA criteria in the formulary: covered when the
  labeling is met, on an initial request or a renewal alike, and, for
  Trulicity and Victoza (marked QL: "6 / 84 days", "30.6 / 102 days"), when
  the quantity requested is within the limit. CHANGED after comparing with
  the encoding: the first draft read the quantity limits as no part of the
  verdict; a quantity limit in a formulary bounds what is covered, so a
  request above it is not covered as requested. Byetta has no limit.
- A non-preferred GLP-1, initial request: PART B's pathway, the vendor's
  application of PART A to GLP-1 requests, decides: question 1000 answered Y
  ("Approve x 365 days") approves on the trials alone. Medical necessity
  (1001) or a condition difficult to control (1002) sends the request "to
  MEDREVIEW for a pharmacist to evaluate on a case-by-case basis": covered
  when that review approved it (`pharmacist_review_approved`), not otherwise.
  CHANGED after seeing the vocabulary and comparing: the first draft, with no
  fact for the review's outcome, read the review as outside the rules (never
  covering); with the outcome stated, the pathway's review is a route. [PART
  A alone, read with its **OR** joining the necessity bullet and the trials
  bullet, would let necessity alone cover; read with the bullets joined by
  AND, necessity would be required besides the trials.]
- The trials, question 1000: "an inadequate clinical response of at least
  120 days with at least three preferred drugs (one of those drug trials must
  be Byetta, Trulicity, or Victoza)". Three DIFFERENT preferred drugs of the
  class's formulary (every row of the Preferred table is one drug: Metformin
  IR and Metformin ER are two; a combination product such as Janumet is one
  drug), each with an adequate trial, at least one of the three (or more) a
  preferred GLP-1. Non-preferred drugs never count.
- An adequate trial is one record of the drug history (a course of the drug
  from its start for its days' supply) with a days' supply of at least 120
  that began at least 120 days before the date of service (start + 120 days
  on or before it: "Must HAVE HAD ... of at least 120 days", so the 120 days
  have passed), and, where the record says so, reaching a maintenance dose
  ("If a medication dose was not increased over 120 days to reach a
  maintenance dose (and remains at a starting dose) and no explanation ...
  this is not considered an adequate trial"). No look-back limit is stated
  for trials, none is read. [Fills of one drug summed to 120 days; a start
  merely before the date of service.]
- "For non-preferred extended-release formulations: must provide
  documentation of an inadequate clinical response with its immediate release
  formulation (if available)": Bydureon BCise is extended-release exenatide,
  whose immediate-release formulation Byetta is on the preferred list, so a
  Bydureon BCise request needs Byetta among the adequate trials, on either
  route (a "must" of its own, not a part of the three trials).
- "documented adherence" and "appropriate dose escalation" (both parts'
  definition of an inadequate clinical response) hold of each trial: a trial
  without them is no adequate trial. (Before the vocabulary, adherence was
  one statement for the request; the vocabulary states it per trial, and the
  adapter follows it: the text's "after at least 120 days of current regimen
  with documented adherence" speaks of the regimen tried.) A trial on which
  the A1C goal was reached is no inadequate response ("the inability to
  reach A1C goal"), so it does not count either (the vocabulary's per-trial
  `goal_reached`). [PART A's "use of two or more drugs concomitantly" is not
  read: PART B's definition, for GLP-1 requests, leaves it out.]
- The inadequate response is "the inability to reach A1C goal (<7%)": the
  goal is reached when the A1C is below it, so an A1C at the goal (7.0) has
  not reached it. The goal is 7% unless "a patient specific A1C goal if less
  than 7%" is documented: a documented goal below 7 replaces 7; a documented
  goal of 7 or more is read as 7 (PART B fixes the goal at <7%; PART A lets
  only a lower goal replace it).
- "Must include current A1C (within last 6 months)": the current A1C is the
  latest A1C result dated on or before the date of service (results dated
  later are ignored), and it must be dated on or after the date of service
  minus 6 calendar months (a month step keeps the day of the month or takes
  the last day of a shorter month: 2024-08-31 minus 6 months is 2024-02-29),
  both ends included. An older latest result, or none, fails the criterion.
  Several results on the latest day: the goal counts as reached when any of
  them is below it. [Any result within 6 months at or above the goal; every
  result within 6 months at or above it.]
- Ozempic and Rybelsus (semaglutide, PART B question 0999, asked before the
  trials and the review): "This does NOT include prediabetes or an A1C <7%":
  a current A1C (the latest, within 6 months) below 7 denies these two,
  whatever the patient-specific goal and on either route (so with a goal of
  6.5, an A1C of 6.8 is an inadequate response yet outside semaglutide's
  labeling). With no current A1C the floor denies nothing (the trial route
  needs a current A1C anyway).
- Subsequent authorization (renewal): PART A's "Must provide documentation of
  patient's clinical response to treatment and ongoing safety monitoring",
  "Must document ... A1C trends including current value (within last 6
  months)": two or more A1C results on or before the date of service (a
  trend; two on one day count), the latest within the last 6 months, of any
  value (a renewal documents the response, it need not show failure).
  CHANGED after comparing: the first draft read only "Must include current
  A1C" (one result); "trends including current value" asks for more than
  one. PART
  B's "an already approved PA with an authorization number ... is on file",
  and "Must meet all initial clinical criteria", read as the labeling
  criteria (diagnosis, FDA labeling, the semaglutide A1C floor is NOT read
  for renewals: it speaks of the indication at initiation). The step-therapy
  trials and the failed A1C goal are the initial request's: a renewal of a
  drug that worked has reached its goal, and PART B's reauthorization
  question (1234) asks for neither. [Every initial criterion again, trials
  and A1C at or above the goal included.] PART B's "Safety monitoring may
  not be mentioned if there are no current concerns ... This is ok" is
  read as: safety monitoring documented, or nothing to monitor; one statement
  (`safety_monitoring_documented`) stands for both.
- "Length of Authorizations: 365 Days" is the length of the approval
  granted, not a criterion: it never changes the verdict.
- A date of service before 01/01/2024 is outside the criteria's text:
  `covered` refuses it.
"""

from __future__ import annotations

import calendar
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

FIRST_DAY = date(2024, 1, 1)  # "UPDL criteria effective 01/01/2024"
TRIAL_DAYS = 120  # "an inadequate clinical response of at least 120 days"
TRIALS_NEEDED = 3  # "with at least three preferred drugs"
A1C_MONTHS = 6  # "current A1C (within last 6 months)"
ADA_GOAL = Decimal("7")  # "inability to reach A1C goal (<7%)"

PREFERRED_GLP1 = frozenset({"byetta", "trulicity", "victoza"})
NON_PREFERRED_GLP1 = frozenset({"ozempic", "rybelsus", "mounjaro", "bydureon_bcise", "adlyxin"})
SEMAGLUTIDES = frozenset({"ozempic", "rybelsus"})  # PART B's 0999 labeling note
QUANTITY_LIMITED = frozenset({"trulicity", "victoza"})  # "QL" in the Preferred table
OBESITY_ONLY = frozenset({"wegovy"})  # "Obesity drugs are not covered."
REQUESTABLE = PREFERRED_GLP1 | NON_PREFERRED_GLP1 | OBESITY_ONLY
# "For non-preferred extended-release formulations: ... its immediate release
# formulation (if available)": exenatide ER's immediate release is Byetta.
IMMEDIATE_RELEASE = {"bydureon_bcise": "byetta"}
# The Preferred table of the formulary, one drug per row name.
PREFERRED = PREFERRED_GLP1 | frozenset(
    {
        "acarbose",
        "actoplus_met_xr",
        "farxiga",
        "glimepiride",
        "glipizide",
        "glipizide_xl",
        "glipizide_metformin",
        "glyburide",
        "glyburide_metformin",
        "invokamet",
        "invokana",
        "janumet",
        "janumet_xr",
        "januvia",
        "jardiance",
        "jentadueto",
        "metformin_ir",
        "metformin_er",
        "miglitol",
        "nateglinide",
        "pioglitazone",
        "pioglitazone_metformin",
        "repaglinide",
        "repaglinide_metformin",
        "synjardy",
        "tradjenta",
        "xigduo_xr",
    }
)
LABELED_DIAGNOSIS = "type2_diabetes"


@dataclass(frozen=True)
class DrugRecord:
    """One course of a drug: from `start`, `days_supply` days; `adherent`:
    adherence is documented; `dose_escalated`: the dose reached a maintenance
    dose (or the record explains why not); `goal_reached`: the A1C goal was
    reached on it."""

    drug: str
    start: date
    days_supply: int
    adherent: bool = True
    dose_escalated: bool = True
    goal_reached: bool = False


@dataclass(frozen=True)
class A1cResult:
    """One A1C result, in percent."""

    day: date
    value: Decimal


@dataclass(frozen=True)
class Case:
    """A complete description of one request (every field known).

    `a1c_goal` is the patient-specific A1C goal documented (None: none is)."""

    date_of_service: date
    request_type: str  # "initial" | "subsequent"
    requested_drug: str
    diagnosis: str  # "type2_diabetes" or anything else
    prescribed_per_labeling: bool
    drug_history: tuple[DrugRecord, ...] = ()
    a1c_history: tuple[A1cResult, ...] = ()
    a1c_goal: Decimal | None = None
    prior_authorization_on_file: bool = True
    clinical_response_documented: bool = True
    safety_monitoring_documented: bool = True
    # Read by PART B only to send the request to a pharmacist, and a review's
    # outcome: not criteria (see the readings), never read by `decide`.
    medical_necessity_documented: bool = False
    difficult_to_control: bool = False
    pharmacist_review_approved: bool = False
    # The formulary's quantity limits: not a criterion (see the readings).
    within_quantity_limit: bool = True


def months_from(day: date, months: int) -> date:
    """`day` moved by whole calendar months, the day of the month kept or, in a
    shorter month, its last day."""
    index = day.year * 12 + day.month - 1 + months
    year, month = divmod(index, 12)
    month += 1
    return date(year, month, min(day.day, calendar.monthrange(year, month)[1]))


def a1c_window_start(service: date) -> date:
    """The first day of "within last 6 months" of a date of service."""
    return months_from(service, -A1C_MONTHS)


def trial_start_limit(service: date) -> date:
    """The latest start of a course whose 120 days have passed by the date of service."""
    return service - timedelta(days=TRIAL_DAYS)


def adequate_trial(record: DrugRecord, service: date) -> bool:
    """ "an inadequate clinical response of at least 120 days" with a preferred
    drug, the 120 days passed by the date of service, with documented
    adherence and dose escalation, the goal not reached."""
    return (
        record.drug in PREFERRED
        and record.days_supply >= TRIAL_DAYS
        and record.start <= trial_start_limit(service)
        and record.adherent
        and record.dose_escalated
        and not record.goal_reached
    )


def adequate_trials(records: Iterable[DrugRecord], service: date) -> frozenset[str]:
    """The preferred drugs with an adequate trial (the drug history's reading)."""
    return frozenset(r.drug for r in records if adequate_trial(r, service))


@dataclass(frozen=True)
class A1cReading:
    """What the rules read of an A1C history on a date of service: the results
    of the latest day on or before it, lowest value first (empty when there is
    none); whether two or more results are on or before it (a trend); and the
    lowest value within the 6-month window (None when none is: read only by
    the alternative reading, `Readings.every_a1c_in_window`)."""

    latest: tuple[A1cResult, ...]
    trend: bool
    window_lowest: Decimal | None = None


def a1c_reading(records: Iterable[A1cResult], service: date) -> A1cReading:
    """The A1C history's reading (results dated after the date of service are not yet)."""
    past = [r for r in records if r.day <= service]
    if not past:
        return A1cReading((), False)
    latest = max(r.day for r in past)
    on_latest = sorted((r for r in past if r.day == latest), key=lambda r: r.value)
    window = [r.value for r in past if r.day >= a1c_window_start(service)]
    return A1cReading(tuple(on_latest), len(past) >= 2, min(window, default=None))


@dataclass(frozen=True)
class Readings:
    """The reading on which this oracle and the encoding once differed (see
    the module's docstring): this oracle's by default, which the encoding now
    shares; the alternative with it switched (the encoding's until the
    language could read the latest result beside a count of two), kept so
    that the tests show the cases on which the two readings part.

    - `every_a1c_in_window`: every A1C result within the 6-month window is
      read where the text says "current A1C", rather than the latest result:
      the goal counts as not reached when every one is at or above it (and
      one is there), and the semaglutide floor denies when any one is below
      7. (The semaglutide floor itself, once a second switch, is settled:
      the encoding applies it too.)"""

    every_a1c_in_window: bool = False


TEXT = Readings()
EVERY_RESULT = Readings(every_a1c_in_window=True)


def effective_goal(documented: Decimal | None) -> Decimal:
    """ "Must include a patient specific A1C goal if less than 7%": a documented
    goal below 7 replaces the ADA goal of 7; anything else leaves 7."""
    if documented is not None and documented < ADA_GOAL:
        return documented
    return ADA_GOAL


def a1c_is_current(reading: A1cReading, service: date) -> bool:
    """ "Must include current A1C (within last 6 months)"."""
    return bool(reading.latest) and reading.latest[0].day >= a1c_window_start(service)


def below_semaglutide_floor(reading: A1cReading, service: date, readings: Readings = TEXT) -> bool:
    """Semaglutide: "This does NOT include prediabetes or an A1C <7%": the
    current A1C (the latest result, within 6 months) is below 7 (with the
    alternative reading, any result within the 6 months is)."""
    if not a1c_is_current(reading, service):
        return False
    value = reading.window_lowest if readings.every_a1c_in_window else reading.latest[0].value
    assert value is not None
    return value < ADA_GOAL


Get = Callable[[str], Any]
"""Reads one field of a case by its name in `Case` ("requested_drug", ...),
or one of the histories' readings: "trials" (`adequate_trials`) and "a1c"
(`a1c_reading`)."""


def covered(case: Case, readings: Readings = TEXT) -> bool:
    """Coverage of one complete case."""
    service = case.date_of_service
    histories = {
        "trials": adequate_trials(case.drug_history, service),
        "a1c": a1c_reading(case.a1c_history, service),
    }

    def get(name: str) -> Any:
        return histories[name] if name in histories else getattr(case, name)

    return decide(get, service, readings)


def decide(get: Get, service: date, readings: Readings = TEXT) -> bool:
    """Coverage of a case on a date of service, reading each field through `get`
    only when the branch it is on needs it (short-circuit), so that a partial
    case's completions can be enumerated as a decision tree."""
    if service < FIRST_DAY:
        raise ValueError(f"the text decides no date of service before {FIRST_DAY}: {service}")
    drug = get("requested_drug")
    if drug not in REQUESTABLE:
        raise ValueError(f"not a GLP-1 drug of the class: {drug!r}")
    # PART B 0999, Wegovy: "STOP. This is an administrative denial. Obesity
    # drugs are not covered."
    if drug in OBESITY_ONLY:
        return False
    # "All Authorizations: Must be prescribed in accordance with FDA approved
    # labeling"; "This does NOT include prediabetes".
    if not get("prescribed_per_labeling") or get("diagnosis") != LABELED_DIAGNOSIS:
        return False
    if drug in PREFERRED_GLP1:
        # A preferred drug: no PA criteria; the formulary's quantity limit
        # ("Trulicity QL ... 6 / 84", "Victoza QL ... 30.6 / 102").
        return drug not in QUANTITY_LIMITED or bool(get("within_quantity_limit"))
    if get("request_type") == "subsequent":
        return _subsequent(get, service)
    # PART A: "For non-preferred extended-release formulations: must provide
    # documentation of an inadequate clinical response with its immediate
    # release formulation (if available)"
    immediate = IMMEDIATE_RELEASE.get(drug)
    if immediate is not None and immediate not in get("trials"):
        return False
    # PART B 0999 for semaglutide: "This does NOT include ... an A1C <7%"
    if drug in SEMAGLUTIDES and below_semaglutide_floor(get("a1c"), service, readings):
        return False
    if _step_therapy(get) and _inadequate_response(get, service, readings):
        return True  # PART B 1000: "Y | Approve x 365 days."
    return _pharmacist_review(get)


def _subsequent(get: Get, service: date) -> bool:
    # PART B 1234: "Confirm this is a reauthorization and an already approved PA
    # with an authorization number (NOT an iPA) is on file."
    # PART A: "Must provide documentation of patient's clinical response to
    # treatment and ongoing safety monitoring"; "Must document A1C goal per ADA
    # guidelines and A1C trends including current value (within last 6 months)".
    if not (
        get("prior_authorization_on_file")
        and get("clinical_response_documented")
        and get("safety_monitoring_documented")
    ):
        return False
    reading: A1cReading = get("a1c")
    return reading.trend and a1c_is_current(reading, service)


def _step_therapy(get: Get) -> bool:
    # PART B 1000: "an inadequate clinical response of at least 120 days with
    # at least three preferred drugs (one of those drug trials must be Byetta,
    # Trulicity, or Victoza)"
    trials: frozenset[str] = get("trials")
    return len(trials) >= TRIALS_NEEDED and bool(trials & PREFERRED_GLP1)


def _inadequate_response(get: Get, service: date, readings: Readings) -> bool:
    # "Must include corrent A1C (within last 6 months)"
    reading: A1cReading = get("a1c")
    if not a1c_is_current(reading, service):
        return False
    # "the inability to reach A1C goal (<7%)"; "a patient specific A1C goal if
    # less than 7%"
    value = reading.window_lowest if readings.every_a1c_in_window else reading.latest[0].value
    assert value is not None
    return value >= effective_goal(get("a1c_goal"))


def _pharmacist_review(get: Get) -> bool:
    # PART B 1001: "documentation of medical necessity beyond convenience ..."
    # and 1002: "a condition that is difficult to control": "Send to MEDREVIEW
    # for a pharmacist to evaluate on a case-by-case basis", and its outcome.
    if not (get("medical_necessity_documented") or get("difficult_to_control")):
        return False
    return bool(get("pharmacist_review_approved"))
