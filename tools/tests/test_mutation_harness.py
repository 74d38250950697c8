"""The mutation harness's own bookkeeping: line ranges and the results a run keeps."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import pytest

from tools.mutation import __main__ as harness
from tools.mutation.mutant import Mutant


def mutant(file: str, line: int, mutated: str = "x") -> Mutant:
    return Mutant("python", file, line, "ReplaceOperator", "a", mutated, b"")


@pytest.mark.parametrize(
    ("text", "lines"),
    [
        ("3-5", range(3, 6)),
        ("7", range(7, 8)),
        ("1-1", range(1, 2)),
        ("2,5-6,9", [2, 5, 6, 9]),
        ("5-6, 6-7", range(5, 8)),
    ],
)
def test_a_line_range_includes_both_ends(text: str, lines: range | list[int]) -> None:
    assert harness.line_range(text) == frozenset(lines)


@pytest.mark.parametrize("text", ["", "a-b", "5-3", "0-4", "3-", "-3", "3,", "3,a"])
def test_a_line_range_that_is_not_one_is_a_usage_error(text: str) -> None:
    with pytest.raises(argparse.ArgumentTypeError, match="not a line range"):
        harness.line_range(text)


def test_lines_without_a_file_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as stopped:
        harness.main(["--lines", "3-5"])
    assert stopped.value.code == 2
    assert "--lines needs --file" in capsys.readouterr().err


def test_a_run_of_some_mutants_keeps_the_other_records_and_replaces_its_own(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    results = tmp_path / "results.json"
    monkeypatch.setattr(harness, "RESULTS_FILE", results)
    first, second, other = mutant("a.py", 1), mutant("a.py", 2), mutant("b.py", 1)
    harness.save_results(
        [
            harness.Outcome(first, "survived", 1.0),
            harness.Outcome(second, "killed", 1.0),
            harness.Outcome(other, "killed", 2.0),
        ],
        [first, second, other],
    )
    # a run of a.py's first line: its record replaced, the others kept
    harness.save_results([harness.Outcome(first, "killed", 3.0)], [first])
    records = {tuple(r["key"]): r["status"] for r in json.loads(results.read_text())}
    assert records == {first.key: "killed", second.key: "killed", other.key: "killed"}
    assert harness.earlier_results() == records
    # a record of a mutant this run generated but did not finish is dropped, not kept stale
    harness.save_results([], [other])
    assert other.key not in harness.earlier_results()
