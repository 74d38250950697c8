"""Histories (kb/core/history.lp) against brute force over completions.

The screening-history fixture reads two histories: screenings (a frequency
limit and a routine screening over 119 months, a follow-on after a positive
FIT in 6 months with at most 2 FITs in the calendar year, the last
sigmoidoscopy more than 59 months back) and therapy visits (3 long visits in
the calendar year with 2 kinds of therapy since 2021; the first physical
therapy visit in 2021 or later). The oracle below is written from the
fixture's criteria text with its own calendar arithmetic: it enumerates the
completions of each history (the
stated records plus any multiset of extra records from a pool that holds a
record on each side of every boundary of the text, up to as many extras as
the text's largest count needs), and the values of high_risk.

Semantics under test: a history stated as a list holds at least its records;
{"complete": true, ...} holds exactly them; a history left out is unknown.
The verdict is covered (not covered) when every completion is; a history or
fact is missing when, for some completion of the rest, two of its
completions give different verdicts.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given

from policykb.bridge import KnowledgeBase, Verdict
from policykb.bridge.loading.case import validate_case
from policykb.bridge.model.errors import CaseError, PolicyError
from policykb.bridge.solving.evaluator import Evaluator
from tests.oracle import history_harness as harness
from tests.oracle.history_harness import months_from

FIXTURE = Path(__file__).parents[1] / "fixtures" / "kb"
POLICY = "screening-history"
SETTINGS = harness.property_settings(20)
Record = tuple[Any, ...]  # screenings: (test, date, result); visits: (kind, date, minutes)


# -- the oracle, from the criteria's text -----------------------------------------------


def screening_rules(dos: date, records: Iterable[Record]) -> tuple[bool, bool, bool, bool]:
    """(ROUTINE, FOLLOW, SIGMOID, a colonoscopy in the 119 months before) for a
    complete list."""
    records = list(records)
    colonoscopy = any(
        t == "colonoscopy" and months_from(dos, -119) <= d < dos for t, d, _ in records
    )
    positive_fit = any(
        t == "fit" and r == "positive" and months_from(dos, -6) <= d < dos for t, d, r in records
    )
    fits_this_year = sum(1 for t, d, _ in records if t == "fit" and d.year == dos.year)
    sigmoidoscopies = [d for t, d, _ in records if t == "sigmoidoscopy"]
    last_sigmoidoscopy_old = bool(sigmoidoscopies) and max(sigmoidoscopies) < months_from(dos, -59)
    follow = positive_fit and fits_this_year <= 2
    return not colonoscopy, follow, last_sigmoidoscopy_old, colonoscopy


def visit_rules(dos: date, records: Iterable[Record]) -> tuple[bool, bool]:
    """(VISITS, NEW) for a complete list of visits."""
    records = list(records)
    long_this_year = sum(1 for _, d, m in records if d.year == dos.year and m >= 30)
    kinds = {k for k, d, _ in records if d >= date(2021, 1, 1)}
    physical = [d for k, d, _ in records if k == "physical"]
    first_physical_new = bool(physical) and min(physical) >= date(2021, 1, 1)
    return long_this_year >= 3 and len(kinds) >= 2, first_physical_new


def around(edges: Iterable[date]) -> list[date]:
    """Each edge and the day before it, from 2000-01-01 (the screenings' bound) on."""
    days = {e + timedelta(days=k) for e in edges for k in (-1, 0)}
    return sorted(d for d in days if d >= date(2000, 1, 1))


def screening_pool(dos: date) -> list[Record]:
    """A record of each test on each side of every edge the text draws for it."""
    year = [date(dos.year, 1, 1), date(dos.year + 1, 1, 1)]
    pool: list[Record] = [
        ("colonoscopy", d, "negative") for d in around([months_from(dos, -119), dos])
    ]
    pool += [
        ("fit", d, r)
        for d in around([months_from(dos, -6), dos, *year])
        for r in ("negative", "positive")
    ]
    pool += [("sigmoidoscopy", d, "negative") for d in around([months_from(dos, -59), dos])]
    return pool


def visit_pool(dos: date) -> list[Record]:
    days = around([date(dos.year, 1, 1), date(dos.year + 1, 1, 1), date(2021, 1, 1)])
    return [(k, d, m) for k in ("physical", "speech") for d in days for m in (29, 30)]


def outcomes(facts: dict[str, Any]) -> dict[str, list[Any]]:
    """The values each unknown part of the case can give its rules."""
    dos = facts["dos"]
    screening, visits = facts["screenings"], facts["visits"]
    # 5 extras reach every outcome: a colonoscopy, three FITs this year (past
    # a stated positive one) and a sigmoidoscopy.
    s_out = {
        screening_rules(dos, c)
        for c in harness.completions(screening[0], screening[1], screening_pool(dos), 5)
    }
    # 4 extras: three long visits this year of two kinds, and a physical one before 2021.
    v_out = {
        visit_rules(dos, c) for c in harness.completions(visits[0], visits[1], visit_pool(dos), 4)
    }
    risk = harness.truth_values(facts["high_risk"])
    return {"screenings": sorted(s_out), "visits": sorted(v_out), "high_risk": risk}


def covered(
    dos: date, screening: tuple[bool, bool, bool, bool], visits: tuple[bool, bool], risk: bool
) -> bool:
    routine, follow, sigmoid, colonoscopy = screening
    excluded, new = visits
    indicated = routine or follow or sigmoid or new
    return dos >= date(2021, 1, 1) and indicated and not (colonoscopy and not risk) and not excluded


def oracle(facts: dict[str, Any]) -> tuple[Verdict, set[str]]:
    dos = facts["dos"]
    return harness.verdict_and_missing(
        outcomes(facts),
        lambda v: covered(dos, v["screenings"], v["visits"], v["high_risk"]),
    )


# -- cases -------------------------------------------------------------------------------

SERVICE_DAYS = [
    date(2020, 12, 31),
    date(2021, 1, 1),
    date(2024, 2, 29),
    date(2024, 3, 31),
    date(2025, 8, 31),
]


CASES = harness.cases_of(
    SERVICE_DAYS, ["high_risk"], {"screenings": screening_pool, "visits": visit_pool}, max_size=4
)


def document(facts: dict[str, Any]) -> dict[str, Any]:
    fields = {"screenings": ("test", "date", "result"), "visits": ("kind", "date", "minutes")}
    return harness.document_of(POLICY, facts, {"high_risk": "high_risk"}, fields)


@pytest.fixture(scope="module")
def evaluator() -> Evaluator:
    return harness.knowledge_base(FIXTURE).evaluator(POLICY)


# -- properties --------------------------------------------------------------------------


@SETTINGS
@given(facts=CASES)
def test_verdict_and_missing_equal_brute_force(evaluator: Evaluator, facts: dict[str, Any]) -> None:
    harness.assert_verdict_and_missing(evaluator, document(facts), oracle(facts))


@SETTINGS
@given(facts=CASES)
def test_a_longer_partial_history_never_undoes_a_decided_verdict(
    evaluator: Evaluator, facts: dict[str, Any]
) -> None:
    """Stating more records of a partial history only narrows the completions:
    a decided verdict stays, and a covered or not-covered case stays so."""
    records, complete = facts["screenings"]
    if records is None or complete:
        return
    before = evaluator.evaluate(validate_case(document(facts), evaluator.policy, "c")).verdict
    longer = {**facts, "screenings": ([*records, ("fit", facts["dos"], "positive")], False)}
    after = evaluator.evaluate(validate_case(document(longer), evaluator.policy, "c")).verdict
    if before is not Verdict.NEEDS_INFORMATION:
        assert after is before
    assert after is oracle(longer)[0]


# -- named edges ----------------------------------------------------------------------


def _verdict(evaluator: Evaluator, stated: dict[str, Any]) -> Verdict:
    case = validate_case({"policy": POLICY, "facts": stated}, evaluator.policy, "c")
    return evaluator.evaluate(case).verdict


def test_colonoscopy_on_the_119th_month_boundary(evaluator: Evaluator) -> None:
    """2024-03-31 minus 119 months is 2014-04-30: a colonoscopy that day is
    within the limit, the day before it is not."""
    base = {"date_of_service": "2024-03-31", "high_risk": False, "visits": {"complete": True}}
    for day, expected in (("2014-04-30", Verdict.NOT_COVERED), ("2014-04-29", Verdict.COVERED)):
        record = {"test": "colonoscopy", "date": day, "result": "negative"}
        stated = {**base, "screenings": {"complete": True, "records": [record]}}
        assert _verdict(evaluator, stated) is expected


def test_absence_is_false_only_for_a_complete_history(evaluator: Evaluator) -> None:
    base = {"date_of_service": "2024-03-31", "high_risk": False, "visits": {"complete": True}}
    assert _verdict(evaluator, {**base, "screenings": {"complete": True, "records": []}}) is (
        Verdict.COVERED
    )
    assert _verdict(evaluator, {**base, "screenings": []}) is Verdict.NEEDS_INFORMATION
    assert _verdict(evaluator, base) is Verdict.NEEDS_INFORMATION


def test_counts_per_calendar_year(evaluator: Evaluator) -> None:
    """Three long visits in the year of service, of two kinds, exclude; a
    visit on 31 December of the year before does not count."""

    def visits(days: list[str]) -> dict[str, Any]:
        kinds = ["physical", "speech", "physical"]
        rows = [{"kind": k, "date": d, "minutes": 30} for k, d in zip(kinds, days, strict=True)]
        return {"complete": True, "records": rows}

    base = {"date_of_service": "2024-03-31", "high_risk": False, "screenings": {"complete": True}}
    inside = visits(["2024-01-01", "2024-02-01", "2024-03-01"])
    outside = visits(["2023-12-31", "2024-02-01", "2024-03-01"])
    assert _verdict(evaluator, {**base, "visits": inside}) is Verdict.NOT_COVERED
    assert _verdict(evaluator, {**base, "visits": outside}) is Verdict.COVERED


# -- bad records and declarations --------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("yes", "column .screenings.: a history is written as JSON"),
        (7, "fact .screenings. must be a list of records"),
        ([{"test": "mri", "date": "2020-01-01", "result": "negative"}], "records[0], field 'test'"),
        ([{"test": "fit", "date": "2020-02-30", "result": "negative"}], "records[0], field 'date'"),
        ([{"test": "fit", "date": "2020-02-03"}], "records[0]: field 'result' is missing"),
        (
            [{"test": "fit", "date": "2020-02-03", "result": "positive", "x": 1}],
            "unknown field 'x'",
        ),
        ({"complete": "yes", "records": []}, "'complete' must be true or false"),
        ({"complte": True, "records": []}, "unknown key 'complte'"),
        ([{"test": "fit", "date": "1999-12-31", "result": "positive"}], "records[0], field 'date'"),
    ],
)
def test_bad_records_are_named(evaluator: Evaluator, value: object, message: str) -> None:
    stated = {"date_of_service": "2024-03-31", "screenings": value}
    with pytest.raises(CaseError, match=message.replace("[", r"\[").replace("]", r"\]")):
        validate_case({"policy": POLICY, "facts": stated}, evaluator.policy, "c")


