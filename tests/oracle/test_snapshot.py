"""The stored fast path of `evaluate --format json` (compile/snapshot.py)
prints exactly what the grounded path prints, and a snapshot is never used
once what it was made from has changed.

Equivalence: on every bundled policy and fixture the snapshot covers (one
version, no reference dates, no histories), generated cases (some facts
unknown, strings outside the options, regions' examples) get from the
snapshot the same JSON, byte for byte, as from the grounded path; so does
every bundled example through the command itself. Validity: an edited
policy file, a damaged or foreign snapshot file are ignored (the grounded
path answers, and writes the snapshot again), never an error.
"""

from __future__ import annotations

import json
import os
import pickle
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given

from policykb.bridge import KnowledgeBase
from policykb.bridge.compile.snapshot import evaluate_stored, load_snapshot, snapshot_path
from policykb.bridge.model.formats import OutputFormat
from policykb.bridge.model.policy import FactType
from policykb.bridge.model.result import Evaluation
from policykb.cli.commands import case as case_commands
from tests.oracle.test_compiled import SETTINGS, case_facts, every_policy, policy_id

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = sorted(
    p for p in (ROOT / "examples").iterdir() if p.suffix in (".json", ".yaml") and p.is_file()
)
FIXTURES = ROOT / "tests" / "fixtures" / "kb"


def printed(evaluation: Evaluation) -> str:
    """What `evaluate --format json` prints for an evaluation (cli/answers.py)."""
    return json.dumps(evaluation.to_dict(), indent=2, ensure_ascii=False) + "\n"


def covered(kb: KnowledgeBase, name: str) -> bool:
    """Whether the snapshot covers a policy: one version, no reference dates,
    no histories, no products or ratios (a policy with one is not compiled)."""
    versions = kb.versions(name)
    policy = versions[0].policy
    return (
        len(versions) == 1
        and not versions[0].references
        and not policy.histories
        and not policy.arithmetic
    )


@pytest.fixture
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A cache folder of the test's own."""
    folder = tmp_path / "cache"
    monkeypatch.setenv("POLICYKB_CACHE_DIR", str(folder))
    return folder


def test_the_snapshot_covers_at_least_three_policies() -> None:
    names = [name for name, folder in every_policy() if covered(_kb(folder), name)]
    assert len(names) >= 3, names


def _kb(folder: Path | None) -> KnowledgeBase:
    return KnowledgeBase([folder] if folder else [])


@pytest.mark.parametrize(("name", "folder"), every_policy(), ids=policy_id)
def test_the_stored_answer_is_the_grounded_answer_byte_for_byte(
    name: str, folder: Path | None, cache: Path
) -> None:
    kb = _kb(folder)
    if not covered(kb, name):
        pytest.skip("the snapshot does not cover this policy: the grounded path answers")
    extra = [folder] if folder else []
    evaluator = kb.evaluator(name)

    @SETTINGS
    @given(facts=case_facts(evaluator))
    def check(facts: dict[str, Any]) -> None:
        document = {"id": "c", "facts": facts}
        case = kb.case(document, "case", name)
        grounded = kb.evaluate(case, name)
        kb.keep_snapshot(case, name, grounded)
        stored = evaluate_stored(document, "case", name, extra, None)
        assert stored is not None, "a case the snapshot was kept for is answered from it"
        assert printed(stored) == printed(grounded)

    check()


def _evaluate_command(path: Path, capsys: pytest.CaptureFixture[str]) -> str:
    """`policykb evaluate PATH --format json`, as the direct path calls it."""
    case_commands.evaluate(case=str(path), output_format=OutputFormat.JSON)
    return capsys.readouterr().out


