"""A case that leaves two reference dates unknown, against brute force.

Semantics under test (bridge/solving/unknown_date_pairs.py): both unknown
reference dates are facts like any other. The verdict is over every
completion, both dates included; a fact is missing when, for some filling of
the other unknowns (the other date among them), changing it changes
coverage; an explanation is a set of known facts that alone gets the
verdict; a change set gives the target verdict over every completion of what
it leaves unknown.

The device-visit fixture (tests/fixtures/dates/device-visit: a visit date
compared with both reference dates, the therapy start compared with the date
of service in calendar months, a shape no bundled policy has) is checked
against an oracle written here from its text that enumerates every pair of
days of the two dates and, for each pair, every region of the visit date.
"""

from __future__ import annotations

from datetime import date, timedelta
from itertools import product
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from policykb.bridge import KnowledgeBase, Verdict
from policykb.bridge.model.errors import CaseError
from tests.oracle import unknown_date_harness as harness
from tests.oracle.unknown_date_harness import every_day, in_answer, months_back, verdict_over
from tests.sampling import examples

FIXTURE = Path(__file__).parents[1] / "fixtures" / "dates" / "device-visit"
SETTINGS = settings(
    max_examples=examples(12),
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)

DOS, START, VISIT = "date_of_service", "therapy_start", "visit_date"
BOUNDS = {
    DOS: (date(2024, 3, 15), date(2024, 4, 30)),
    START: (date(2023, 12, 1), date(2024, 2, 29)),
    VISIT: (date(2023, 12, 1), date(2024, 5, 31)),
}
BOOLS = ("urgent", "planned")
FACTS = (DOS, START, VISIT, *BOOLS)
SWITCH = date(2024, 4, 1)

DAYS = {fact: every_day(*BOUNDS[fact]) for fact in (DOS, START, VISIT)}


def covered(f: dict[str, Any]) -> bool:
    """Rule 1 (a visit from the 31st through the 91st day after the start, on
    or before the date of service) and one of rule 2 (urgent, before
    2024-04-01) or rule 3 (planned, from 2024-04-01, at least 3 calendar
    months of therapy)."""
    dos, start, visit = f[DOS], f[START], f[VISIT]
    seen = start + timedelta(days=31) <= visit <= start + timedelta(days=91) and visit <= dos
    early = f["urgent"] and dos < SWITCH
    late = f["planned"] and dos >= SWITCH and start <= months_back(dos, 3)
    return bool(seen and (early or late))


def visit_grid(dos: date, start: date) -> list[date]:
    """One visit day per region as of a pair of days: the bounds and each
    edge counted from either date, with its neighbours."""
    low, high = BOUNDS[VISIT]
    edges = [start + timedelta(days=31), start + timedelta(days=92), dos + timedelta(days=1)]
    near = {e + timedelta(days=k) for e in edges for k in (-1, 0)}
    return sorted({low, high, *(d for d in near if low <= d <= high)})


def grid(fact: str, pair: dict[str, date]) -> list[Any]:
    if fact in BOOLS:
        return [True, False]
    return visit_grid(pair[DOS], pair[START])


def pairs(known: dict[str, Any]) -> list[dict[str, date]]:
    return [
        {DOS: dos, START: start}
        for dos in ([known[DOS]] if DOS in known else DAYS[DOS])
        for start in ([known[START]] if START in known else DAYS[START])
    ]


def outcomes(known: dict[str, Any]) -> set[bool]:
    """Coverage over every completion: every pair of days, then for it one
    value per region of each other unknown."""
    seen: set[bool] = set()
    rest = [f for f in (VISIT, *BOOLS) if f not in known]
    for pair in pairs(known):
        for values in product(*(grid(f, pair) for f in rest)):
            seen.add(covered({**known, **pair, **dict(zip(rest, values, strict=True))}))
            if len(seen) == 2:
                return seen
    return seen


def verdict(known: dict[str, Any]) -> Verdict:
    return verdict_over(outcomes(known))


def date_turns(known: dict[str, Any], fact: str) -> bool:
    """Whether some filling of the other unknowns (the other reference date
    a day of its bounds, the visit any day) gives two days of `fact` two
    coverages."""
    other = START if fact == DOS else DOS
    rest = [f for f in (other, VISIT, *BOOLS) if f not in known]
    domains: list[list[Any]] = [list(DAYS.get(f, [True, False])) for f in rest]
    for values in product(*domains):
        filled = {**known, **dict(zip(rest, values, strict=True))}
        if len({covered({**filled, fact: day}) for day in DAYS[fact]}) == 2:
            return True
    return False


def missing(known: dict[str, Any]) -> set[str]:
    if verdict(known) is not Verdict.NEEDS_INFORMATION:
        return set()
    found = {fact for fact in (DOS, START) if fact not in known and date_turns(known, fact)}
    for fact in (f for f in (VISIT, *BOOLS) if f not in known):
        rest = [f for f in (VISIT, *BOOLS) if f not in known and f != fact]
        if any(
            len(
                {
                    covered({**known, **pair, **dict(zip(rest, values, strict=True)), fact: v})
                    for v in grid(fact, pair)
                }
            )
            == 2
            for pair in pairs(known)
            for values in product(*(grid(f, pair) for f in rest))
        ):
            found.add(fact)
    return found