VOCABULARY = """
fact(date_of_service, date).
history(h).
record_field(h, kind, enum). field_option(h, kind, a). field_option(h, kind, b).
record_field(h, day, date).
record_field(h, amount, int). field_bounds(h, amount, 0, 100).
record_condition(m, h, "an a").
condition_test(m, kind, is(a)).
criterion("C", "1", "c"). role("C", indication).
"""


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ("condition_test(m, kind, is(z)).", "policy.lp:10: condition_test\\(m, kind, is\\(z\\)\\)"),
        (
            "condition_test(m, day, at_least(3)).",
            "policy.lp:10: .*at_least does not compare a date",
        ),
        ("condition_test(m, nope, holds).", "policy.lp:10: .*have no field nope"),
        ("record_field(h, x, text).", "policy.lp:10: record_field\\(h, x, text\\): the type"),
        ('met("C") :- count_at_least(h, m, 40).', "policy.lp:10: count_at_least.*from 1 to 12"),
        ('met("C") :- exists(h, other).', "policy.lp:10: .*other is not a record_condition"),
        (
            'met("C") :- sum_at_most(h, m, amount, 90).',
            "policy.lp:10: sum_at_most over a history cannot be made exact",
        ),
        (
            'met("C") :- distinct_at_least(h, m, amount, 2).',
            "policy.lp:10: .*amount is not an enum field",
        ),
    ],
)
def test_bad_declarations_are_refused_with_file_and_line(
    tmp_path: Path, extra: str, message: str
) -> None:
    folder = tmp_path / "bad-history"
    folder.mkdir()
    (folder / "policy.lp").write_text(VOCABULARY + extra + "\n")
    with pytest.raises(PolicyError, match=message):
        KnowledgeBase([tmp_path]).evaluator("bad-history")


