"""A fact's example value lies inside the region it stands for, and a date's
is a real day even where the region has no end to start from (a date fact
with no bounds: `why` once failed with "ordinal must be >= 1")."""

from __future__ import annotations

import json
import re
import shutil
from datetime import date
from pathlib import Path

from hypothesis import assume, given
from hypothesis import strategies as st
from typer.testing import CliRunner

from policykb.bridge.model.policy import MAX_DAY, Fact, FactType
from policykb.bridge.model.typed import Interval
from policykb.cli.main import app

ROOT = Path(__file__).resolve().parents[2]
DAYS = st.integers(min_value=1, max_value=MAX_DAY)


@st.composite
def intervals(draw: st.DrawFn) -> Interval:
    low, high = draw(st.none() | DAYS), draw(st.none() | DAYS)
    if low is not None and high is not None and low > high:
        low, high = high, low
    interval = Interval(low, draw(st.booleans()), high, draw(st.booleans()))
    first, last = interval.whole_ends()
    first_day = 1 if first is None else max(first, 1)
    last_day = MAX_DAY if last is None else min(last, MAX_DAY)
    assume(first_day <= last_day)  # some real day inside
    return interval


@given(intervals())
def test_a_date_example_is_a_real_day_inside_its_interval(interval: Interval) -> None:
    example = Fact("some_date", FactType.DATE, 1).example(interval)
    assert isinstance(example, date)
    assert example.toordinal() in interval


def test_a_date_open_at_both_ends_is_exampled_by_a_neutral_day() -> None:
    example = Fact("some_date", FactType.DATE, 1).example(Interval(None, False, None, False))
    assert example == date(2000, 1, 1)


def test_why_answers_for_an_unbounded_event_date(tmp_path: Path) -> None:
    """The NCD 20.4 policy with its event dates' bounds taken away: `why` on a
    case that leaves the MI's date unknown answers, each answer a real day."""
    folder = tmp_path / "implantable-defibrillators"
    shutil.copytree(ROOT / "kb" / "policies" / "implantable-defibrillators", folder)
    vocabulary = folder / "vocabulary.lp"
    text = re.sub(
        r"^bounds\((last_\w+|optimal_\w+), [^\n]*\n", "", vocabulary.read_text(), flags=re.M
    )
    assert "bounds(last_mi_date" not in text
    vocabulary.write_text(text)
    case = tmp_path / "case.json"
    case.write_text(
        json.dumps(
            {
                "policy": "implantable-defibrillators",
                "facts": {"date_of_service": "2024-05-31", "prior_mi": True},
            }
        )
    )
    result = CliRunner().invoke(app, ["why", str(case), "--kb", str(folder), "--format", "json"])
    assert result.exit_code == 0, result.output
    answer = json.loads(result.stdout)
    missing = {m["fact"]: m for m in answer["missing"]}
    assert "last_mi_date" in missing
    answers = missing["last_mi_date"]["answers"]
    assert answers
    for each in answers:
        date.fromisoformat(each["example"])