def days_of(change: dict[str, Any], fact: str) -> list[date]:
    return [d for d in DAYS[fact] if in_answer(d, change)]


def sampled(days: list[date]) -> list[date]:
    """A range's ends and every seventh day between."""
    return sorted({*days[::7], days[0], days[-1]}) if days else []


# -- cases ------------------------------------------------------------------------------

VISIT_CHOICES = [
    date(2023, 12, 1),
    date(2024, 1, 15),
    date(2024, 2, 10),
    date(2024, 3, 20),
    date(2024, 4, 5),
    date(2024, 5, 31),
]


@st.composite
def pair_cases(draw: st.DrawFn) -> dict[str, Any]:
    """A case without its date of service and its therapy start; the visit
    mostly given; each boolean given or not."""
    facts: dict[str, Any] = {}
    if draw(st.integers(0, 3)):
        facts[VISIT] = draw(st.sampled_from(VISIT_CHOICES))
    for fact in BOOLS:
        value = draw(st.sampled_from([None, True, False]))
        if value is not None:
            facts[fact] = value
    return facts


@pytest.fixture(scope="module")
def kb() -> KnowledgeBase:
    return KnowledgeBase([FIXTURE])


def as_case(facts: dict[str, Any]) -> dict[str, Any]:
    return harness.as_case("device-visit", facts)


@SETTINGS
@given(facts=pair_cases())
def test_verdict_missing_facts_and_explanations_equal_brute_force(
    kb: KnowledgeBase, facts: dict[str, Any]
) -> None:
    harness.assert_verdict_missing_and_explanations(kb, "device-visit", facts, verdict, missing)


@SETTINGS
@given(facts=pair_cases())
def test_each_reference_date_is_answered_with_its_days_verdicts(
    kb: KnowledgeBase, facts: dict[str, Any]
) -> None:
    """Each day of either date falls in exactly one answer, whose verdict is
    the verdict with that day stated and the other date still unknown."""
    answer = kb.why(kb.case(as_case(facts)), max_changes=5)
    asked = {item.fact: [a.to_dict() for a in item.answers] for item in answer.missing}
    for fact in (DOS, START):
        if fact not in asked:
            continue
        for day in DAYS[fact]:
            holding = [e for e in asked[fact] if in_answer(day, e)]
            assert len(holding) == 1, (fact, day, asked[fact])
            assert holding[0]["verdict"] == verdict({**facts, fact: day}).value, (fact, day)
    for fact in BOOLS:
        for entry in asked.get(fact, []):
            assert entry["verdict"] == verdict({**facts, fact: entry["value"]}).value


@SETTINGS
@given(facts=pair_cases())
def test_every_change_set_reaches_its_target_and_the_smallest_are_found(
    kb: KnowledgeBase, facts: dict[str, Any]
) -> None:
    answer = kb.why(kb.case(as_case(facts)), max_changes=400)
    sizes = {len(changes) for changes in answer.changes}
    assert len(sizes) <= 1
    for changes in answer.changes:
        settings_of = []
        for change in changes:
            data = change.to_dict()
            if "value" in data:
                settings_of.append([data["value"]])
            else:
                settings_of.append(sampled(days_of(data, change.fact)))
            assert settings_of[-1], change
        for values in product(*settings_of):
            changed = {**facts, **dict(zip((c.fact for c in changes), values, strict=True))}
            assert verdict(changed) is answer.target, (changes, values)
    # Single changes of either date or a boolean: exactly those found.
    singles = {
        (fact, day)
        for fact in (DOS, START)
        for day in DAYS[fact]
        if verdict({**facts, fact: day}) is answer.target
    } | {
        (fact, value)
        for fact in BOOLS
        for value in (True, False)
        if facts.get(fact) is not value and verdict({**facts, fact: value}) is answer.target
    }
    if sizes == {1}:
        listed = set()
        for (change,) in answer.changes:
            data = change.to_dict()
            if "value" in data:
                listed.add((change.fact, data["value"]))
            else:
                listed |= {(change.fact, day) for day in days_of(data, change.fact)}
        assert listed == singles
    else:
        assert not singles