# -- the other readers, the second engine, why ---------------------------------------


def test_csv_cells_and_string_columns_hold_the_history_as_json(evaluator: Evaluator) -> None:
    """CSV (and a Parquet or Arrow string column) write a history as the JSON
    a case file would hold; it reads the same."""
    from policykb.bridge.loading.case import csv_document

    rows = {
        "complete": True,
        "records": [{"test": "colonoscopy", "date": "2014-04-30", "result": "negative"}],
    }
    row = {"date_of_service": "2024-03-31", "high_risk": "false", "screenings": json.dumps(rows)}
    from_csv = validate_case(csv_document(row, evaluator.policy), evaluator.policy, "c")
    as_json = validate_case(
        {"facts": {"date_of_service": "2024-03-31", "high_risk": False, "screenings": rows}},
        evaluator.policy,
        "c",
    )
    as_string = validate_case(
        {
            "facts": {
                "date_of_service": "2024-03-31",
                "high_risk": False,
                "screenings": json.dumps(rows),
            }
        },
        evaluator.policy,
        "c",
    )
    assert dict(from_csv.facts) == dict(as_json.facts) == dict(as_string.facts)
    assert evaluator.evaluate(from_csv).verdict is Verdict.NOT_COVERED


@pytest.mark.prolog
@harness.property_settings(10)
@given(facts=CASES)
def test_the_second_engine_agrees_on_histories(facts: dict[str, Any]) -> None:
    harness.assert_second_engine_agrees(
        harness.knowledge_base(FIXTURE), document(facts), oracle(facts)[0]
    )


