"""Dated versions of a policy: the version in force on a case's date of
service decides it, every answer names it, and check finds overlapping or
missing periods."""

from __future__ import annotations

import json
import re
import shutil
from datetime import date, timedelta
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from policykb.bridge import KnowledgeBase
from policykb.bridge.loading.files import bundled_kb
from policykb.bridge.model.errors import CaseError
from policykb.bridge.model.version import PeriodProblem, PolicyVersion, period_problems, periods
from policykb.cli.main import app
from tests.sampling import examples

REPO = Path(__file__).resolve().parents[2]
REVISION = REPO / "examples" / "revision" / "massage-therapy" / "indications.lp"
REVISED_ON = date(2027, 1, 1)
ORIGINAL_ON = date(2007, 6, 21)

runner = CliRunner()


def versioned_kb(folder: Path, second: str = 'policy(effective, "2027-01-01").') -> Path:
    """A KB whose massage-therapy has two versions: the bundled 2007 wording
    (policy.lp) and the example revision (policy-2027.lp), its declaration of
    the period given by `second`."""
    policy = folder / "massage-therapy"
    shutil.copytree(bundled_kb() / "policies" / "massage-therapy", policy)
    shutil.copy(REVISION, policy / "indications-2027.lp")
    entry = (policy / "policy.lp").read_text()
    revised = entry.replace('policy(effective, "2007-06-21").', second).replace(
        '#include "indications.lp".', '#include "indications-2027.lp".'
    )
    (policy / "policy-2027.lp").write_text(revised)
    return folder


@pytest.fixture(scope="module")
def knowledge(tmp_path_factory: pytest.TempPathFactory) -> KnowledgeBase:
    return KnowledgeBase([versioned_kb(tmp_path_factory.mktemp("kb"))])


# A terminally ill patient needing comfort, without a physician's order:
# covered under B in 2007's wording, not under the revision's.
COMFORT = {
    "medicare_member": False,
    "terminally_ill": True,
    "needed_for_comfort": True,
    "ordered_by_treating_physician": False,
    "objective_limitations_documented": False,
    "for_prevention": False,
    "for_recreation": False,
    "for_stress_reduction": False,
    "directed_at_maintenance": False,
    "review_type": "initial",
    "benefit_in_contract": True,
    "health_plan_referral": True,
}


def comfort_case(day: date | None) -> dict[str, object]:
    facts = dict(COMFORT)
    if day is not None:
        facts["date_of_service"] = day.isoformat()
    return {"id": "comfort", "facts": facts}


def test_the_version_in_force_on_the_date_of_service_decides(knowledge: KnowledgeBase) -> None:
    before = knowledge.evaluate(comfort_case(REVISED_ON - timedelta(days=1)))
    after = knowledge.evaluate(comfort_case(REVISED_ON))
    assert before.verdict.value == "covered"
    assert after.verdict.value == "not_covered"
    assert before.version is not None and after.version is not None
    assert before.version.effective == ORIGINAL_ON
    assert after.version.effective == REVISED_ON
    assert before.version.hash != after.version.hash
    assert (before.criteria["B"], after.criteria["B"]) == ("met", "not_met")


def test_a_case_outside_every_period_is_an_error(knowledge: KnowledgeBase) -> None:
    with pytest.raises(
        CaseError,
        match="no version of policy 'massage-therapy' is in force on "
        "2007-06-20: its versions are in force 2007-06-21 to 2026-12-31; from 2027-01-01",
    ):
        knowledge.evaluate(comfort_case(ORIGINAL_ON - timedelta(days=1)))


def test_an_undated_case_takes_the_version_in_force_today(knowledge: KnowledgeBase) -> None:
    expected = REVISED_ON if date.today() >= REVISED_ON else ORIGINAL_ON
    evaluation = knowledge.evaluate(comfort_case(None))
    assert evaluation.version is not None and evaluation.version.effective == expected


def test_as_of_overrides_the_date_of_service(knowledge: KnowledgeBase) -> None:
    case = knowledge.case(comfort_case(REVISED_ON), as_of=date(2010, 1, 1))
    assert knowledge.evaluate(case).verdict.value == "covered"
    assert "date_of_service" not in case.facts  # the policy does not read it


def test_name_at_a_day_names_the_version_in_force_then(knowledge: KnowledgeBase) -> None:
    assert knowledge.evaluator("massage-therapy@2030-05-01").policy.version.effective == REVISED_ON
    assert knowledge.evaluator("massage-therapy@2020-05-01").policy.version.effective == ORIGINAL_ON
    with pytest.raises(CaseError, match="after '@' comes a date"):
        knowledge.evaluator("massage-therapy@soon")


def test_a_bad_date_of_service_is_named(knowledge: KnowledgeBase) -> None:
    with pytest.raises(
        CaseError, match="fact 'date_of_service' must be a date YYYY-MM-DD, not '2027-02-30'"
    ):
        knowledge.evaluate({"facts": {"date_of_service": "2027-02-30"}})


