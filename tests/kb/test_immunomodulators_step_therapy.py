"""immunomodulators-step-therapy (Ohio Medicaid UPDL): engines, dated criteria, notes, routing.

The verdicts themselves are pinned by the YAML suite written from the text
(kb/policies/immunomodulators-step-therapy/tests/) and, independently, by an
oracle written from the text and vocabulary.lp alone by another engineer;
here:

- the two engines agree on an even sample of complete scenarios (28 facts,
  one a list of eight drugs: far too many scenarios to enumerate) and on
  cases with unknown facts;
- the TB test ("prior to initiation") and 90 days of phototherapy sit where
  the calendar puts them, for dates of service on every month's first and
  last day of 2024 and 2025 (day arithmetic written here, with datetime);
- the approval length is reported as a caution on covered requests only;
- an explanation resting on the first-line count cites the Clinical PA
  (cites/4 of an int fact);
- a date of service before 2024-01-01 has no version;
- the service routes the policy's HCPCS J-codes, each stating its drug,
  and reads the diagnosis from the order's reason.
"""

from __future__ import annotations

import calendar
import random
from collections.abc import Iterator
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

import pytest
from typer.testing import CliRunner

from policykb.bridge import KnowledgeBase, Verdict
from policykb.bridge.model.errors import CaseError
from policykb.bridge.prolog.engine import PrologEngine
from policykb.bridge.solving.evaluator import Evaluator
from policykb.cli.main import app
from tests.audited_service import AuditedService, audited_service
from tests.fhir_records import ICD10, Record

NAME = "immunomodulators-step-therapy"
DAY = date(2024, 6, 3)
"""The date of service of the sampled scenarios (90 days before: 2024-03-05)."""

HCPCS = "https://www.cms.gov/Medicare/Coding/HCPCSReleaseCodeSets"

CLOSED = {
    "date_of_service": DAY,
    "request_type": "initial",
    "requested_drug": "humira",
    "diagnosis": "other",
    "prescribed_per_labeling": True,
    "severity_documented": True,
    "first_line_drugs_failed": 1,
    "active_infection": False,
    "tb_test_required": True,
    "tb_test_negative": True,
    "tb_test_date": date(2024, 5, 1),
    "preferred_drugs_failed": [],
    "preferred_drugs_indicated": 2,
    "preferred_drug_necessity": False,
    "solid_oral_necessity": False,
    "specialist_prescriber": False,
    "topical_steroid_failed": False,
    "bsa": Decimal(5),
    "cdai": 150,
    "hurley_stage": "ii",
    "pasi": Decimal(5),
    "spga": 1,
    "on_phototherapy": False,
    "phototherapy_start_date": date(2024, 5, 1),
    "phototherapy_inadequate_response": False,
    "tnf_inhibitor_failed": False,
    "clinical_response_documented": False,
    "safety_monitoring_documented": False,
}
"""A complete initial request that fails only the Clinical PA's first-line
trials (and every diagnosis section's threshold, had it one): not covered."""

COVERED_BY = {
    "preferred": {"first_line_drugs_failed": 2},
    "taltz": {
        "first_line_drugs_failed": 2,
        "requested_drug": "taltz",
        "preferred_drugs_failed": ["enbrel"],
    },
    "non-preferred": {
        "first_line_drugs_failed": 3,
        "requested_drug": "xeljanz_xr",
        "preferred_drug_necessity": True,
        "preferred_drugs_failed": ["xeljanz_ir", "otezla"],
    },
    "atopic dermatitis": {
        "diagnosis": "atopic_dermatitis",
        "bsa": Decimal(30),
        "first_line_drugs_failed": 0,
    },
    "plaque psoriasis": {
        "diagnosis": "plaque_psoriasis",
        "first_line_drugs_failed": 2,
        "pasi": Decimal(12),
        "spga": 3,
        "on_phototherapy": True,
        "phototherapy_start_date": date(2024, 3, 5),
        "phototherapy_inadequate_response": True,
    },
    "ulcerative colitis": {
        "diagnosis": "ulcerative_colitis",
        "first_line_drugs_failed": 2,
        "requested_drug": "cosentyx",
        "preferred_drug_necessity": True,
        "preferred_drugs_failed": ["humira", "enbrel"],
        "tnf_inhibitor_failed": True,
    },
    "subsequent": {
        "request_type": "subsequent",
        "clinical_response_documented": True,
        "safety_monitoring_documented": True,
    },
}
"""For each path to an authorization, the changes to CLOSED that cover it."""