def test_a_date_turns_though_every_class_its_other_date_meets_needs_information(
    kb: KnowledgeBase,
) -> None:
    """Both indications' booleans unknown, the visit early enough that the
    therapy started 3 months before every late day of service: for each day
    of the therapy start, the classes it meets all need information, or all
    are not covered, yet a filling shared across the days of service
    (urgent, not planned) shows that the date of service matters: only the
    product program over those classes (date_product.py) sees it."""
    facts: dict[str, Any] = {VISIT: date(2024, 1, 15)}
    evaluation = kb.evaluate(kb.case(as_case(facts)))
    assert evaluation.verdict is verdict(facts) is Verdict.NEEDS_INFORMATION
    assert {m.fact for m in evaluation.missing} == missing(facts) == {DOS, START, *BOOLS}
    evaluator = kb.evaluator("device-visit")
    known, _ = evaluator.known_facts(kb.case(as_case(facts)))
    split = evaluator.unknown_date(known)
    verdicts = split.class_verdicts(known)
    (start_runs,) = [split.meeting(r) for r in split.references if r == START]
    open_only = [
        met for _, _, met in start_runs if {verdicts[i] for i in met} == {Verdict.NEEDS_INFORMATION}
    ]
    mixed = [met for _, _, met in start_runs if len({verdicts[i] for i in met}) > 1]
    assert open_only and not mixed


def test_the_pair_classes_cover_every_pair_once(kb: KnowledgeBase) -> None:
    evaluator = kb.evaluator("device-visit")
    known, _ = evaluator.known_facts(kb.case(as_case({VISIT: date(2024, 2, 10)})))
    split = evaluator.unknown_date(known)
    first, second = split.references
    assert {first, second} == {DOS, START}
    seen = sorted(
        (a, b) for c in split.pair_classes for a, b0, b1 in c.rows for b in range(b0, b1 + 1)
    )
    expected = sorted((a.toordinal(), b.toordinal()) for a in DAYS[first] for b in DAYS[second])
    assert seen == expected
    assert len(split.pair_classes) < len(expected) // 50
    # Every pair of a class has the pattern of the class's first pair.
    from policykb.bridge.solving.covered_from import DayPatterns

    patterns = DayPatterns(evaluator, first, also=second)

    def key(a: int, b: int) -> object:
        stated = {**known, first: date.fromordinal(a), second: date.fromordinal(b)}
        return patterns.of(stated, date.fromordinal(a))

    for pair_class in split.pair_classes:
        wanted = key(*pair_class.day)
        for a, b0, b1 in pair_class.rows:
            assert key(a, b0) == wanted and key(a, b1) == wanted


def test_the_second_engine_proves_by_cases_over_the_pair_classes(kb: KnowledgeBase) -> None:
    """SWI-Prolog proves the case class by class (one grounding per pair
    class) and agrees with clingo in each; the proof's root splits on both
    dates."""
    facts = {VISIT: date(2024, 2, 10), "urgent": True}
    case = kb.case(as_case(facts))
    assert kb.cross_check(case) is verdict(facts) is kb.evaluate(case).verdict
    proved, tree = kb.prove(case)
    assert proved is verdict(facts)
    root = tree["root"]
    assert root["goal"] == f"cases({DOS}, {START})"
    evaluator = kb.evaluator("device-visit")
    known, _ = evaluator.known_facts(case)
    split = evaluator.unknown_date(known)
    branches = [c for c in root["children"] if c["rule"] == "case split"]
    assert len(branches) == len(split.cases)
    assert all(f"{DOS} " in b["goal"] and f" and {START} " in b["goal"] for b in branches)


def test_three_unknown_reference_dates_and_an_unbounded_one_are_refused(
    tmp_path: Path,
) -> None:
    folder = tmp_path / "three-references"
    folder.mkdir()
    (folder / "policy.lp").write_text('#include "vocabulary.lp".\n#include "criteria.lp".\n')
    (folder / "vocabulary.lp").write_text(
        (FIXTURE / "vocabulary.lp").read_text()
        + "fact(report_date, date). rank(report_date, 6).\n"
        + 'question(report_date, "When was the report?").\n'
    )
    (folder / "criteria.lp").write_text(
        (FIXTURE / "criteria.lp").read_text()
        + 'criterion("REPORT", "Rule 4", "A report within 10 days after the visit.").\n'
        + 'role("REPORT", prerequisite).\n'
        + 'met("REPORT") :- on_or_before(report_date, visit_date, days(10)).\n'
    )
    kb = KnowledgeBase([folder])
    case = kb.case({"policy": "three-references", "facts": {"urgent": True}})
    with pytest.raises(CaseError, match="at most two such dates unknown"):
        kb.evaluate(case)
    # visit_date now a reference date, stated: two unknown remain.
    two = kb.case({"policy": "three-references", "facts": {"urgent": True, VISIT: "2024-02-10"}})
    assert kb.evaluate(two).verdict is Verdict.NEEDS_INFORMATION
    (folder / "vocabulary.lp").write_text(
        (folder / "vocabulary.lp")
        .read_text()
        .replace('bounds(therapy_start, "2023-12-01", "2024-02-29").', "")
    )
    kb = KnowledgeBase([folder])
    two = kb.case({"policy": "three-references", "facts": {"urgent": True, VISIT: "2024-02-10"}})
    with pytest.raises(CaseError, match="therapy_start has no lower bound") as raised:
        kb.evaluate(two)
    assert "\n" not in str(raised.value)
