"""why on cases with long histories: the change search's tests on the
compiled policy (bridge/compile/refuting.py, one pass per candidate), with
the parts of counterexamples that earlier searches over the same grounding
kept, give exactly the answers of the solver's tests (a counterexample,
then the part of it that forces the verdict) searched from nothing, which
stay as the oracle: a KnowledgeBase with `compiled=False` and
`parts_kept=0` takes them. One KnowledgeBase answers every generated case,
so later cases start from the parts earlier ones kept (five days of
service: most cases share their grounding with earlier ones).

Cases are of the shape bench/histories.py measures: the screening-history
fixture with both histories of up to 20 records dated around the windows'
edges, each history complete, partial or unknown, high_risk sometimes
unknown. Every bundled policy and fixture is compared the same way, with
every fact drawn, in test_compiled.py.
"""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from policykb.bridge import KnowledgeBase
from policykb.bridge.solving.limits import SolvingLimits
from tests.sampling import examples

FIXTURES = Path(__file__).parents[1] / "fixtures" / "kb"
POLICY = "screening-history"
FIRST_SERVICE = date(2024, 3, 1)


def _day(first: date, last: date) -> st.SearchStrategy[str]:
    return st.integers(0, (last - first).days).map(lambda n: (first + timedelta(n)).isoformat())


@st.composite
def history_cases(draw: st.DrawFn) -> dict[str, Any]:
    service = FIRST_SERVICE + timedelta(days=draw(st.integers(0, 4)))
    screening = st.fixed_dictionaries(
        {
            "test": st.sampled_from(["colonoscopy", "fit", "sigmoidoscopy"]),
            "date": _day(date(2005, 1, 1), service + timedelta(days=30)),
            "result": st.sampled_from(["negative", "positive"]),
        }
    )
    visit = st.fixed_dictionaries(
        {
            "kind": st.sampled_from(["physical", "occupational", "speech"]),
            "date": _day(date(2019, 1, 1), service),
            "minutes": st.integers(10, 90),
        }
    )
    facts: dict[str, Any] = {"date_of_service": service.isoformat()}
    high_risk = draw(st.sampled_from([True, False, None]))
    if high_risk is not None:
        facts["high_risk"] = high_risk
    for name, record in (("screenings", screening), ("visits", visit)):
        form = draw(st.sampled_from(["unknown", "partial", "complete"]))
        if form != "unknown":
            records = draw(st.lists(record, max_size=20))
            facts[name] = {"complete": form == "complete", "records": records}
    return facts


@pytest.fixture(scope="module")
def knowledge_bases() -> tuple[KnowledgeBase, KnowledgeBase]:
    oracle = KnowledgeBase([FIXTURES], compiled=False, limits=SolvingLimits(parts_kept=0))
    return KnowledgeBase([FIXTURES]), oracle


@settings(max_examples=examples(30), deadline=None)
@given(facts=history_cases())
def test_why_on_long_histories_equals_the_solvers_tests(
    knowledge_bases: tuple[KnowledgeBase, KnowledgeBase], facts: dict[str, Any]
) -> None:
    compiled, plain = knowledge_bases
    case = compiled.case({"id": "h", "facts": facts}, policy=POLICY)
    plain_case = plain.case({"id": "h", "facts": facts}, policy=POLICY)
    answer = compiled.why(case, policy=POLICY)
    assert answer == plain.why(plain_case, policy=POLICY), facts
    base = compiled.evaluator(POLICY)
    evaluator = base.for_known(base.known_facts(case)[0])
    assert evaluator.forcing.compiled is not None  # the compiled tests were taken