@pytest.mark.parametrize("example", EXAMPLES, ids=lambda p: p.name)
def test_every_bundled_example_prints_the_same_from_the_snapshot(
    example: Path, cache: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    cold = _evaluate_command(example, capsys)  # grounded: keeps the snapshot
    warm = _evaluate_command(example, capsys)
    assert warm == cold
    document = json.loads(example.read_text()) if example.suffix == ".json" else None
    if document is not None and covered(KnowledgeBase(), document.get("policy", "massage-therapy")):
        found = evaluate_stored(document, example.stem, None, [], None)
        assert found is not None and printed(found) == cold


def _own_policy(tmp_path: Path) -> tuple[Path, Path]:
    """A copy of a fixture policy (its folder and its program file)."""
    folder = tmp_path / "policies" / "wound-care"
    shutil.copytree(FIXTURES / "wound-care", folder)
    return folder.parent, folder / "policy.lp"


def _first_case(kb: KnowledgeBase) -> dict[str, Any]:
    facts = kb.evaluator("wound-care").policy.facts
    fact = next(name for name, declared in facts.items() if declared.type is FactType.BOOL)
    return {"id": "c", "facts": {fact: True}}


def _answer(kb_folder: Path, document: dict[str, Any]) -> tuple[str, Evaluation | None]:
    """The grounded answer (keeping the snapshot), then the stored one."""
    kb = KnowledgeBase([kb_folder])
    case = kb.case(document, "case", "wound-care")
    grounded = kb.evaluate(case, "wound-care")
    stored_before = evaluate_stored(document, "case", "wound-care", [kb_folder], None)
    kb.keep_snapshot(case, "wound-care", grounded)
    return printed(grounded), stored_before


def test_an_edited_policy_file_is_not_answered_from_its_old_snapshot(
    tmp_path: Path, cache: Path
) -> None:
    kb_folder, program = _own_policy(tmp_path)
    document = _first_case(KnowledgeBase([kb_folder]))
    first, _ = _answer(kb_folder, document)
    found = evaluate_stored(document, "case", "wound-care", [kb_folder], None)
    assert found is not None and printed(found) == first
    program.write_text(program.read_text() + "\n% edited\n")
    assert evaluate_stored(document, "case", "wound-care", [kb_folder], None) is None
    again, stale = _answer(kb_folder, document)
    assert stale is None
    found = evaluate_stored(document, "case", "wound-care", [kb_folder], None)
    assert found is not None and printed(found) == again  # written again for the edit


@pytest.mark.parametrize(
    "damage",
    [b"", b"not a pickle", b"\x80\x05K\x01.", pickle.dumps({"format": "policykb-snapshot-1"})],
    ids=["empty", "garbage", "another-object", "a-dict"],
)
def test_a_damaged_snapshot_is_ignored_and_written_again(
    damage: bytes, tmp_path: Path, cache: Path
) -> None:
    kb_folder, _ = _own_policy(tmp_path)
    kb = KnowledgeBase([kb_folder])
    document = _first_case(kb)
    first, _ = _answer(kb_folder, document)
    path = snapshot_path(cache, kb.evaluator("wound-care").source)
    whole = path.read_bytes()
    for written in (damage, whole[: len(whole) // 2]):
        path.write_bytes(written)
        assert load_snapshot(cache, kb.evaluator("wound-care").source) is None
        assert evaluate_stored(document, "case", "wound-care", [kb_folder], None) is None
        again, stale = _answer(kb_folder, document)
        assert stale is None and again == first
        found = evaluate_stored(document, "case", "wound-care", [kb_folder], None)
        assert found is not None and printed(found) == first


def test_the_stored_path_prints_the_same_bytes_without_importing_clingo(tmp_path: Path) -> None:
    environment = {**os.environ, "POLICYKB_CACHE_DIR": str(tmp_path / "cache")}
    example = str(ROOT / "examples" / "covered-initial.json")

    def command(*flags: str) -> subprocess.CompletedProcess[str]:
        arguments = ["evaluate", example, "--format", "json"]
        return subprocess.run(
            [sys.executable, *flags, "-m", "policykb.cli.main", *arguments],
            capture_output=True,
            text=True,
            env=environment,
            check=False,
        )

    cold = command()
    warm = command("-X", "importtime")
    assert cold.returncode == warm.returncode == 0
    assert warm.stdout == cold.stdout
    imported = {line.rsplit("|", 1)[-1].strip() for line in warm.stderr.splitlines()}
    assert "clingo" not in imported and "policykb.bridge.knowledge_base" not in imported


def test_with_the_cache_off_nothing_is_stored_or_read(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("POLICYKB_CACHE_DIR", "off")
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.delenv("XDG_CACHE_HOME", raising=False)
    example = ROOT / "examples" / "covered-initial.json"
    assert _evaluate_command(example, capsys) == _evaluate_command(example, capsys)
    assert evaluate_stored(json.loads(example.read_text()), "c", None, [], None) is None
    assert not any(tmp_path.rglob("*.snapshot"))
