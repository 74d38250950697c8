"""A policy's compiled answers kept on disk whole, and read back without
clingo: the fast path of `policykb evaluate --format json`.

A snapshot holds what `CircuitAnswers` (answering.py) needs to evaluate a
case of one policy version: the policy model, the prepared circuit, the
domain's value numbers, and the warnings and cautions already seen for each
value of the facts they depend on. It is written by the grounded path
(`KnowledgeBase.keep_snapshot`) only after the circuit's answer to a case
equalled the Evaluator's, and only for a policy of one version without
reference dates or histories.

Validity: a snapshot records the bytes of every file its answers come from
(the core and meta programs, the version's program files, the other files of
its folder) and the size and time of every module of the bridge that
computes them; a snapshot whose record differs from the files as they are is
not used (and is rewritten by the next grounded run). Nothing is hashed: the
file's name only spreads policies apart, its content is compared whole.

Trust: a snapshot is a pickle, and unpickling runs the constructors it
names. It is read only from the user's own cache folder (cache_folder.py:
$POLICYKB_CACHE_DIR, $XDG_CACHE_HOME/policykb or ~/.cache/policykb; `off`
turns it off), which is as trusted as the user's bytecode caches; never
from a policy folder, a case or the network. A damaged snapshot is
ignored, never an error.

Coverage: `evaluate_stored` answers only what the grounded path would answer
the same way from the snapshot alone; it returns None for anything else (a
policy of several versions or `NAME@DAY`, a case path as the policy, no or a
stale snapshot, a case the circuit cannot settle, warnings not yet seen,
any error in the case), and the caller then takes the grounded path, which
also reports the error.
"""

from __future__ import annotations

import os
import pickle
import sys
from binascii import crc32
from collections.abc import Mapping, Sequence
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING

from policykb.bridge.compile.answering import CircuitAnswers
from policykb.bridge.compile.cache_folder import cache_folder
from policykb.bridge.loading.case import (
    case_policy_name,
    service_date_of,
    validate_case,
)
from policykb.bridge.loading.files import bundled_kb, looks_like_path, policy_source, program_files
from policykb.bridge.loading.version_choice import in_force, split_version
from policykb.bridge.model.errors import PolicyKBError
from policykb.bridge.model.policy import Policy, PolicySource, Value
from policykb.bridge.model.result import Evaluation, ExplanationItem, Note
from policykb.bridge.model.scenario_values import explanation_item

if TYPE_CHECKING:
    from policykb.bridge.model.case import Case

FORMAT = "policykb-snapshot-1"

OTHER_KEY = ("other_value",)
"""The stored scenario value of a string outside a fact's options (the
grounded program's other_value symbol; no case value is a tuple)."""

NOTES_KEPT = 1024
"""Distinct note keys (values of the facts warnings depend on) kept per policy."""

_BRIDGE = Path(__file__).resolve().parent.parent
_CODE_FOLDERS = ("model", "loading", "solving", "compile")

Inputs = tuple[tuple[str, bytes], ...]


class Snapshot:
    """One policy version's stored answers (see the module's docstring)."""

    def __init__(
        self,
        inputs: Inputs,
        code: tuple[object, ...],
        answers: CircuitAnswers,
        note_facts: Sequence[str],
        notes: dict[tuple[object, ...], tuple[Note, ...]],
    ) -> None:
        self.format = FORMAT
        self.inputs = inputs
        self.code = code
        self.answers = answers
        self.note_facts = tuple(note_facts)
        self.notes = notes

    @property
    def policy(self) -> Policy:
        return self.answers.policy

    def notes_key(self, known: Mapping[str, Value]) -> tuple[object, ...]:
        """What of a case's known facts its warnings and cautions depend on
        (CompiledPolicy.notes_key)."""
        return tuple((f, known.get(f)) for f in self.note_facts)

    def evaluate(self, case: Case) -> Evaluation | None:
        """Evaluator.evaluate's answer; None when the snapshot cannot give it."""
        answers = self.answers
        policy = answers.policy

        def item(fact: str, value: Value, assumed: bool) -> ExplanationItem:
            return explanation_item(policy, fact, value, assumed, answers.key(fact, value))

        def notes(known: Mapping[str, Value]) -> tuple[Note, ...] | None:
            return self.notes.get(self.notes_key(known))

        return answers.evaluate(case, item, notes)


# -- validity ---------------------------------------------------------------------


def inputs_of(source: PolicySource) -> Inputs:
    """Each file a version's answers come from, with its bytes: the core and
    meta programs, the version's program files (entry and includes) and the
    other files directly in its folder."""
    kb = bundled_kb()
    paths = [p for folder in (kb / "core", kb / "meta") for p in sorted(folder.glob("*.lp"))]
    paths += program_files(source)
    own = set(paths)
    paths += sorted(p for p in source.folder.resolve().iterdir() if p.is_file() and p not in own)
    return tuple((str(path), path.read_bytes()) for path in paths)