@settings(max_examples=examples(60), deadline=None)
@given(st.dates(min_value=date(2000, 1, 1), max_value=date(2040, 12, 31)))
def test_the_chosen_version_is_the_one_whose_period_holds(
    knowledge: KnowledgeBase, day: date
) -> None:
    """Against the periods written out by hand."""
    if day < ORIGINAL_ON:
        with pytest.raises(CaseError):
            knowledge.evaluator("massage-therapy", day)
        return
    expected = ORIGINAL_ON if day < REVISED_ON else REVISED_ON
    assert knowledge.evaluator("massage-therapy", day).policy.version.effective == expected


def test_every_cli_answer_names_the_version(tmp_path: Path) -> None:
    kb = versioned_kb(tmp_path / "kb")
    case = tmp_path / "case.json"
    case.write_text(json.dumps(comfort_case(REVISED_ON)))
    listed = runner.invoke(app, ["policies", "--kb", str(kb), "--format", "json"])
    assert listed.exit_code == 0, listed.output
    massage = next(p for p in json.loads(listed.stdout) if p["name"] == "massage-therapy")
    assert [(v["entry"], v["effective"], v["in_force"]) for v in massage["versions"]] == [
        ("policy.lp", "2007-06-21", {"from": "2007-06-21", "until": "2026-12-31"}),
        ("policy-2027.lp", "2027-01-01", {"from": "2027-01-01", "until": None}),
    ]
    revised = massage["versions"][1]
    for command in (["evaluate"], ["why"]):
        result = runner.invoke(app, [*command, str(case), "--kb", str(kb), "--format", "json"])
        assert result.exit_code == 0, result.output
        assert json.loads(result.stdout)["version"] == {
            "effective": "2027-01-01",
            "retired": None,
            "hash": revised["hash"],
        }
        text = runner.invoke(app, [*command, str(case), "--kb", str(kb)])
        assert f"effective 2027-01-01, sha256 {revised['hash'][:12]}" in text.stdout
    earlier = runner.invoke(
        app, ["evaluate", str(case), "--kb", str(kb), "--as-of", "2020-01-01", "--format", "json"]
    )
    assert json.loads(earlier.stdout)["version"]["effective"] == "2007-06-21"
    early = runner.invoke(app, ["evaluate", str(case), "--kb", str(kb), "--as-of", "2001-01-01"])
    assert early.exit_code == 1
    assert "no version of policy 'massage-therapy' is in force on 2001-01-01" in early.stderr


@pytest.mark.parametrize(
    ("second", "message"),
    [
        (
            'policy(effective, "2026-07-01").\npolicy(retired, "2030-01-01").',
            None,
        ),
        (
            'policy(effective, "2027-01-01").',
            None,
        ),
    ],
)
def test_check_accepts_periods_that_meet(tmp_path: Path, second: str, message: str | None) -> None:
    kb = versioned_kb(tmp_path / "kb", second)
    result = runner.invoke(
        app,
        [
            "check",
            "--kb",
            str(kb),
            "--policy",
            "massage-therapy",
            "--as-of",
            "2026-08-01",
            "--format",
            "json",
        ],
    )
    findings = [f for f in json.loads(result.stdout)["findings"] if f["kind"] == "versions"]
    assert findings == []


def _retiring(kb: Path, day: str) -> None:
    entry = kb / "massage-therapy" / "policy.lp"
    text = entry.read_text()
    entry.write_text(
        text.replace(
            'policy(effective, "2007-06-21").',
            f'policy(effective, "2007-06-21").\npolicy(retired, "{day}").',
        )
    )


@pytest.mark.parametrize(
    ("retired", "message"),
    [
        (
            "2027-03-01",
            "versions policy.lp and policy-2027.lp are both in force from 2027-01-01 to 2027-02-28",
        ),
        (
            "2026-12-01",
            "no version is in force from 2026-12-01 to 2026-12-31, "
            "between policy.lp and policy-2027.lp",
        ),
    ],
)
def test_check_finds_overlapping_and_missing_periods(
    tmp_path: Path, retired: str, message: str
) -> None:
    kb = versioned_kb(tmp_path / "kb")
    _retiring(kb, retired)
    result = runner.invoke(
        app,
        [
            "check",
            "--kb",
            str(kb),
            "--policy",
            "massage-therapy",
            "--as-of",
            "2020-01-01",
            "--format",
            "json",
        ],
    )
    assert result.exit_code == 1
    findings = [f for f in json.loads(result.stdout)["findings"] if f["kind"] == "versions"]
    assert [f["message"] for f in findings] == [message]


def test_several_versions_in_force_on_one_day_is_a_policy_error(tmp_path: Path) -> None:
    kb = versioned_kb(tmp_path / "kb")
    _retiring(kb, "2027-03-01")
    knowledge = KnowledgeBase([kb])
    with pytest.raises(Exception, match="2 versions in force on 2027-02-01"):
        knowledge.evaluator("massage-therapy", date(2027, 2, 1))


