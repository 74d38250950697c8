"""latest_meets and earliest_meets beside a count of two over the same records
(kb/core/history.lp, model/history_twice.py) against brute force over completions.

The lab-trend fixture covers a member who takes metformin (METFORMIN) when
the most recent A1C of the 6 months up to the date of service is 7 or more
and there are two A1C results or more to date (GOAL), or the first lipid
result was 5 or more and there are two lipid results or more (LIPID), or for
a renewal there are two A1C results or more to date, one of them current
(TREND), unless the member has a single A1C to date, a current one below 7
(SINGLE).
The oracle below is written from that text with its own calendar arithmetic
and its own reading of ties (records sharing the latest or earliest date
must all pass): it enumerates the completions of the history (the stated
records plus any multiset of up to four extra records from a pool with a
record on each side of every edge the text draws: four extras reach every
outcome, two per indication) and the values of on_metformin and renewal.
"""

from __future__ import annotations

import calendar
from collections.abc import Iterable, Iterator
from datetime import date, timedelta
from functools import cache
from itertools import combinations_with_replacement
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from policykb.bridge import KnowledgeBase, Verdict
from policykb.bridge.loading.case import validate_case
from policykb.bridge.model.errors import PolicyError
from policykb.bridge.model.result import Status
from policykb.bridge.solving.evaluator import Evaluator
from tests.sampling import examples

