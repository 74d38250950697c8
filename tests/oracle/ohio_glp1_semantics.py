"""The GLP-1 oracle (tests/oracle/ohio_glp1.py) over the fact vocabulary:
an adapter from the vocabulary's facts to the oracle's `Case`, and the
three-valued semantics of docs/language.md "Semantics" (verdict, missing
facts, minimal explanations) by brute force over every completion.

Invariants:
- A fact absent from the case is unknown (the vocabulary's defaults are
  filled in first, by `with_defaults`). A history is unknown when absent; a
  bare list of records holds at least those records; `complete` holds exactly
  them.
- A scalar fact ranges over one stand-in per region the TEXT draws
  (`domain`); a known one is its value's stand-in (`region_key`).
- A history ranges over its readings (`ohio_glp1.adequate_trials`,
  `ohio_glp1.a1c_reading`), each computed by brute force: the stated
  records plus every multiset of up to `EXTRA_TRIALS` (`EXTRA_A1C`) records
  of a pool holding a record on each side of every boundary the text draws
  (a course of 119 and 120 days, started 120 and 119 days before the date of
  service, at a maintenance dose or not, of each drug a criterion tells
  apart; an A1C dated the day before and the first day of the 6-month window,
  on the date of service and the day after it, below and at the goal). A
  complete history has the one reading of its records. The readings are then
  keyed by region (`trials_region`, `a1c_region`), which decide reads alike.
- The verdict, missing facts and explanations are computed exactly as for
  scalar facts over those options: enumeration as a decision tree (a fact is
  branched on only where `decide` reads it).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import date, timedelta
from decimal import Decimal
from functools import cache
from itertools import combinations_with_replacement
from typing import Any

from tests.oracle import ohio_glp1 as text
from tests.oracle.minimal_sets import minimal_sufficient_sets

Get = Callable[[str], Any]


@dataclass(frozen=True)
class Stated:
    """A history as a case states it: its records (the oracle's records) and
    whether they are all of them."""

    records: tuple[Any, ...]
    complete: bool


# --- the histories' readings, by brute force over completions ----------------

EXTRA_TRIALS = 3  # three different preferred drugs reach every reading
EXTRA_A1C = 2  # a later day with two results (a tie) reaches every reading
# One drug of each kind a criterion tells apart: Byetta (Bydureon BCise's
# immediate release), another preferred GLP-1, three other preferred drugs
# (three are needed).
POOL_DRUGS = ("byetta", "trulicity", "metformin_ir", "glipizide", "januvia")
# Each side of every A1C threshold: the goals 6% and 6.5% (patient-specific)
# and 7%; and one stand-in per region.
A1C_VALUES = tuple(Decimal(v) for v in ("5.9", "6.0", "6.4", "6.5", "6.9", "7.0"))
A1C_STAND_INS = tuple(Decimal(v) for v in ("5.9", "6.0", "6.5", "7.0"))
GOAL_VALUES = (None, Decimal("6.5"), Decimal("6.0"))  # None: no goal below 7


def trial_pool(service: date) -> list[text.DrugRecord]:
    """For each drug, an adequate trial and, for each condition of one, a trial
    that misses only it (begun a day too late, a day's supply short, without
    documented adherence, without dose escalation, the goal reached)."""
    limit = text.trial_start_limit(service)
    pool = []
    for drug in POOL_DRUGS:
        adequate = text.DrugRecord(drug, limit, text.TRIAL_DAYS)
        pool += [
            adequate,
            replace(adequate, start=limit + timedelta(days=1)),
            replace(adequate, days_supply=text.TRIAL_DAYS - 1),
            replace(adequate, adherent=False),
            replace(adequate, dose_escalated=False),
            replace(adequate, goal_reached=True),
        ]
    return pool


def a1c_pool(service: date) -> list[text.A1cResult]:
    window = text.a1c_window_start(service)
    days = (window - timedelta(days=1), window, service, service + timedelta(days=1))
    return [text.A1cResult(day, value) for day in days for value in A1C_VALUES]


TrialsRegion = tuple[int, bool, bool]  # (trials, up to three; a preferred GLP-1; Byetta)
# (current; its lowest value's stand-in; a trend; the window's lowest value's stand-in)
A1cRegion = tuple[bool, Decimal | None, bool, Decimal | None]


def trials_region(trials: frozenset[str]) -> TrialsRegion:
    return (
        min(len(trials), text.TRIALS_NEEDED),
        bool(trials & text.PREFERRED_GLP1),
        "byetta" in trials,
    )


def trials_stand_in(region: TrialsRegion) -> frozenset[str]:
    """A set of adequate trials in the region."""
    count, glp1, byetta = region
    drugs = ["byetta"] if byetta else ["trulicity"] if glp1 else []
    others = ("metformin_ir", "glipizide", "januvia")
    return frozenset(drugs + list(others[: count - len(drugs)]))


def value_stand_in(value: Decimal) -> Decimal:
    """The stand-in of an A1C value among the thresholds decide compares it
    with (7, and each patient-specific goal below it)."""
    return max((v for v in A1C_STAND_INS if v <= value), default=A1C_STAND_INS[0])


def a1c_region(reading: text.A1cReading, service: date) -> A1cRegion:
    lowest = reading.window_lowest
    in_window = None if lowest is None else value_stand_in(lowest)
    if not text.a1c_is_current(reading, service):
        return (False, None, reading.trend, in_window)
    return (True, value_stand_in(reading.latest[0].value), reading.trend, in_window)


def a1c_stand_in(region: A1cRegion, service: date) -> text.A1cReading:
    """A reading in the region (a stale latest result dated before the window)."""
    current, value, trend, in_window = region
    if not current:
        stale = text.a1c_window_start(service) - timedelta(days=1)
        latest = (text.A1cResult(stale, A1C_STAND_INS[-1]),) if trend else ()
        return text.A1cReading(latest, trend, in_window)
    assert value is not None
    return text.A1cReading((text.A1cResult(service, value),), trend, in_window)


@cache
def trial_readings(stated: Stated, service: date) -> frozenset[TrialsRegion]:
    if stated.complete:
        return frozenset({trials_region(text.adequate_trials(stated.records, service))})
    pool = trial_pool(service)
    return frozenset(
        trials_region(text.adequate_trials((*stated.records, *added), service))
        for size in range(EXTRA_TRIALS + 1)
        for added in combinations_with_replacement(pool, size)
    )


@cache
def a1c_readings(stated: Stated, service: date) -> frozenset[A1cRegion]:
    if stated.complete:
        return frozenset({a1c_region(text.a1c_reading(stated.records, service), service)})
    pool = a1c_pool(service)
    return frozenset(
        a1c_region(text.a1c_reading((*stated.records, *added), service), service)
        for size in range(EXTRA_A1C + 1)
        for added in combinations_with_replacement(pool, size)
    )


def _reading_key(reading: Iterable[Any]) -> tuple[Any, ...]:
    return tuple(sorted(reading, key=repr))


# --- the scalar facts' regions ------------------------------------------------


@dataclass(frozen=True)
class Vocabulary:
    """Which fact states which field of the oracle's Case.

    `scalars` maps a fact to the Case field it states (its values already in
    the oracle's terms: `from_vocabulary` converts them), `fixed` gives each
    Case field no fact states its value, and `drug_history`, `a1c_history`
    name the two histories."""

    scalars: Mapping[str, str]
    drug_history: str
    a1c_history: str
    fixed: Mapping[str, Any] = field(default_factory=dict)

    @property
    def facts(self) -> tuple[str, ...]:
        return (*self.scalars, self.drug_history, self.a1c_history)


def scalar_domain(attribute: str) -> tuple[Any, ...]:
    """One value per region the text draws, of a Case field."""
    if attribute == "requested_drug":
        # a preferred GLP-1 with a quantity limit, Byetta (none), Bydureon
        # BCise (needs Byetta), a semaglutide (the A1C floor), another
        # non-preferred GLP-1, Wegovy
        return ("trulicity", "byetta", "bydureon_bcise", "ozempic", "mounjaro", "wegovy")
    if attribute == "request_type":
        return ("initial", "subsequent")
    if attribute == "diagnosis":
        return (text.LABELED_DIAGNOSIS, "other")
    if attribute == "a1c_goal":
        return GOAL_VALUES
    return (True, False)


def scalar_stand_in(attribute: str, value: Any) -> Any:
    """The stand-in in `scalar_domain` of a Case field's value."""
    if attribute == "requested_drug":
        if value in text.QUANTITY_LIMITED:
            return "trulicity"
        if value in text.PREFERRED_GLP1:
            return "byetta"
        if value in text.SEMAGLUTIDES:
            return "ozempic"
        return value if value in ("bydureon_bcise", "wegovy") else "mounjaro"
    if attribute == "diagnosis":
        return value if value == text.LABELED_DIAGNOSIS else "other"
    if attribute == "a1c_goal":
        goal = text.effective_goal(value)
        if goal == text.ADA_GOAL:
            return None
        if goal not in GOAL_VALUES:
            raise ValueError(f"a goal with no region of its own: {value}")
        return goal
    return value


class Oracle:
    """The three-valued semantics of the text over one vocabulary."""

    def __init__(self, vocabulary: Vocabulary, readings: text.Readings = text.TEXT) -> None:
        self.vocabulary = vocabulary
        self.readings = readings
        self._verdicts: dict[tuple[Any, ...], str] = {}

    # -- facts, as the vocabulary states them ---------------------------------

    def options(self, fact: str, known: Mapping[str, Any], service: date) -> tuple[Any, ...]:
        """The stand-ins a fact can take: those of its known value's completions
        (a scalar's one stand-in, a history's readings), or of every value when
        `known` leaves it out (unknown)."""
        v = self.vocabulary
        unstated = Stated((), False)
        if fact == v.drug_history:
            stated = known.get(fact, unstated)
            return _reading_key(trial_readings(stated, service))
        if fact == v.a1c_history:
            return _reading_key(a1c_readings(known.get(fact, unstated), service))
        attribute = v.scalars[fact]
        if fact not in known:
            return scalar_domain(attribute)
        return (scalar_stand_in(attribute, known[fact]),)

    def decide(self, get: Get, service: date) -> bool:
        """The text's decision, reading the vocabulary's facts through `get`
        (each at a stand-in: a scalar's oracle value, a history's region)."""
        v = self.vocabulary
        by_attribute = {a: f for f, a in v.scalars.items()}

        def read(attribute: str) -> Any:
            if attribute == "trials":
                return trials_stand_in(get(v.drug_history))
            if attribute == "a1c":
                return a1c_stand_in(get(v.a1c_history), service)
            if attribute in by_attribute:
                return get(by_attribute[attribute])
            return v.fixed[attribute]

        return text.decide(read, service, self.readings)

    # -- the semantics ---------------------------------------------------------

    def _space(self, known: Mapping[str, Any], service: date) -> dict[str, tuple[Any, ...]]:
        return {f: self.options(f, known, service) for f in self.vocabulary.facts}

    def _reachable(
        self,
        probe: Callable[[Get], Any],
        space: Mapping[str, tuple[Any, ...]],
        stop: Callable[[set[Any]], bool],
    ) -> set[Any]:
        """Every result `probe` gives over the space (branching on a fact with
        several options only where it is read), stopping once `stop` holds."""
        results: set[Any] = set()
        fixed = {f: o[0] for f, o in space.items() if len(o) == 1}
        stack = [fixed]
        while stack:
            assignment = stack.pop()

            def get(fact: str, assignment: dict[str, Any] = assignment) -> Any:
                if fact not in assignment:
                    raise _Unknown(fact)
                return assignment[fact]

            try:
                results.add(probe(get))
            except _Unknown as unknown:
                stack.extend({**assignment, unknown.fact: o} for o in space[unknown.fact])
                continue
            if stop(results):
                break
        return results

    def verdict(self, known: Mapping[str, Any], service: date) -> str:
        """Covered in every completion, in none, or needs information."""
        space = self._space(known, service)
        key = (service, tuple(sorted(space.items())))
        if key not in self._verdicts:
            outcomes = self._reachable(
                lambda get: self.decide(get, service), space, lambda r: len(r) > 1
            )
            self._verdicts[key] = (
                "covered"
                if outcomes == {True}
                else "not_covered"
                if outcomes == {False}
                else "needs_information"
            )
        return self._verdicts[key]

    def missing(self, known: Mapping[str, Any], service: date) -> set[str]:
        """For needs_information, the facts the verdict can still turn on: for
        some filling of the others, two of the fact's completions differ."""
        if self.verdict(known, service) != "needs_information":
            return set()
        space = self._space(known, service)
        turns = set()
        for fact, options in space.items():
            pairs = [(a, b) for i, a in enumerate(options) for b in options[i + 1 :]]
            for a, b in pairs:

                def flips(get: Get, fact: str = fact, a: Any = a, b: Any = b) -> bool:
                    return self.decide(_setting(get, fact, a), service) != self.decide(
                        _setting(get, fact, b), service
                    )

                if True in self._reachable(flips, space, lambda r: True in r):
                    turns.add(fact)
                    break
        return turns

    def explanations(self, known: Mapping[str, Any], service: date) -> set[frozenset[str]]:
        """Every minimal explanation: sets of known facts that alone (all else
        unknown) give the case's verdict, no proper subset of which does. A
        needs_information case has only the empty one."""
        target = self.verdict(known, service)
        if target == "needs_information":
            return {frozenset()}
        return minimal_sufficient_sets(
            frozenset(known),
            lambda subset: self.verdict({f: known[f] for f in subset}, service) == target,
        )


class _Unknown(Exception):
    def __init__(self, fact: str) -> None:
        super().__init__(fact)
        self.fact = fact


def _setting(get: Get, fact: str, value: Any) -> Get:
    def read(name: str) -> Any:
        return value if name == fact else get(name)

    return read


# --- the adapter: the glp1-step-therapy vocabulary ---------------------------

POLICY = "glp1-step-therapy"
REFERENCE_DATE = "date_of_service"
GLP1 = Vocabulary(
    scalars={
        "request_type": "request_type",
        "requested_drug": "requested_drug",
        "prescribed_per_labeling": "prescribed_per_labeling",
        "diagnoses": "diagnosis",
        "within_quantity_limit": "within_quantity_limit",
        "a1c_goal": "a1c_goal",
        "preferred_drug_necessity": "medical_necessity_documented",
        "difficult_to_control": "difficult_to_control",
        "pharmacist_review_approved": "pharmacist_review_approved",
        "approved_authorization_on_file": "prior_authorization_on_file",
        "clinical_response_documented": "clinical_response_documented",
        "safety_monitoring_documented": "safety_monitoring_documented",
    },
    drug_history="preferred_drug_trials",
    a1c_history="a1c_results",
)
DEFAULTS = {"a1c_goal": "percent_7"}
GOALS: Mapping[str, Decimal | None] = {
    "percent_7": None,
    "percent_6_5": Decimal("6.5"),
    "percent_6": Decimal("6"),
}
# The vocabulary's trial drugs: one option for the formulations of the same
# active ingredients (metformin IR and ER, ...), which the oracle's formulary
# lists apart; each option is the oracle's drug of its first formulation.
TRIAL_DRUGS: Mapping[str, str] = {"metformin": "metformin_ir"}
TYPE_2_DIABETES = "E11"  # code_set(type_2_diabetes, "E11"): E11 and every code under it


def diagnosis_of(codes: Iterable[str]) -> str:
    """ "glycemic control in type 2 diabetes": a code in E11, or not."""
    plain = (code.upper().replace(".", "") for code in codes)
    return text.LABELED_DIAGNOSIS if any(c.startswith(TYPE_2_DIABETES) for c in plain) else "other"


def trial_of(record: Mapping[str, Any]) -> text.DrugRecord:
    return text.DrugRecord(
        drug=TRIAL_DRUGS.get(record["drug"], record["drug"]),
        start=date.fromisoformat(record["start"]),
        days_supply=int(record["days_supply"]),
        adherent=bool(record["adherent"]),
        dose_escalated=bool(record["dose_escalated"]),
        goal_reached=bool(record["goal_reached"]),
    )


def a1c_of(record: Mapping[str, Any]) -> text.A1cResult:
    return text.A1cResult(date.fromisoformat(record["date"]), Decimal(str(record["value"])))


def history_of(value: Any, record: Callable[[Mapping[str, Any]], Any]) -> Stated:
    """A bare list holds at least its records; {"complete": ..., "records": ...}
    says whether they are all."""
    if isinstance(value, Mapping):
        return Stated(tuple(record(r) for r in value["records"]), bool(value["complete"]))
    return Stated(tuple(record(r) for r in value), False)


def from_vocabulary(facts: Mapping[str, Any]) -> tuple[date, dict[str, Any]]:
    """A case's facts (as a JSON case states them) as the oracle's: its date of
    service, and each known fact (the vocabulary's defaults filled in) in the
    oracle's terms. A fact absent or null is unknown."""
    stated = {f: v for f, v in facts.items() if v is not None}
    service = date.fromisoformat(stated.pop(REFERENCE_DATE))
    stated = {**{f: d for f, d in DEFAULTS.items() if f not in stated}, **stated}
    known: dict[str, Any] = {}
    for fact, value in stated.items():
        if fact == GLP1.drug_history:
            known[fact] = history_of(value, trial_of)
        elif fact == GLP1.a1c_history:
            known[fact] = history_of(value, a1c_of)
        elif fact == "diagnoses":
            known[fact] = diagnosis_of(value)
        elif fact == "a1c_goal":
            known[fact] = GOALS[value]
        elif fact in GLP1.scalars:
            known[fact] = value
        else:
            raise ValueError(f"not a fact of the vocabulary: {fact!r}")
    return service, known


def case_of(facts: Mapping[str, Any]) -> text.Case:
    """The oracle's Case of a complete case (every fact stated, histories complete)."""
    service, known = from_vocabulary(facts)
    fields: dict[str, Any] = {GLP1.scalars[f]: v for f, v in known.items() if f in GLP1.scalars}
    trials, results = known[GLP1.drug_history], known[GLP1.a1c_history]
    if not (trials.complete and results.complete) or len(fields) != len(GLP1.scalars):
        raise ValueError("not a complete case")
    return text.Case(
        date_of_service=service, drug_history=trials.records, a1c_history=results.records, **fields
    )


# --- back to the vocabulary: a stand-in as a case states it --------------------


@cache
def witnesses(history: str, service: date) -> dict[Any, tuple[Any, ...]]:
    """For each reading a history can take, the records of one completion that
    has it (the fewest records found first)."""
    if history == GLP1.drug_history:
        pool: list[Any] = trial_pool(service)
        extras = EXTRA_TRIALS

        def region(records: tuple[Any, ...]) -> Any:
            return trials_region(text.adequate_trials(records, service))
    else:
        pool, extras = a1c_pool(service), EXTRA_A1C

        def region(records: tuple[Any, ...]) -> Any:
            return a1c_region(text.a1c_reading(records, service), service)

    found: dict[Any, tuple[Any, ...]] = {}
    for size in range(extras + 1):
        for records in combinations_with_replacement(pool, size):
            found.setdefault(region(records), records)
    return found


OPTION_OF_DRUG = {drug: option for option, drug in TRIAL_DRUGS.items()}
CODES = {text.LABELED_DIAGNOSIS: ["E11.9"], "other": ["R73.03"]}


def to_vocabulary(fact: str, stand_in: Any, service: date) -> Any:
    """A stand-in of a GLP1 fact as a case states it (a history as complete
    records that read as the stand-in)."""
    if fact == GLP1.drug_history:
        records = witnesses(fact, service)[stand_in]
        rows = [
            {
                "drug": OPTION_OF_DRUG.get(r.drug, r.drug),
                "start": r.start.isoformat(),
                "days_supply": r.days_supply,
                "adherent": r.adherent,
                "dose_escalated": r.dose_escalated,
                "goal_reached": r.goal_reached,
            }
            for r in records
        ]
        return {"complete": True, "records": rows}
    if fact == GLP1.a1c_history:
        records = witnesses(fact, service)[stand_in]
        rows = [{"date": r.day.isoformat(), "value": float(r.value)} for r in records]
        return {"complete": True, "records": rows}
    if fact == "diagnoses":
        return CODES[stand_in]
    if fact == "a1c_goal":
        return next(option for option, goal in GOALS.items() if goal == stand_in)
    return stand_in


def decision_leaves(oracle: Oracle, service: date) -> list[tuple[dict[str, Any], bool]]:
    """Every leaf of the oracle's decision tree on a date of service, every fact
    unknown at the root: the facts read on the way (each at a stand-in) and the
    decision it reaches whatever the facts it leaves unknown. The leaves
    partition the complete scenarios (one stand-in per region)."""
    space = oracle._space({}, service)
    leaves: list[tuple[dict[str, Any], bool]] = []
    stack: list[dict[str, Any]] = [{}]
    while stack:
        assignment = stack.pop()

        def get(fact: str, assignment: dict[str, Any] = assignment) -> Any:
            if fact not in assignment:
                raise _Unknown(fact)
            return assignment[fact]

        try:
            leaves.append((assignment, oracle.decide(get, service)))
        except _Unknown as unknown:
            options = space[unknown.fact]
            stack.extend({**assignment, unknown.fact: o} for o in reversed(options))
    return leaves