@pytest.fixture(scope="module")
def kb() -> KnowledgeBase:
    return KnowledgeBase()


@pytest.fixture(scope="module")
def engines(kb: KnowledgeBase) -> tuple[Evaluator, PrologEngine]:
    evaluator = kb.evaluator(NAME)
    assert set(evaluator.references) == {"date_of_service"}
    evaluator = evaluator.at({"date_of_service": DAY.toordinal()}, fixed=True)
    return evaluator, kb.prover_for(evaluator)


def _raw(known: dict[str, Any]) -> dict[str, Any]:
    """Case values as a case document writes them."""
    raw: dict[str, Any] = {}
    for fact, value in known.items():
        if isinstance(value, date):
            raw[fact] = value.isoformat()
        elif isinstance(value, Decimal):
            raw[fact] = float(value)
        else:
            raw[fact] = value
    return raw


def _case(kb: KnowledgeBase, known: dict[str, Any]) -> Any:
    return kb.case({"policy": NAME, "facts": _raw(known)})


def _verdict(kb: KnowledgeBase, known: dict[str, Any]) -> Verdict:
    return kb.evaluate(_case(kb, known)).verdict


def test_the_path_bases_are_what_the_text_says(kb: KnowledgeBase) -> None:
    assert _verdict(kb, CLOSED) is Verdict.NOT_COVERED
    for path, changes in COVERED_BY.items():
        assert _verdict(kb, {**CLOSED, **changes}) is Verdict.COVERED, path


def _choices(evaluator: Evaluator, prover: PrologEngine) -> dict[str, list[Any]]:
    """Each decision fact's values, one per region (every subset of a list), as case values."""
    return {
        fact: [evaluator.concrete(fact, v) for v in prover.scenario_choices(fact)]
        for fact in evaluator.decision_facts
    }


def _scenario(known: dict[str, Any]) -> dict[str, Any]:
    """Case values as the engines take a scenario: a list as a set of options."""
    return {f: frozenset(v) if isinstance(v, list) else v for f, v in known.items()}


def _sample(choices: dict[str, list[Any]], seed: int) -> Iterator[tuple[str, dict[str, Any]]]:
    """1,000 uniform complete scenarios, then 150 around each path's covered
    base (each fact kept with probability 4/5, else drawn uniformly)."""
    draw = random.Random(seed)
    for _ in range(1000):
        yield "uniform", {f: draw.choice(values) for f, values in choices.items()}
    for path, changes in COVERED_BY.items():
        covered = _scenario({**CLOSED, **changes})
        for _ in range(150):
            yield (
                path,
                {
                    f: covered[f] if draw.random() < 0.8 else draw.choice(values)
                    for f, values in choices.items()
                },
            )


def test_engines_agree_on_an_even_sample_of_complete_scenarios(
    engines: tuple[Evaluator, PrologEngine],
) -> None:
    """2,050 complete scenarios as of 2024-06-03, each proved by SWI-Prolog and
    solved by clingo: uniform over the whole space (mostly not covered), and
    around each path's covered base, which reaches both verdicts on each."""
    evaluator, prover = engines
    choices = _choices(evaluator, prover)
    assert set(choices) == set(CLOSED) - {"date_of_service"}
    verdicts: dict[str, set[Verdict]] = {}
    for where, known in _sample(choices, seed=20240101):
        verdict = evaluator.verdict_of(known)
        assert prover.prove(known)[0] is verdict, (where, known)
        verdicts.setdefault(where, set()).add(verdict)
    for path in COVERED_BY:
        assert verdicts[path] == {Verdict.COVERED, Verdict.NOT_COVERED}, path


def test_engines_agree_on_cases_with_unknown_facts(kb: KnowledgeBase) -> None:
    """The CLI's --cross-check path: each path's covered base and CLOSED, with
    one fact left out in turn (every fifth), with every other fact left out,
    and the case that states only its date of service."""
    seen = set()
    for number, changes in enumerate([{}, *COVERED_BY.values()]):
        known = {**CLOSED, **changes}
        names = [f for f in known if f != "date_of_service"]
        givens = [
            {f: v for f, v in known.items() if f != dropped} for dropped in names[number % 5 :: 5]
        ]
        givens.append(
            {f: v for i, (f, v) in enumerate(known.items()) if f == "date_of_service" or i % 2}
        )
        for given in givens:
            case = _case(kb, given)
            verdict = kb.cross_check(case)  # raises EngineError when the engines disagree
            assert verdict is kb.evaluate(case).verdict, given
            seen.add(verdict)
    empty = _case(kb, {"date_of_service": DAY})
    assert kb.cross_check(empty) is Verdict.NEEDS_INFORMATION
    assert seen == set(Verdict)