@harness.property_settings(10)
@given(facts=CASES)
def test_each_change_set_reaches_its_target_and_explanations_decide(facts: dict[str, Any]) -> None:
    """Why over histories: every minimal explanation alone gives the verdict
    and no piece of it can go; every change set gives the target verdict."""
    harness.assert_explanations_decide_and_changes_reach_their_target(
        harness.knowledge_base(FIXTURE), POLICY, document(facts), minimal=True
    )


def test_latest_and_earliest_read_the_whole_history(evaluator: Evaluator) -> None:
    """SIGMOID: the last sigmoidoscopy more than 59 months back (2024-03-31
    minus 59 months is 2019-04-30). NEW: the first physical visit in 2021 or
    later. A later (earlier) record than the window undoes it; a partial
    history leaves it open unless a stated record already undoes it."""
    from policykb.bridge.model.result import Status

    def status(criterion: str, stated: dict[str, Any]) -> Status:
        stated = {"date_of_service": "2024-03-31", **stated}
        case = validate_case({"policy": POLICY, "facts": stated}, evaluator.policy, "c")
        return evaluator.evaluate(case).criteria[criterion]

    def records(kind: str, days: list[str], complete: bool = True) -> object:
        rows = [
            {"test": kind, "date": d, "result": "negative"}
            if kind == "sigmoidoscopy"
            else {"kind": kind, "date": d, "minutes": 20}
            for d in days
        ]
        return {"complete": True, "records": rows} if complete else rows

    def sigmoid(days: list[str], complete: bool = True) -> Status:
        return status("SIGMOID", {"screenings": records("sigmoidoscopy", days, complete)})

    assert sigmoid(["2019-04-29"]) is Status.MET
    assert sigmoid(["2019-04-30"]) is Status.NOT_MET
    assert sigmoid(["2019-04-29", "2023-01-01"]) is Status.NOT_MET
    assert sigmoid([]) is Status.NOT_MET
    assert sigmoid(["2019-04-29"], complete=False) is Status.UNKNOWN
    assert sigmoid(["2023-01-01"], complete=False) is Status.NOT_MET

    def new(days: list[str], complete: bool = True) -> Status:
        return status("NEW", {"visits": records("physical", days, complete)})

    assert new(["2021-01-01"]) is Status.MET
    assert new(["2020-12-31", "2022-05-05"]) is Status.NOT_MET
    assert new(["2021-01-01"], complete=False) is Status.UNKNOWN
    assert new(["2020-12-31"], complete=False) is Status.NOT_MET