FIXTURE = Path(__file__).parents[1] / "fixtures" / "kb"
POLICY = "lab-trend"
FIRST_DAY = date(2015, 1, 1)
SETTINGS = settings(
    max_examples=examples(60),
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
Record = tuple[str, date, int]  # (test, date, value)


def months_from(day: date, months: int) -> date:
    index = day.year * 12 + day.month - 1 + months
    year, month = index // 12, index % 12 + 1
    return date(year, month, min(day.day, calendar.monthrange(year, month)[1]))


# -- the oracle, from the criteria's text -----------------------------------------------


def edge_passes(records: list[Record], latest: bool, passes: Any) -> bool:
    """Whether the latest (earliest) of `records` passes: every record of that date."""
    if not records:
        return False
    edge = max(d for _, d, _ in records) if latest else min(d for _, d, _ in records)
    return all(passes(r) for r in records if r[1] == edge)


def lab_rules(dos: date, records: Iterable[Record]) -> tuple[bool, bool, bool, bool]:
    """(GOAL, LIPID, SINGLE, two A1Cs to date with a current one) for a
    complete list of lab results."""
    records = list(records)
    to_date = [r for r in records if r[0] == "a1c" and r[1] <= dos]
    recent = [r for r in to_date if r[1] >= months_from(dos, -6)]
    lipids = [r for r in records if r[0] == "lipid"]
    latest_high = edge_passes(recent, True, lambda r: r[2] >= 7)
    goal = latest_high and len(to_date) >= 2
    lipid = edge_passes(lipids, False, lambda r: r[2] >= 5) and len(lipids) >= 2
    single = len(to_date) <= 1 and bool(recent) and not latest_high
    trend = len(to_date) >= 2 and bool(recent)
    return goal, lipid, single, trend


def pool(dos: date) -> list[Record]:
    """A result of each kind on each side of every edge of the text."""
    start = months_from(dos, -6)
    a1c_days = [start - timedelta(days=1), start, dos - timedelta(days=1), dos]
    a1c_days.append(dos + timedelta(days=1))
    found: list[Record] = [("a1c", d, v) for d in a1c_days for v in (6, 7)]
    lipid_days = [FIRST_DAY, FIRST_DAY + timedelta(days=1), date(2019, 6, 1), dos]
    found += [("lipid", d, v) for d in lipid_days for v in (4, 5)]
    return found


def completions(stated: list[Record] | None, complete: bool, dos: date) -> Iterator[list[Record]]:
    base = stated or []
    if complete:
        yield base
        return
    extras = pool(dos)
    for size in range(5):
        for added in combinations_with_replacement(extras, size):
            yield [*base, *added]


@cache
def outcomes(records: tuple[Record, ...] | None, complete: bool, dos: date) -> frozenset[Any]:
    stated = list(records) if records is not None else None
    return frozenset(lab_rules(dos, c) for c in completions(stated, complete, dos))


Scalars = tuple[bool, bool]  # (on_metformin, renewal)


def covered(labs: tuple[bool, bool, bool, bool], scalars: Scalars) -> bool:
    goal, lipid, single, trend = labs
    metformin, renewal = scalars
    return metformin and (goal or lipid or (renewal and trend)) and not single


def scalar_values(facts: dict[str, Any]) -> list[Scalars]:
    metformin = [facts["metformin"]] if facts["metformin"] is not None else [True, False]
    renewal = [facts["renewal"]] if facts["renewal"] is not None else [True, False]
    return [(m, r) for m in metformin for r in renewal]


def oracle(facts: dict[str, Any]) -> tuple[Verdict, set[str]]:
    records, complete = facts["labs"]
    labs = outcomes(records, complete, facts["dos"])
    scalars = scalar_values(facts)
    verdicts = {covered(lab, s) for lab in labs for s in scalars}
    if len(verdicts) == 1:
        return (Verdict.COVERED if verdicts == {True} else Verdict.NOT_COVERED), set()
    missing = set()
    if any(len({covered(lab, s) for lab in labs}) == 2 for s in scalars):
        missing.add("labs")
    for index, name in enumerate(("on_metformin", "renewal")):
        for lab in labs:
            for s in scalars:
                flipped = (not s[0], s[1]) if index == 0 else (s[0], not s[1])
                if flipped in scalars and covered(lab, s) != covered(lab, flipped):
                    missing.add(name)
    return Verdict.NEEDS_INFORMATION, missing


# -- cases -------------------------------------------------------------------------------

SERVICE_DAYS = [date(2021, 8, 31), date(2024, 2, 29), date(2024, 3, 31)]


@st.composite
def cases(draw: st.DrawFn) -> dict[str, Any]:
    dos = draw(st.sampled_from(SERVICE_DAYS))
    form = draw(st.sampled_from(["unknown", "partial", "partial", "complete"]))
    records = None
    if form != "unknown":
        records = tuple(draw(st.lists(st.sampled_from(pool(dos)), max_size=4)))
    return {
        "dos": dos,
        "metformin": draw(st.sampled_from([True, False, None])),
        "renewal": draw(st.sampled_from([True, False, None])),
        "labs": (records, form == "complete"),
    }


def document(facts: dict[str, Any]) -> dict[str, Any]:
    stated: dict[str, Any] = {"date_of_service": facts["dos"].isoformat()}
    if facts["metformin"] is not None:
        stated["on_metformin"] = facts["metformin"]
    if facts["renewal"] is not None:
        stated["renewal"] = facts["renewal"]
    records, complete = facts["labs"]
    if records is not None:
        rows = [{"test": t, "date": d.isoformat(), "value": v} for t, d, v in records]
        stated["labs"] = {"complete": True, "records": rows} if complete else rows
    return {"policy": POLICY, "facts": stated}


_KB: list[KnowledgeBase] = []


def _kb() -> KnowledgeBase:
    if not _KB:
        _KB.append(KnowledgeBase([FIXTURE]))
    return _KB[0]


@pytest.fixture(scope="module")
def evaluator() -> Evaluator:
    return _kb().evaluator(POLICY)


def missing_of(evaluator: Evaluator, evaluation: Any) -> set[str]:
    found = set()
    for item in evaluation.missing:
        history = evaluator.policy.history_of(item.fact)
        found.add(history.name if history is not None else item.fact)
    return found


# -- properties --------------------------------------------------------------------------


@SETTINGS
@given(facts=cases())
def test_verdict_and_missing_equal_brute_force(evaluator: Evaluator, facts: dict[str, Any]) -> None:
    case = validate_case(document(facts), evaluator.policy, "c")
    evaluation = evaluator.evaluate(case)
    verdict, missing = oracle(facts)
    assert evaluation.verdict is verdict
    assert missing_of(evaluator, evaluation) == missing


@SETTINGS
@given(facts=cases())
def test_each_criterion_equals_brute_force(evaluator: Evaluator, facts: dict[str, Any]) -> None:
    """GOAL, LIPID, SINGLE and TREND each met (not met) exactly when every
    completion makes them so: the order and twice facts are exact per
    criterion, SINGLE reading the count and the order negated, TREND the
    count alone."""
    case = validate_case(document(facts), evaluator.policy, "c")
    statuses = evaluator.evaluate(case).criteria
    records, complete = facts["labs"]
    seen = outcomes(records, complete, facts["dos"])
    renewal = [facts["renewal"]] if facts["renewal"] is not None else [True, False]
    for index, name in enumerate(("GOAL", "LIPID", "SINGLE", "TREND")):
        values = {outcome[index] for outcome in seen}
        if name == "TREND":
            values = {v and r for v in values for r in renewal}
        expected = Status.UNKNOWN
        if len(values) == 1:
            expected = Status.MET if values == {True} else Status.NOT_MET
        assert statuses[name] is expected, name


@pytest.mark.prolog
@settings(
    max_examples=examples(10),
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(facts=cases())
def test_the_second_engine_agrees(facts: dict[str, Any]) -> None:
    kb = _kb()
    assert kb.cross_check(kb.case(document(facts))) is oracle(facts)[0]


@settings(
    max_examples=examples(12),
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(facts=cases())
def test_explanations_decide_and_changes_reach_their_target(facts: dict[str, Any]) -> None:
    kb = _kb()
    evaluator = kb.evaluator(POLICY)
    case = kb.case(document(facts))
    answer = kb.why(case)
    known = dict(case.facts)
    anchored = evaluator.for_known(known)
    for explanation in answer.explanations:
        part = {item.fact: item.value for item in explanation}
        part.setdefault("date_of_service", known["date_of_service"])
        assert anchored.verdict_of(part) is answer.verdict
    for changes in answer.changes:
        changed = dict(known)
        for change in changes:
            changed[change.fact] = getattr(change.value, "example", change.value)
        changed = {f: v for f, v in changed.items() if v is not None}
        assert anchored.verdict_of(changed) is answer.target


# -- named edges ----------------------------------------------------------------------

DOS = "2024-03-31"


def _statuses(
    evaluator: Evaluator, rows: list[tuple[str, str, int]], complete: bool
) -> dict[str, Status]:
    records = [{"test": t, "date": d, "value": v} for t, d, v in rows]
    labs: object = {"complete": True, "records": records} if complete else records
    stated = {"date_of_service": DOS, "on_metformin": True, "renewal": True, "labs": labs}
    case = validate_case({"policy": POLICY, "facts": stated}, evaluator.policy, "c")
    return dict(evaluator.evaluate(case).criteria)


def test_each_ordered_condition_counted_two_at_a_time_has_one_twice_fact(
    evaluator: Evaluator,
) -> None:
    """The classes of recent_a1c and lipid keep one level each; the counts of
    two read them through a twice fact; the A1Cs before the 6 months (counted
    by a1c_to_date, not ordered) keep their second level."""
    history = evaluator.policy.histories["labs"]
    assert [(u.condition, u.counted) for u in history.twice] == [
        ("lipid", ("lipid",)),
        ("recent_a1c", ("a1c_to_date",)),
    ]
    for record_class in history.classes:
        ordered = bool(record_class.meets & {"recent_a1c", "lipid"})
        if ordered:
            assert history.class_cap(record_class) == 1, record_class
            assert history.counted(record_class)
        elif "a1c_to_date" in record_class.meets:
            assert history.class_cap(record_class) == 2, record_class


def test_the_stated_records_pin_the_twice_fact(evaluator: Evaluator) -> None:
    """Two stated records meeting the ordered condition decide the count on
    a partial history; one leaves it open, and a complete history decides."""
    high, low = ("a1c", "2024-03-01", 8), ("a1c", "2024-01-15", 6)
    # one current A1C of 8, partial: a second one may or may not exist, and a
    # later one below 7 may; GOAL and SINGLE are open
    assert _statuses(evaluator, [high], False)["GOAL"] is Status.UNKNOWN
    assert _statuses(evaluator, [high], False)["SINGLE"] is Status.NOT_MET
    # complete: one A1C to date, so no trend; the latest (the only) is 7 or more
    assert _statuses(evaluator, [high], True)["GOAL"] is Status.NOT_MET
    assert _statuses(evaluator, [high], True)["SINGLE"] is Status.NOT_MET
    # two current A1Cs, the later 8: the count is decided, the order is not
    # (a later one below 7 may be missing) unless the history is complete
    assert _statuses(evaluator, [low, high], False)["GOAL"] is Status.UNKNOWN
    assert _statuses(evaluator, [low, high], True)["GOAL"] is Status.MET
    # the earlier 8, the later 6: complete, not met; an old A1C counts to two
    assert _statuses(evaluator, [("a1c", "2024-01-15", 8), ("a1c", "2024-03-01", 6)], True)[
        "GOAL"
    ] is (Status.NOT_MET)
    old = ("a1c", "2023-01-01", 5)
    assert _statuses(evaluator, [old, high], True)["GOAL"] is Status.MET
    # a single current A1C of 6 on the date of service, partial: nothing later
    # can be added, but a second A1C may: SINGLE open, GOAL not met
    today = ("a1c", DOS, 6)
    assert _statuses(evaluator, [today], False)["GOAL"] is Status.NOT_MET
    assert _statuses(evaluator, [today], False)["SINGLE"] is Status.UNKNOWN
    assert _statuses(evaluator, [today], True)["SINGLE"] is Status.MET
    # two current A1Cs of one class (both 8): the stated records decide the
    # count on a partial history (the twice fact pinned true), so TREND is met
    twins = [("a1c", "2024-01-15", 8), high]
    assert _statuses(evaluator, twins, False)["TREND"] is Status.MET
    assert _statuses(evaluator, twins[:1], False)["TREND"] is Status.UNKNOWN
    assert _statuses(evaluator, twins[:1], True)["TREND"] is Status.NOT_MET


def test_the_earliest_lipid_with_two_lipids(evaluator: Evaluator) -> None:
    """The lipid dates have a first day (2015-01-01) and no last: a failing
    stated lipid on the first day decides LIPID on a partial history."""
    first = ("lipid", "2015-01-01", 4)
    assert _statuses(evaluator, [first], False)["LIPID"] is Status.NOT_MET
    assert _statuses(evaluator, [("lipid", "2015-01-02", 4)], False)["LIPID"] is Status.UNKNOWN
    five = [("lipid", "2016-01-01", 5), ("lipid", "2017-01-01", 4)]
    assert _statuses(evaluator, five, True)["LIPID"] is Status.MET
    assert _statuses(evaluator, five[:1], True)["LIPID"] is Status.NOT_MET


VOCABULARY = """
fact(date_of_service, date).
history(h).
record_field(h, kind, enum). field_option(h, kind, a). field_option(h, kind, b).
record_field(h, day, date).
record_field(h, amount, int). field_bounds(h, amount, 0, 100).
record_condition(m, h, "a recent a").
condition_test(m, kind, is(a)).
condition_test(m, day, on_or_after(date_of_service, months(-6))).
record_condition(any_a, h, "an a").
condition_test(any_a, kind, is(a)).
record_condition(recent, h, "a recent record").
condition_test(recent, day, on_or_after(date_of_service, months(-6))).
record_condition(small, h, "a small amount").
condition_test(small, amount, below(10)).
criterion("C", "1", "c"). role("C", indication).
"""


@pytest.mark.parametrize(
    ("rule", "message"),
    [
        (
            'met("C") :- latest_meets(h, m, small), count_at_least(h, any_a, 3).',
            "policy.lp:17: latest_meets.*a count of two or more records meeting any_a "
            r"\(here 3\).*only a count of two",
        ),
        (
            'met("C") :- latest_meets(h, m, small), count_at_most(h, any_a, 2).',
            r"policy.lp:17: latest_meets.*\(here 3\)",
        ),
        (
            'met("C") :- latest_meets(h, m, small), count_at_least(h, small, 2).',
            "policy.lp:17: latest_meets.*counts some records meeting m and not others",
        ),
        (
            'met("C") :- latest_meets(h, m, small), latest_meets(h, recent, small), '
            "count_at_least(h, any_a, 2).",
            "policy.lp:17: latest_meets[(]h, recent, small[)]: records meeting m are counted "
            "two at a time, and records meeting recent may or may not meet m",
        ),
        (
            'met("C") :- latest_meets(h, m, small), count_at_least(h, any_a, 2), '
            "follows_within(h, m, m, days(1), days(30)).",
            "policy.lp:17: follows_within.*a count of two or more records meeting m",
        ),
    ],
)
def test_counts_the_order_cannot_be_read_with_are_refused_with_file_and_line(
    tmp_path: Path, rule: str, message: str
) -> None:
    folder = tmp_path / "bad-twice"
    folder.mkdir()
    (folder / "policy.lp").write_text(VOCABULARY + rule + "\n")
    with pytest.raises(PolicyError, match=message):
        KnowledgeBase([tmp_path]).evaluator("bad-twice")


def test_a_count_of_two_over_every_ordered_record_is_admitted(tmp_path: Path) -> None:
    """any_a holds every record of m (and older ones): admitted with a twice
    fact, the order facts of m and of a condition within m beside it."""
    folder = tmp_path / "good-twice"
    folder.mkdir()
    text = (
        VOCABULARY
        + 'record_condition(m_small, h, "a recent small a").\n'
        + "condition_test(m_small, kind, is(a)).\n"
        + "condition_test(m_small, day, on_or_after(date_of_service, months(-6))).\n"
        + "condition_test(m_small, amount, below(10)).\n"
        + 'met("C") :- latest_meets(h, m, small), earliest_meets(h, m_small, small), '
        + "count_at_most(h, any_a, 1).\n"
    )
    (folder / "policy.lp").write_text(text)
    history = KnowledgeBase([tmp_path]).evaluator("good-twice").policy.histories["h"]
    assert [(u.condition, u.counted, u.fact) for u in history.twice] == [
        ("m", ("any_a",), "h_twice_m")
    ]