def _service_days() -> list[date]:
    """Every month's first and last day of 2024 and 2025."""
    days = set()
    for year in (2024, 2025):
        for month in range(1, 13):
            days.add(date(year, month, 1))
            days.add(date(year, month, calendar.monthrange(year, month)[1]))
    return sorted(days)


@pytest.mark.parametrize("day", _service_days(), ids=str)
def test_the_dated_criteria_end_where_the_calendar_puts_them(kb: KnowledgeBase, day: date) -> None:
    # "negative TB test prior to initiation": on the date of service or
    # before meets it, the next day does not.
    preferred = {**CLOSED, **COVERED_BY["preferred"], "date_of_service": day}
    assert _verdict(kb, {**preferred, "tb_test_date": day}) is Verdict.COVERED
    late = {**preferred, "tb_test_date": day + timedelta(days=1)}
    assert _verdict(kb, late) is Verdict.NOT_COVERED
    # "at least 90 days of phototherapy": a start 90 days before meets it, 89 does not.
    psoriasis = {
        **CLOSED,
        **COVERED_BY["plaque psoriasis"],
        "date_of_service": day,
        "tb_test_date": day,
    }
    ninety = {**psoriasis, "phototherapy_start_date": day - timedelta(days=90)}
    assert _verdict(kb, ninety) is Verdict.COVERED
    short = {**psoriasis, "phototherapy_start_date": day - timedelta(days=89)}
    assert _verdict(kb, short) is Verdict.NOT_COVERED


def _cautions(kb: KnowledgeBase, known: dict[str, Any]) -> set[str]:
    return {note.id for note in kb.evaluate(_case(kb, known)).warnings if note.kind == "caution"}


def test_the_approval_length_is_a_caution_on_covered_requests_only(kb: KnowledgeBase) -> None:
    """ "Length of Authorizations: Initial: 90 days; Subsequent: 365 days"."""
    initial = {**CLOSED, **COVERED_BY["preferred"]}
    assert _cautions(kb, initial) == {"LENGTH/INITIAL-90-DAYS", "DOSING"}
    renewal = {**CLOSED, **COVERED_BY["subsequent"]}
    assert _cautions(kb, renewal) == {"LENGTH/SUBSEQUENT-365-DAYS"}
    assert _cautions(kb, CLOSED) == set()  # not covered
    unknown = {f: v for f, v in initial.items() if f != "active_infection"}
    assert kb.evaluate(_case(kb, unknown)).verdict is Verdict.NEEDS_INFORMATION
    assert _cautions(kb, unknown) == set()


def test_the_first_line_count_cites_the_clinical_pa(kb: KnowledgeBase) -> None:
    """cites/4 of an int fact: a psoriasis denial for one first-line drug
    cites CPA/TRIALS/TWO, not AD/TOPICAL (the fact's first clause by name)."""
    psoriasis = {**CLOSED, **COVERED_BY["plaque psoriasis"], "first_line_drugs_failed": 1}
    evaluation = kb.evaluate(_case(kb, psoriasis))
    assert evaluation.verdict is Verdict.NOT_COVERED
    cited = {item.fact: item.criterion for item in evaluation.explanation}
    assert cited["first_line_drugs_failed"] == "CPA/TRIALS/TWO"


def test_the_failed_trials_are_listed_with_every_criterion_that_counts_them(
    kb: KnowledgeBase,
) -> None:
    """clause/2 names every criterion whose rules ask for the failed trials,
    NP/TRIALS/ONE among them ("if indicated for diagnosis": the one preferred
    drug indicated, its trial): its missing-fact question names them."""
    clauses = kb.evaluator(NAME).policy.facts["preferred_drugs_failed"].clauses
    assert set(clauses) == {"ST", "NP/TRIALS/TWO", "NP/TRIALS/ONE", "NP/XR", "UC/TNF/FAILED"}