def test_an_undated_version_among_several_is_a_finding(tmp_path: Path) -> None:
    kb = versioned_kb(tmp_path / "kb", "% no date")
    result = runner.invoke(
        app,
        [
            "check",
            "--kb",
            str(kb),
            "--policy",
            str(kb / "massage-therapy"),
            "--format",
            "json",
        ],
    )
    findings = [f for f in json.loads(result.stdout)["findings"] if f["kind"] == "versions"]
    assert [f["message"] for f in findings] == [
        "policy-2027.lp declares no policy(effective, ...) but the policy has 2 versions: "
        "each needs its effective date"
    ]


def test_a_wrong_period_declaration_names_its_file(tmp_path: Path) -> None:
    kb = versioned_kb(tmp_path / "kb", 'policy(effective, "2027-13-01").')
    result = runner.invoke(app, ["evaluate", "-", "--kb", str(kb)], input="{}")
    assert result.exit_code == 1
    assert "policy-2027.lp:" in result.stderr
    assert "policy(effective, '2027-13-01'): not a date YYYY-MM-DD" in result.stderr


def _version(effective: str | None, retired: str | None = None) -> PolicyVersion:
    day = date.fromisoformat
    return PolicyVersion(
        day(effective) if effective else None, day(retired) if retired else None, "h"
    )


def test_periods_run_to_the_next_version_unless_retired() -> None:
    spans = periods([_version("2020-01-01"), _version("2021-01-01", "2022-01-01")])
    assert [s.to_dict() for s in spans] == [
        {"from": "2020-01-01", "until": "2020-12-31"},
        {"from": "2021-01-01", "until": "2021-12-31"},
    ]
    assert [p.kind for p in period_problems([_version("2020-01-01"), _version("2020-01-01")])] == [
        "overlap"
    ]


@settings(max_examples=examples(200), deadline=None)
@given(
    st.lists(
        st.tuples(st.integers(0, 40), st.one_of(st.none(), st.integers(1, 20))),
        min_size=1,
        max_size=4,
    )
)
def test_period_problems_match_a_day_by_day_count(spec: list[tuple[int, int | None]]) -> None:
    """Brute force: a day in range with two versions in force lies in an
    overlap, a day after the first start with none lies in a gap."""
    origin = date(2020, 1, 1).toordinal()
    spec = sorted(spec, key=lambda s: s[0])
    versions = [
        PolicyVersion(
            date.fromordinal(origin + start),
            None if length is None else date.fromordinal(origin + start + length),
            str(i),
        )
        for i, (start, length) in enumerate(spec)
    ]
    spans = periods(versions)
    problems = period_problems(versions)
    for offset in range(spec[0][0], 80):
        day = date.fromordinal(origin + offset)
        holding = sum(span.holds(day) for span in spans)

        overlapping = any(p.kind == "overlap" and _within(p, day) for p in problems)
        gap = any(p.kind == "gap" and _within(p, day) for p in problems)
        assert gap == (holding == 0 and offset < spec[-1][0]), day
        assert overlapping == (holding > 1), day


def _within(problem: PeriodProblem, day: date) -> bool:
    return problem.start <= day and (problem.end is None or day < problem.end)


def test_a_single_dated_version_still_bounds_the_dates() -> None:
    """The bundled massage policy has one version, effective 2007-06-21: a case
    dated before it is an error; the undated bariatric policy takes any day."""
    knowledge = KnowledgeBase()
    with pytest.raises(
        CaseError, match="in force on 2005-03-01: its versions are in force from 2007-06-21"
    ):
        knowledge.evaluate({"facts": {"date_of_service": "2005-03-01"}})
    massage = knowledge.evaluate({"facts": {"date_of_service": "2007-06-21"}})
    assert massage.version is not None and massage.version.effective == ORIGINAL_ON
    assert massage.version.dated and len(massage.version.hash) == 64
    bariatric = knowledge.evaluate(
        {"policy": "bariatric-surgery", "facts": {"date_of_service": "1990-01-01"}}
    )
    assert bariatric.version is not None and not bariatric.version.dated
    shown = runner.invoke(app, ["evaluate", "-"], input='{"facts": {}}').stdout
    assert (
        re.search(r"^Version: effective 2007-06-21, sha256 ([0-9a-f]+)$", shown, re.M).group(1)
        == (massage.version.hash[:12])
    )


def test_period_problems_name_the_versions_around_them() -> None:
    """A gap names the version that ended last before it; an overlap that
    runs across several cuts is one problem."""
    found = period_problems(
        [
            _version("2020-01-01", "2020-02-01"),
            _version("2020-01-15", "2020-03-01"),
            _version("2020-04-01", "2020-12-01"),
            _version("2020-05-01", "2020-11-01"),
            _version("2020-06-01"),
        ]
    )
    assert [(p.kind, p.first, p.second, p.days_words) for p in found] == [
        ("overlap", 0, 1, "from 2020-01-15 to 2020-01-31"),
        ("gap", 1, 2, "from 2020-03-01 to 2020-03-31"),
        ("overlap", 2, 3, "from 2020-05-01 to 2020-10-31"),
        ("overlap", 2, 4, "from 2020-11-01 to 2020-11-30"),
    ]