def code_of() -> tuple[object, ...]:
    """The interpreter and the size and time of every module of the bridge
    that computes a snapshot's answers."""
    stats: list[object] = [sys.implementation.cache_tag, FORMAT]
    for name in _CODE_FOLDERS:
        with os.scandir(_BRIDGE / name) as entries:
            for entry in sorted(entries, key=lambda e: e.name):
                if entry.name.endswith(".py"):
                    found = entry.stat()
                    stats.append((name, entry.name, found.st_size, found.st_mtime_ns))
    return tuple(stats)


def snapshot_path(folder: Path, source: PolicySource) -> Path:
    """Where a version's snapshot lives: by its name and its entry file."""
    entry = str(source.entry.resolve()).encode("utf-8", "surrogateescape")
    return folder / f"{source.name}-{crc32(entry):08x}.snapshot"


def load_snapshot(folder: Path, source: PolicySource) -> Snapshot | None:
    """The version's snapshot, when one is stored and still valid; else None
    (missing, unreadable, damaged or stale)."""
    try:
        data = snapshot_path(folder, source).read_bytes()
    except OSError:
        return None
    try:
        snapshot = pickle.loads(data)
    except Exception:  # any damage (pickle raises many kinds): only a cache
        return None
    if not isinstance(snapshot, Snapshot) or getattr(snapshot, "format", None) != FORMAT:
        return None
    try:
        current = inputs_of(source)
    except OSError:
        return None
    if snapshot.inputs != current or snapshot.code != code_of():
        return None
    return snapshot


def store_snapshot(
    folder: Path,
    source: PolicySource,
    answers: CircuitAnswers,
    note_facts: Sequence[str],
    notes: Mapping[tuple[object, ...], tuple[Note, ...]],
) -> None:
    """Write a version's snapshot whole (or not at all): `answers` with its
    scenario values stored (the grounded program's other_value as OTHER_KEY),
    and the notes seen, merged with a valid stored snapshot's."""
    from policykb.bridge.model.atomic_file import replaced_whole

    other = answers.other
    stored = CircuitAnswers(
        answers.policy,
        answers.prepared,
        (answers.covered, *_criteria_roots(answers)),
        answers.facts,
        tuple(tuple(OTHER_KEY if k == other else k for k in keys) for keys in answers.keys),
        answers.lists,
        OTHER_KEY,
    )
    kept = load_snapshot(folder, source)
    seen = dict(kept.notes) if kept is not None else {}
    for key, found in notes.items():
        if len(seen) < NOTES_KEPT:
            seen[key] = found
    try:
        snapshot = Snapshot(inputs_of(source), code_of(), stored, note_facts, seen)
        data = pickle.dumps(snapshot, protocol=pickle.HIGHEST_PROTOCOL)
        folder.mkdir(parents=True, exist_ok=True)
        with replaced_whole(str(snapshot_path(folder, source).resolve())) as out:
            out.write(data)
    except (OSError, pickle.PicklingError, TypeError):
        return  # only a cache: the next grounded run writes it again


def _criteria_roots(answers: CircuitAnswers) -> tuple[dict[str, int], dict[str, int]]:
    met = {key: node for key, _, node in answers.criteria}
    applies = {key: node for key, node, _ in answers.criteria}
    return met, applies


# -- the fast path ------------------------------------------------------------------


def evaluate_stored(
    document: object,
    default_id: str,
    policy: str | None,
    extra_dirs: Sequence[Path],
    as_of: date | None,
) -> Evaluation | None:
    """`KnowledgeBase(extra_dirs).evaluate(kb.case(document, default_id,
    policy, as_of), policy)` from the stored snapshot, without clingo; None
    whenever the snapshot does not cover it (see the module's docstring)."""
    folder = cache_folder()
    if folder is None:
        return None
    try:
        target = policy if policy is not None else case_policy_name(document)
        if policy is None and looks_like_path(target):
            return None  # refused by the grounded path: it says why
        reference, pinned = split_version(target)
        if pinned is not None:
            return None
        source = policy_source(reference, extra_dirs, allow_paths=policy is not None)
        if source.entries:
            return None  # several versions: chosen by the grounded path
        snapshot = load_snapshot(folder, source)
        if snapshot is None:
            return None
        _check_in_force(snapshot, as_of or service_date_of(document))
        case = validate_case(document, snapshot.policy, default_id, as_of)
        _check_in_force(snapshot, case.as_of)  # KnowledgeBase.case_evaluator's choice
        return snapshot.evaluate(case)
    except (PolicyKBError, OSError):
        return None


def _check_in_force(snapshot: Snapshot, day: date | None) -> None:
    """KnowledgeBase's choice among one version: a dated version asked for
    on a day must be in force on it (in_force raises otherwise)."""
    if snapshot.policy.version.dated and day:
        in_force([snapshot], day)