def test_a_date_of_service_before_the_criteria_has_no_version(kb: KnowledgeBase) -> None:
    assert _verdict(kb, {"date_of_service": date(2024, 1, 1)}) is Verdict.NEEDS_INFORMATION
    with pytest.raises(CaseError, match="2024-01-01"):
        _verdict(kb, {"date_of_service": date(2023, 12, 31)})


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[AuditedService]:
    with audited_service(tmp_path_factory.mktemp("audit")) as service:
        yield service


def _medication_request(code: str, reasons: list[str]) -> dict[str, Any]:
    return {
        "resourceType": "MedicationRequest",
        "id": f"med-{code}",
        "status": "draft",
        "intent": "order",
        "subject": {"reference": "Patient/pat-1"},
        "authoredOn": "2026-06-01",
        "medicationCodeableConcept": {"coding": [{"system": HCPCS, "code": code}]},
        "reasonCode": [{"coding": [{"system": ICD10, "code": r}]} for r in reasons],
    }


def _order_sign(client: AuditedService, order: dict[str, Any]) -> dict[str, Any] | None:
    """The decision's audit entry, or None when the order is not this policy's."""
    request = Record().hook(orders=[order])
    return client.decision(request)


@pytest.mark.parametrize(
    ("code", "drug", "reason", "diagnosis"),
    [
        ("J1438", "enbrel", "L40.0", "plaque_psoriasis"),
        ("J3262", "actemra", "M05.79", None),  # rheumatoid arthritis: no section, asked
        ("J0129", "orencia", "M06.9", None),
        ("J0717", "cimzia", "K50.012", "crohns_disease"),
        ("J3357", "stelara", "K51.90", "ulcerative_colitis"),
        ("J3358", "stelara", "K50.10", "crohns_disease"),
        ("J3245", "ilumya", "L40.0", "plaque_psoriasis"),
        ("J1628", "tremfya", "L40.50", None),  # psoriatic arthropathy is not plaque psoriasis
        ("J2327", "skyrizi", "K50.90", "crohns_disease"),
        ("J3247", "cosentyx", "L73.2", "hidradenitis_suppurativa"),
    ],
)
def test_the_j_codes_route_here_each_stating_its_drug(
    client: AuditedService, code: str, drug: str, reason: str, diagnosis: str | None
) -> None:
    entry = _order_sign(client, _medication_request(code, [reason]))
    assert entry is not None and entry["policy"] == NAME
    assert entry["facts"]["requested_drug"] == drug
    assert entry["facts"].get("diagnosis") == diagnosis


def test_reasons_of_two_sections_leave_the_diagnosis_to_be_asked(
    client: AuditedService,
) -> None:
    entry = _order_sign(client, _medication_request("J0717", ["K50.90", "L40.0"]))
    assert entry is not None
    assert "diagnosis" not in entry["facts"]


def test_a_reason_outside_the_sections_is_not_read_beside_one_inside(
    client: AuditedService,
) -> None:
    entry = _order_sign(client, _medication_request("J0717", ["Z79.899", "K50.90"]))
    assert entry is not None
    assert entry["facts"]["diagnosis"] == "crohns_disease"


def test_adalimumab_is_not_routed_here(client: AuditedService) -> None:
    """J0135 is Humira's and every adalimumab biosimilar's: it names no one drug."""
    assert _order_sign(client, _medication_request("J0135", ["L40.0"])) is None


def test_no_j_code_is_claimed_by_another_policy(kb: KnowledgeBase) -> None:
    ours = {(c.system, c.code) for c in kb.evaluator(NAME).policy.codes}
    assert len(ours) == 10 and {system for system, _ in ours} == {"hcpcs"}
    for name in kb.policy_names():
        if name != NAME:
            for version in kb.versions(name):
                theirs = {(c.system, c.code) for c in version.policy.codes}
                assert not ours & theirs, name


@pytest.mark.parametrize("day", ["2024-01-01", "2024-06-03"])
def test_check_is_clean_with_every_finding_acknowledged(day: str) -> None:
    """review.lp acknowledges each overlap (a prerequisite or exclusion meant
    to override the indication) and the gap (the closed-world default)."""
    result = CliRunner().invoke(app, ["check", "--policy", NAME, "--as-of", day])
    assert result.exit_code == 0, result.output
    assert "0 warning(s), 17 acknowledged" in result.output
    # two of them clause findings: NP/NECESSITY/SOLID's and UC/TNF/REQUESTED's
    # reads of requested_drug, the headings' fact
    assert result.output.count("[acknowledged] clause") == 2
