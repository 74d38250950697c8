"""sum_at_least (kb/core/history.lp) against brute force over completions.

The supply-history fixture covers a diagnosed member (DIAGNOSIS), from 2021 on
(DOS), with 90 days' supply or more of preferred drugs filled in the 12
months before the date of service, of two different drugs (TRIAL), or 30 days
or more of non-preferred drugs at any time (OTHER), unless drug c was ever
filled as preferred (BANNED). The oracle below is written from that text with
its own calendar arithmetic: it enumerates the completions of the history
(the stated fills plus any multiset of up to three extra fills from a pool
with a fill of each kind on each side of the 12-month edge, of 0, 29, 30 and
60 days) and the values of diagnosed.
"""

from __future__ import annotations

import calendar
from collections.abc import Iterable, Iterator
from datetime import date, timedelta
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
POLICY = "supply-history"
SETTINGS = settings(
    max_examples=examples(40),
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
Fill = tuple[str, bool, date, int]  # (drug, preferred, date, days_supply)


def months_from(day: date, months: int) -> date:
    index = day.year * 12 + day.month - 1 + months
    year, month = index // 12, index % 12 + 1
    return date(year, month, min(day.day, calendar.monthrange(year, month)[1]))


# -- the oracle, from the criteria's text -----------------------------------------------


def fill_rules(dos: date, fills: Iterable[Fill]) -> tuple[bool, bool, bool]:
    """(TRIAL, OTHER, BANNED) for a complete list of fills."""
    fills = list(fills)
    recent = [f for f in fills if f[1] and months_from(dos, -12) <= f[2] < dos]
    trial = sum(f[3] for f in recent) >= 90 and len({f[0] for f in recent}) >= 2
    other = sum(f[3] for f in fills if not f[1]) >= 30
    banned = any(d == "c" and p for d, p, _, _ in fills)
    return trial, other, banned


def pool(dos: date) -> list[Fill]:
    edge = months_from(dos, -12)
    days = [edge - timedelta(days=1), edge, dos - timedelta(days=1), dos]
    kinds = [("a", True), ("b", True), ("c", True), ("a", False)]
    return [(d, p, day, s) for d, p in kinds for day in days for s in (0, 29, 30, 60)]


def completions(stated: list[Fill] | None, complete: bool, dos: date) -> Iterator[list[Fill]]:
    base = stated or []
    if complete:
        yield base
        return
    extras = pool(dos)
    for size in range(4):
        for added in combinations_with_replacement(extras, size):
            yield [*base, *added]


def covered(dos: date, fills: tuple[bool, bool, bool], diagnosed: bool) -> bool:
    trial, other, banned = fills
    return dos >= date(2021, 1, 1) and diagnosed and (trial or other) and not banned


def outcomes(facts: dict[str, Any]) -> list[tuple[bool, bool, bool]]:
    records, complete = facts["fills"]
    return sorted(
        {fill_rules(facts["dos"], c) for c in completions(records, complete, facts["dos"])}
    )


def oracle(facts: dict[str, Any]) -> tuple[Verdict, set[str]]:
    dos = facts["dos"]
    fills = outcomes(facts)
    diagnosed = [facts["diagnosed"]] if facts["diagnosed"] is not None else [True, False]
    verdicts = {covered(dos, f, d) for f in fills for d in diagnosed}
    if len(verdicts) == 1:
        return (Verdict.COVERED if verdicts == {True} else Verdict.NOT_COVERED), set()
    missing = set()
    if any(len({covered(dos, f, d) for f in fills}) == 2 for d in diagnosed):
        missing.add("fills")
    if any(len({covered(dos, f, d) for d in diagnosed}) == 2 for f in fills):
        missing.add("diagnosed")
    return Verdict.NEEDS_INFORMATION, missing


# -- cases -------------------------------------------------------------------------------

SERVICE_DAYS = [date(2020, 12, 31), date(2021, 2, 28), date(2024, 2, 29), date(2024, 3, 31)]


@st.composite
def cases(draw: st.DrawFn) -> dict[str, Any]:
    dos = draw(st.sampled_from(SERVICE_DAYS))
    form = draw(st.sampled_from(["unknown", "partial", "complete"]))
    records = None
    if form != "unknown":
        records = draw(st.lists(st.sampled_from(pool(dos)), max_size=4))
    return {
        "dos": dos,
        "diagnosed": draw(st.sampled_from([True, False, None])),
        "fills": (records, form == "complete"),
    }


def document(facts: dict[str, Any]) -> dict[str, Any]:
    stated: dict[str, Any] = {"date_of_service": facts["dos"].isoformat()}
    if facts["diagnosed"] is not None:
        stated["diagnosed"] = facts["diagnosed"]
    records, complete = facts["fills"]
    if records is not None:
        rows = [
            {"drug": d, "preferred": p, "date": day.isoformat(), "days_supply": s}
            for d, p, day, s in records
        ]
        stated["fills"] = {"complete": True, "records": rows} if complete else rows
    return {"policy": POLICY, "facts": stated}


@pytest.fixture(scope="module")
def evaluator() -> Evaluator:
    return KnowledgeBase([FIXTURE]).evaluator(POLICY)


_KB: list[KnowledgeBase] = []


def _kb() -> KnowledgeBase:
    if not _KB:
        _KB.append(KnowledgeBase([FIXTURE]))
    return _KB[0]


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
    case = validate_case(document(facts), evaluator.policy, "c")
    statuses = evaluator.evaluate(case).criteria
    seen = outcomes(facts)
    for index, name in enumerate(("TRIAL", "OTHER", "BANNED")):
        values = {outcome[index] for outcome in seen}
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
    max_examples=examples(10),
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


def _status(evaluator: Evaluator, rows: list[Fill], complete: bool, criterion: str) -> Status:
    records = [{"drug": d, "preferred": p, "date": day, "days_supply": s} for d, p, day, s in rows]
    fills: object = {"complete": True, "records": records} if complete else records
    stated = {"date_of_service": "2024-03-31", "diagnosed": True, "fills": fills}
    case = validate_case({"policy": POLICY, "facts": stated}, evaluator.policy, "c")
    return evaluator.evaluate(case).criteria[criterion]


def test_the_sum_reaches_its_threshold_exactly(evaluator: Evaluator) -> None:
    a, b = ("a", True, "2024-01-01", 60), ("b", True, "2024-02-01", 30)
    short = ("b", True, "2024-02-01", 29)
    assert _status(evaluator, [a, b], True, "TRIAL") is Status.MET
    assert _status(evaluator, [a, short], True, "TRIAL") is Status.NOT_MET
    assert _status(evaluator, [a, b], False, "TRIAL") is Status.MET
    assert _status(evaluator, [a, short], False, "TRIAL") is Status.UNKNOWN
    # A fill on the date of service or 12 months and a day before is not summed
    # (2023-03-31 is 12 months before 2024-03-31).
    outside = [("a", True, "2023-03-30", 60), ("b", True, "2024-03-31", 30)]
    assert _status(evaluator, outside, True, "TRIAL") is Status.NOT_MET
    inside = [("a", True, "2023-03-31", 60), ("b", True, "2024-03-30", 30)]
    assert _status(evaluator, inside, True, "TRIAL") is Status.MET
    assert _status(evaluator, [], True, "OTHER") is Status.NOT_MET


VOCABULARY = """
fact(date_of_service, date).
history(h).
record_field(h, kind, enum). field_option(h, kind, a). field_option(h, kind, b).
record_field(h, amount, int). field_bounds(h, amount, 0, 100).
record_field(h, signed, int). field_bounds(h, signed, -5, 100).
record_field(h, dose, decimal). field_bounds(h, dose, 0, "10.5").
record_condition(m, h, "an a").
condition_test(m, kind, is(a)).
record_condition(big_b, h, "a b of a big amount").
condition_test(big_b, kind, is(b)).
condition_test(big_b, amount, at_least(50)).
criterion("C", "1", "c"). role("C", indication).
"""


@pytest.mark.parametrize(
    ("rule", "message"),
    [
        ('met("C") :- sum_at_least(h, m, kind, 3).', "policy.lp:14: .*kind is not a number field"),
        (
            'met("C") :- sum_at_least(h, m, signed, 3).',
            "policy.lp:14: .*signed must be declared with field_bounds from 0",
        ),
        ('met("C") :- sum_at_least(h, m, amount, 0).', "policy.lp:14: .*above 0"),
        ('met("C") :- sum_at_least(h, m, amount, "2.5").', "policy.lp:14: .*whole number"),
        (
            'record_condition(big, h, "big"). condition_test(big, amount, at_least(50)). '
            'met("C") :- sum_at_least(h, m, amount, 30), exists(h, big).',
            "policy.lp:14: .*can meet big .*which tests amount",
        ),
        (
            'met("C") :- sum_at_least(h, m, amount, 30), count_at_least(h, m, 2).',
            "policy.lp:14: .*a count of two or more",
        ),
        (
            'met("C") :- sum_at_most(h, m, amount, 30).',
            "policy.lp:14: sum_at_most over a history cannot be made exact",
        ),
    ],
)
def test_uses_that_cannot_be_exact_are_refused_with_file_and_line(
    tmp_path: Path, rule: str, message: str
) -> None:
    folder = tmp_path / "bad-sum"
    folder.mkdir()
    text = VOCABULARY.replace('record_condition(big, h, "a big amount").\n', "")
    text = text.replace("condition_test(big, amount, at_least(50)).\n", "")
    if "big" in rule:
        text = VOCABULARY.replace('criterion("C"', 'criterion("C"', 1)
    (folder / "policy.lp").write_text(text.rstrip("\n").replace("\n\n", "\n") + "\n" + rule + "\n")
    with pytest.raises(PolicyError, match=message):
        KnowledgeBase([tmp_path]).evaluator("bad-sum")


def test_a_condition_exclusive_of_the_summed_one_may_test_the_field(tmp_path: Path) -> None:
    folder = tmp_path / "good-sum"
    folder.mkdir()
    rule = 'met("C") :- sum_at_least(h, m, amount, 30), exists(h, big_b).'
    (folder / "policy.lp").write_text(VOCABULARY + rule + "\n")
    evaluator = KnowledgeBase([tmp_path]).evaluator("good-sum")
    assert [u.fact for u in evaluator.policy.histories["h"].sums] == ["h_sum_m_amount_30"]


def test_no_record_adds_up_to_nothing(tmp_path: Path) -> None:
    """A sum reaching N needs a record meeting the condition: "sums to 30 and
    no record meets m" holds in no completion, whatever the history."""
    folder = tmp_path / "empty-sum"
    folder.mkdir()
    rule = 'met("C") :- sum_at_least(h, m, amount, 30), none(h, m).'
    (folder / "policy.lp").write_text(VOCABULARY + rule + "\n")
    evaluator = KnowledgeBase([tmp_path]).evaluator("empty-sum")
    for stated in ({}, {"h": []}, {"h": {"complete": True, "records": []}}):
        facts = {"date_of_service": "2024-03-31", **stated}
        case = validate_case({"policy": "empty-sum", "facts": facts}, evaluator.policy, "c")
        assert evaluator.evaluate(case).criteria["C"] is Status.NOT_MET


def test_decimal_sums_are_exact(tmp_path: Path) -> None:
    """Decimals are summed as written (0.1 + 0.2 reaches "0.3")."""
    folder = tmp_path / "dose-sum"
    folder.mkdir()
    text = VOCABULARY + 'met("C") :- sum_at_least(h, m, dose, "0.3").\n'
    (folder / "policy.lp").write_text(text)
    evaluator = KnowledgeBase([tmp_path]).evaluator("dose-sum")

    def status(doses: list[float]) -> Status:
        rows = [{"kind": "a", "amount": 0, "signed": 0, "dose": d} for d in doses]
        stated = {"date_of_service": "2024-03-31", "h": {"complete": True, "records": rows}}
        case = validate_case({"policy": "dose-sum", "facts": stated}, evaluator.policy, "c")
        return evaluator.evaluate(case).criteria["C"]

    assert status([0.1, 0.2]) is Status.MET
    assert status([0.1, 0.1]) is Status.NOT_MET


def test_missing_sum_is_asked_in_words(evaluator: Evaluator) -> None:
    from policykb.explain.render import questions

    rows = [{"drug": "a", "preferred": True, "date": "2024-01-01", "days_supply": 60}]
    stated = {"date_of_service": "2024-03-31", "diagnosed": True, "fills": rows}
    case = validate_case({"policy": POLICY, "facts": stated}, evaluator.policy, "c")
    asked = " ".join(q for q, _, _ in questions(evaluator.evaluate(case), evaluator.policy))
    assert "add up to 90 days or more of days supply" in asked
