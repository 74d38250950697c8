"""bariatric-surgery-medicare (NCD 100.1): its dated versions and both engines.

The verdicts themselves are pinned by the YAML suite written from the text
(kb/policies/bariatric-surgery-medicare/tests/) and, independently, by an
oracle written from the text alone; here: that the two engines agree on
every complete scenario of every version (not only the one in force today,
which tests/oracle/test_criteria_groups.py covers) and on cases with unknown facts; that
the date of service chooses the version at each dated sentence; that each
dated change only widens coverage, and only where its sentence speaks; and
that the service routes the policy's codes on Medicare coverage alone, beside
the Washington rule.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import date
from itertools import product
from typing import Any

import pytest

from policykb.bridge import KnowledgeBase, Verdict
from policykb.bridge.model.errors import CaseError
from policykb.bridge.model.policy import FactType
from policykb.bridge.solving.evaluator import Evaluator
from tests.audited_service import AuditedService, audited_service, set_payer_type
from tests.fhir_records import Record

NAME = "bariatric-surgery-medicare"

EFFECTIVE = ["2006-02-21", "2009-02-12", "2012-06-27", "2013-09-24"]
"""Each version's first day: B's coverage, type 2 diabetes a co-morbidity, LSG
left to the MACs, facilities no longer certified."""


@pytest.fixture(scope="module")
def kb() -> KnowledgeBase:
    return KnowledgeBase()


@pytest.fixture(scope="module")
def versions(kb: KnowledgeBase) -> list[Evaluator]:
    found = list(kb.versions(NAME))
    found.sort(key=lambda e: e.policy.version.effective or date.min)
    return found


def choices_of(kb: KnowledgeBase, evaluator: Evaluator) -> tuple[list[str], list[list[Any]]]:
    facts = evaluator.decision_facts
    prover = kb.prover_for(evaluator)
    return facts, [prover.scenario_choices(f) for f in facts]


def scenarios(
    evaluator: Evaluator, facts: list[str], choices: list[list[Any]]
) -> Iterator[dict[str, Any]]:
    """Every complete scenario over the facts the version decides on, as case values."""
    for values in product(*choices):
        known = {f: evaluator.concrete(f, v) for f, v in zip(facts, values, strict=True)}
        for fact, declared in evaluator.policy.facts.items():
            if fact not in known and declared.type is FactType.BOOL:
                known[fact] = False
        yield known


def test_the_versions_are_the_dated_sentences_of_the_text(versions: list[Evaluator]) -> None:
    assert [str(e.policy.version.effective) for e in versions] == EFFECTIVE
    assert [e.policy.version.retired for e in versions] == [None] * 4


@pytest.mark.parametrize("index", range(4), ids=EFFECTIVE)
def test_engines_agree_on_every_complete_scenario_of_each_version(
    kb: KnowledgeBase, versions: list[Evaluator], index: int
) -> None:
    """Scenario by scenario, every one (640 or 1,280 per version: no sample)."""
    evaluator = versions[index]
    facts, choices = choices_of(kb, evaluator)
    prover = kb.prover_for(evaluator)
    covered = total = 0
    for known in scenarios(evaluator, facts, choices):
        verdict = evaluator.verdict_of(known)
        assert prover.prove(known)[0] is verdict, known
        covered += verdict is Verdict.COVERED
        total += 1
    assert 0 < covered < total


@pytest.mark.parametrize("index", range(4), ids=EFFECTIVE)
def test_covered_scenarios_are_the_covered_complete_scenarios_of_each_version(
    versions: list[Evaluator], index: int
) -> None:
    """covered_scenarios against brute force, scenario by scenario: on the first
    version its code list (diagnoses) is read by no rule and has no options in
    the program, which once made it raise StopIteration; it is fixed empty."""
    evaluator = versions[index]
    facts = evaluator.decision_facts
    choices = [
        evaluator.candidate_values(f)  # a list's values: every set of its options
        if evaluator.policy.facts[f].type.many
        else evaluator.value_keys(f)
        for f in facts
    ]
    fixed = {
        name: frozenset() if declared.type.many else evaluator.value_keys(name)[0]
        for name, declared in evaluator.policy.facts.items()
        if name not in facts
    }
    expected = set()
    for digits in product(*(range(len(options)) for options in choices)):
        known = {f: options[d] for f, options, d in zip(facts, choices, digits, strict=True)}
        if evaluator.verdict_of({**fixed, **known}) is Verdict.COVERED:  # type: ignore[dict-item]
            code = 0
            for options, digit in reversed(list(zip(choices, digits, strict=True))):
                code = code * len(options) + digit
            expected.add(code)
    assert expected  # every version covers some scenario
    assert evaluator.covered_scenarios(facts, choices) == expected
    if index == 0:
        assert not evaluator.value_keys("diagnoses")  # the case the fix is for


@pytest.mark.parametrize("index", range(4), ids=EFFECTIVE)
def test_engines_agree_on_cases_with_unknown_facts_of_each_version(
    kb: KnowledgeBase, versions: list[Evaluator], index: int
) -> None:
    """The CLI's --cross-check path on an even sample: 16 covered and 48 other
    complete scenarios, each as it is, with one fact left out and with every
    other fact left out; and the empty case."""
    evaluator = versions[index]
    facts, choices = choices_of(kb, evaluator)
    every = list(scenarios(evaluator, facts, choices))
    covered = [k for k in every if evaluator.verdict_of(k) is Verdict.COVERED]
    rest = [k for k in every if evaluator.verdict_of(k) is not Verdict.COVERED]
    sample = covered[:: max(1, len(covered) // 16)] + rest[:: max(1, len(rest) // 48)]
    day = EFFECTIVE[index]
    seen = set()
    for number, known in enumerate(sample):
        names = list(known)
        dropped = names[number % len(names)]
        for given in (
            known,
            {f: v for f, v in known.items() if f != dropped},
            {f: v for i, (f, v) in enumerate(known.items()) if (i + number) % 2},
        ):
            case = kb.case({"policy": NAME, "facts": {**_raw(given), "date_of_service": day}})
            verdict = kb.cross_check(case)  # raises EngineError when the engines disagree
            assert verdict is kb.evaluate(case).verdict, given
            seen.add(verdict)
    empty = kb.case({"policy": NAME, "facts": {"date_of_service": day}})
    assert kb.cross_check(empty) is Verdict.NEEDS_INFORMATION
    assert seen == set(Verdict)  # the sample reaches every verdict


def _raw(known: dict[str, Any]) -> dict[str, Any]:
    """Case values as a case document writes them."""
    raw: dict[str, Any] = {}
    for fact, value in known.items():
        if isinstance(value, frozenset):
            raw[fact] = sorted(value)
        elif isinstance(value, bool | str | int):
            raw[fact] = value
        else:
            raw[fact] = float(value)
    return raw


@pytest.mark.parametrize(
    ("day", "effective"),
    [
        ("2006-02-21", "2006-02-21"),
        ("2009-02-11", "2006-02-21"),
        ("2009-02-12", "2009-02-12"),
        ("2012-06-26", "2009-02-12"),
        ("2012-06-27", "2012-06-27"),
        ("2013-09-23", "2012-06-27"),
        ("2013-09-24", "2013-09-24"),
        ("2030-01-01", "2013-09-24"),
    ],
)
def test_the_date_of_service_chooses_the_version_at_each_dated_change(
    kb: KnowledgeBase, day: str, effective: str
) -> None:
    case = kb.case({"policy": NAME, "facts": {"date_of_service": day}})
    assert str(kb.evaluate(case).version.effective) == effective


def test_a_date_before_the_coverage_began_has_no_version(kb: KnowledgeBase) -> None:
    with pytest.raises(CaseError, match="2006-02-20"):
        kb.evaluate(kb.case({"policy": NAME, "facts": {"date_of_service": "2006-02-20"}}))


def _t2dm_counts(known: dict[str, Any]) -> bool:
    return not known["other_obesity_comorbidity"] and bool(known["diagnoses"])


def _lsg(known: dict[str, Any]) -> bool:
    return bool(known["bariatric_procedure"] == "lsg")


def _uncertified_b(known: dict[str, Any]) -> bool:
    return (
        known["bariatric_procedure"] in {"rygbp", "bpd_ds", "lagb"}
        and not known["facility_certified"]
    )


@pytest.mark.parametrize(
    ("index", "where"),
    [(1, _t2dm_counts), (2, _lsg), (3, _uncertified_b)],
    ids=["2009 type 2 diabetes", "2012 LSG", "2013 facilities"],
)
def test_each_dated_change_only_widens_coverage_where_its_sentence_speaks(
    kb: KnowledgeBase,
    versions: list[Evaluator],
    index: int,
    where: Callable[[dict[str, Any]], bool],
) -> None:
    """Over every complete scenario of both versions' facts: the verdict
    changes only from not covered to covered, only in scenarios the dated
    sentence is about, and it does change in some."""
    old, new = versions[index - 1], versions[index]
    facts = sorted(set(old.decision_facts) | set(new.decision_facts))
    prover = kb.prover_for(new)
    choices = [prover.scenario_choices(f) for f in facts]
    changed = 0
    for known in scenarios(new, facts, choices):
        before, after = old.verdict_of(known), new.verdict_of(known)
        if before is not after:
            assert (before, after) == (Verdict.NOT_COVERED, Verdict.COVERED), known
            assert where(known), known
            changed += 1
    assert changed


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[AuditedService]:
    with audited_service(tmp_path_factory.mktemp("audit")) as service:
        yield service


def _order_sign(client: AuditedService, code: str, payer_type: str | None) -> dict[str, Any]:
    request = Record(code=code, bmis=[("2026-05-01", 41.0)], diagnoses=["E11.9"]).hook()
    set_payer_type(request, payer_type)
    return client.order_sign(request)


@pytest.mark.parametrize(
    ("code", "payer_type", "policy"),
    [
        ("43845", "121", NAME),  # BPD/DS, Medicare coverage
        ("43842", "1", NAME),  # VBG
        ("43290", "111", NAME),  # gastric balloon
        ("43845", None, NAME),  # the coverage does not say: routed, Medicare asked
        ("43845", "511", None),  # commercial coverage: not this policy's order
        # a code both policies claim: Medicare's on Medicare coverage (precedence/2),
        # the Washington rule's on other coverage or when the record does not say
        ("43775", "121", NAME),
        ("43644", "1", NAME),
        ("43775", "21", "bariatric-surgery"),
        ("43770", None, "bariatric-surgery"),
        ("43645", "121", "bariatric-surgery"),  # claimed by the Washington rule alone
    ],
)
def test_the_medicare_codes_route_here_only_on_medicare_coverage(
    client: AuditedService, code: str, payer_type: str | None, policy: str | None
) -> None:
    answer = _order_sign(client, code, payer_type)
    assert ("systemActions" in answer) is (policy is not None)
    if policy is not None:
        entry = client.last_entry()
        assert entry["policy"] == policy
        if policy == NAME:
            assert entry["facts"]["bmi"] == 41.0
            assert entry["facts"]["diagnoses"] == ["E11.9"]
            assert ("medicare_beneficiary" in entry["facts"]) is (payer_type is not None)