def _ranges_by_every_combination(
    history: Any, record_class: Any, anchors: dict[str, int]
) -> list[str]:
    """History.ranges without its pruning: each piece of a number or date field
    fits when some combination of every outcome of the other fields gives the
    class's key."""
    from itertools import product as every

    from policykb.bridge.model.history_class import _joined, _merged, _options
    from policykb.bridge.model.typed import Cut, intervals

    wanted = (record_class.meets, record_class.options)
    found = []
    for name, declared in history.fields.items():
        tests = history.tests_of(name)
        if not declared.type.numeric or not tests:
            continue
        cuts = [Cut(at, closed) for t in tests for at, closed in t.cut_points(anchors) or []]
        whole = declared.type.value != "decimal"
        pieces = intervals(declared.low, declared.high, cuts, whole)
        others = [history._field_outcomes(f, anchors) for f in history.fields if f != name]
        fitting = []
        for piece in pieces:
            sample = piece.representative(whole)
            outcome = {t: t.passes(sample, anchors, history.code_sets) for t in tests}
            if any(history.key(_merged(outcome, c), _options(c)) == wanted for c in every(*others)):
                fitting.append(piece)
        if fitting and len(fitting) < len(pieces):
            words = " or ".join(declared.span(p).words for p in _joined(fitting))
            found.append(f"{name.replace('_', ' ')} {words}")
    return found


@pytest.mark.parametrize(
    ("policy", "day"),
    [
        ("screening-history", date(2024, 3, 31)),
        ("screening-history", date(2024, 2, 29)),
        ("glp1-step-therapy", date(2024, 8, 31)),
        ("glp1-step-therapy", date(2025, 3, 1)),
    ],
)
def test_class_ranges_are_those_of_every_combination(policy: str, day: date) -> None:
    """The ranges an explanation or change gives a record class (its dates and
    numbers) are the same as trying every combination of the other fields'
    outcomes: History.ranges prunes the combinations, never the answer."""
    anchors = {"date_of_service": day.toordinal()}
    for history in harness.knowledge_base(FIXTURE).evaluator(policy).policy.histories.values():
        for record_class in history.possible(anchors):
            expected = _ranges_by_every_combination(history, record_class, anchors)
            assert history.ranges(record_class, anchors) == expected, record_class
