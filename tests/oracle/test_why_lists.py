"""`why` on list and code-list facts, against brute force.

The signs-and-codes fixture has a list fact (signs a, b, c), a code list
(diagnoses, compared with the sets diabetes and joint) and a flag. Its oracle
is written here from the fixture's text. Semantics under test:

- a missing list fact lists, per verdict (needs_information included), its
  smallest answers (subset-minimal values) that lead to that verdict, and
  nothing for a verdict no value leads to; so a missing fact is never listed
  without answers;
- a change of a code list starts from the case's own codes and its example
  keeps every code the edit does not remove.
"""

from __future__ import annotations

from itertools import chain, combinations, product
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from policykb.bridge import KnowledgeBase, Verdict
from policykb.bridge.model.result import Answer
from tests.sampling import examples

FIXTURE = Path(__file__).parents[1] / "fixtures" / "kb" / "signs-and-codes"
SETTINGS = settings(
    max_examples=examples(40),
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)

# A code of each cell, and one outside every compared set.
CODES = {"E11.9": "diabetes", "M17.11": "joint", "Z00.00": None}
# The sample codes the policy's sets give examples with.
SAMPLES = {"E08": "diabetes", "M17": "joint"}
SIGNS = ("a", "b", "c")
SET_WORDS = {"a code in diabetes": "diabetes", "a code in joint": "joint"}


def covered(diagnoses: frozenset[str], signs: frozenset[str], flag: bool) -> bool:
    """The fixture's rules over the code sets the diagnoses touch."""
    indicated = ("diabetes" in diagnoses and flag) or {"a", "b"} <= signs
    excluded = "joint" in diagnoses and "c" not in signs
    return indicated and not excluded


def subsets(items: tuple[str, ...]) -> list[frozenset[str]]:
    return [
        frozenset(s)
        for s in chain.from_iterable(combinations(items, n) for n in range(len(items) + 1))
    ]


DOMAIN: dict[str, list[Any]] = {
    "diagnoses": subsets(("diabetes", "joint")),
    "signs": subsets(SIGNS),
    "flag": [True, False],
}


def brute(known: dict[str, Any]) -> Verdict:
    """The three-valued verdict over every completion of `known` (diagnoses as sets)."""
    unknown = [f for f in DOMAIN if f not in known]
    seen = {
        covered(**{**known, **dict(zip(unknown, values, strict=True))})
        for values in product(*(DOMAIN[f] for f in unknown))
    }
    if seen == {True}:
        return Verdict.COVERED
    return Verdict.NOT_COVERED if seen == {False} else Verdict.NEEDS_INFORMATION


def smallest_answers(known: dict[str, Any], fact: str) -> dict[Verdict, set[frozenset[str]]]:
    """Per verdict, the subset-minimal values of `fact` that lead to it."""
    found: dict[Verdict, set[frozenset[str]]] = {}
    for value in DOMAIN[fact]:
        found.setdefault(brute({**known, fact: value}), set()).add(value)
    return {
        verdict: {v for v in values if not any(w < v for w in values)}
        for verdict, values in found.items()
    }


@st.composite
def cases(draw: st.DrawFn) -> dict[str, Any]:
    """A case: each fact given or not; diagnoses as codes."""
    facts: dict[str, Any] = {}
    if draw(st.booleans()):
        facts["diagnoses"] = draw(st.lists(st.sampled_from(sorted(CODES)), unique=True))
    if draw(st.booleans()):
        facts["signs"] = draw(st.lists(st.sampled_from(SIGNS), unique=True))
    if draw(st.booleans()):
        facts["flag"] = draw(st.booleans())
    return facts


def as_sets(facts: dict[str, Any]) -> dict[str, Any]:
    """The oracle's view of a case: diagnoses as the code sets they touch."""
    known = {**facts}
    if "diagnoses" in known:
        cells = {**CODES, **SAMPLES}
        known["diagnoses"] = frozenset(cells[c] for c in known["diagnoses"] if cells[c] is not None)
    if "signs" in known:
        known["signs"] = frozenset(known["signs"])
    return known


def listed(fact: str, answer: Answer) -> set[frozenset[str]]:
    """The smallest answers a list answer names, in the oracle's terms."""
    data = answer.to_dict()["edits"]
    assert data["from"] == []
    words = SET_WORDS if fact == "diagnoses" else {s: s for s in SIGNS}
    assert all(set(edit) <= {"add"} for edit in data["any_of"])
    return {frozenset(words[w] for w in edit.get("add", [])) for edit in data["any_of"]}


@pytest.fixture(scope="module")
def kb() -> KnowledgeBase:
    return KnowledgeBase([FIXTURE])


@SETTINGS
@given(facts=cases())
def test_list_answers_are_the_smallest_per_verdict_needs_information_included(
    kb: KnowledgeBase, facts: dict[str, Any]
) -> None:
    answer = kb.why(kb.case({"policy": "signs-and-codes", "facts": facts}))
    known = as_sets(facts)
    assert answer.verdict is brute(known)
    for missing in answer.missing:
        assert missing.answers, f"{missing.fact} is missing yet has no answer"
        if missing.fact == "flag":
            continue
        expected = smallest_answers(known, missing.fact)
        got = {a.verdict: listed(missing.fact, a) for a in missing.answers}
        assert len(got) == len(missing.answers), "one entry per verdict"
        assert got == expected


def test_a_list_whose_every_answer_needs_information_lists_that(kb: KnowledgeBase) -> None:
    """With nothing known, no diagnosis decides: the list says so, not nothing."""
    answer = kb.why(kb.case({"policy": "signs-and-codes", "facts": {}}))
    (diagnoses,) = [m for m in answer.missing if m.fact == "diagnoses"]
    assert [(a.verdict, a.to_dict()["edits"]["any_of"]) for a in diagnoses.answers] == [
        (Verdict.NEEDS_INFORMATION, [{}])
    ]
    assert "smallest answers: none" in str(diagnoses.answers[0].value.words)  # type: ignore[union-attr]


@SETTINGS
@given(facts=cases())
@example(facts={"diagnoses": ["E11.9", "M17.11"], "signs": ["a", "b"]})
def test_a_code_list_change_starts_from_the_case_codes_and_keeps_them(
    kb: KnowledgeBase, facts: dict[str, Any]
) -> None:
    answer = kb.why(kb.case({"policy": "signs-and-codes", "facts": facts}), max_changes=50)
    for changes in answer.changes:
        changed = dict(facts)
        for change in changes:
            data = change.to_dict()
            changed[change.fact] = data.get("example", data.get("value"))
            if change.fact != "diagnoses":
                continue
            edits = data["edits"]
            assert edits["from"] == sorted(facts.get("diagnoses", []))
            removed = {SET_WORDS[w] for e in edits["any_of"][:1] for w in e.get("remove", [])}
            kept = {c for c in facts.get("diagnoses", []) if CODES[c] not in removed}
            assert kept <= set(data["example"]), "the example keeps the case's other codes"
        # Each list's edits work with the set's other changes as found; with
        # one list in the set, its example and the other values work together.
        if sum(c.fact in ("diagnoses", "signs") for c in changes) == 1:
            assert brute(as_sets(changed)) is answer.target
