"""Replaying the audit log (`policykb replay`): each entry's chain link,
hashes and assertion id checked, and its facts decided again under the
policy version that decided them, to report what is wrong and what differs
now. The log itself, and what its entries hold, is audit.py's."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Any

import orjson

from policykb.bridge.model.errors import CaseError, PolicyKBError
from policykb.service.audit import (
    ENTRY_KEYS,
    FEEDBACK,
    GENESIS,
    TRACE_SEPARATOR,
    assertion_id,
    facts_digest,
    line_hash,
)

if TYPE_CHECKING:
    from policykb.service.decisions import Decisions


@dataclass(frozen=True)
class Replayed:
    """An entry checked and decided again: what is wrong with it (`problems`:
    a broken chain, a hash that does not match, an entry that cannot be read
    or decided) and what differs now, if anything."""

    line: int
    assertion_id: str
    policy: str
    before: str
    after: str
    criteria_before: list[str]
    criteria_after: list[str]
    policy_changed: bool
    problems: list[str] = field(default_factory=list)

    @property
    def bad(self) -> bool:
        return bool(self.problems)

    @property
    def problem(self) -> str:
        return "; ".join(self.problems)

    @property
    def decided(self) -> bool:
        return bool(self.after)

    @property
    def changed(self) -> bool:
        """Decided again, to another verdict or other criteria."""
        return self.decided and (
            self.before != self.after or self.criteria_before != self.criteria_after
        )

    @property
    def differs(self) -> bool:
        return self.bad or self.changed

    def to_dict(self) -> dict[str, Any]:
        entry: dict[str, Any] = {"line": self.line, "coverage_assertion_id": self.assertion_id}
        if self.problems:
            entry["problems"] = list(self.problems)
            entry["problem"] = self.problem
        if not self.decided:
            return entry
        return {
            **entry,
            "policy": self.policy,
            "verdict": {"then": self.before, "now": self.after},
            "criteria": {"then": self.criteria_before, "now": self.criteria_after},
            "policy_changed": self.policy_changed,
        }


def _lines(path: Path) -> Iterator[tuple[int, bytes]]:
    try:
        with path.open("rb") as stream:
            yield from enumerate(stream, 1)
    except OSError as error:
        raise CaseError(f"{path}: {error.strerror}") from None


def _day(text: object) -> date | None:
    from policykb.bridge.model.dates import require_date

    if text is None:
        return None
    return require_date(
        text, CaseError(f"date_of_service {str(text)[:40]!r} is not a date YYYY-MM-DD")
    )


def _hash_problems(entry: dict[str, Any]) -> list[str]:
    """What the entry's own hashes say against its content."""
    problems = []
    stated = facts_digest(entry["facts"])
    if entry["facts_hash"] != hashlib.sha256(stated).hexdigest():
        problems.append("facts_hash does not match the facts")
    expected = assertion_id(str(entry["policy"]), str(entry["policy_hash"]), stated)
    content = str(entry["coverage_assertion_id"]).split(TRACE_SEPARATOR, 1)[0]
    if content != expected:
        problems.append("coverage_assertion_id does not match the policy, policy_hash and facts")
    return problems


@dataclass
class Chain:
    """The hash of the last line read: the next entry's prev_hash must name it."""

    head: str = GENESIS
    entries: int = 0


def replay(path: Path, decisions: Decisions, chain: Chain | None = None) -> Iterator[Replayed]:
    """Check every entry of an audit log (chain, hashes) and decide it again
    (without auditing it again). A bad entry is reported, never the end of the
    replay. `chain`, when given, ends holding the log's head hash."""
    chain = chain if chain is not None else Chain()
    for number, raw in _lines(path):
        previous, chain.head = chain.head, line_hash(raw)
        if not raw.strip():
            yield Replayed(number, "", "", "", "", [], [], False, ["an empty line"])
            continue
        chain.entries += 1
        problems: list[str] = []
        if not raw.endswith(b"\n"):
            problems.append("the last line is cut short (no newline)")
        try:
            entry = orjson.loads(raw)
        except orjson.JSONDecodeError as error:
            yield Replayed(number, "", "", "", "", [], [], False, [*problems, f"not JSON: {error}"])
            continue
        if isinstance(entry, dict) and entry.get("channel") == FEEDBACK and "feedback" in entry:
            if entry.get("prev_hash") != previous:
                problems.append(f"the chain is broken: prev_hash does not name line {number - 1}")
            if problems:  # feedback is chained, not decided: reported only when bad
                yield Replayed(number, "", "", "", "", [], [], False, problems)
            continue
        missing = [key for key in ENTRY_KEYS if key not in entry] if isinstance(entry, dict) else []
        if not isinstance(entry, dict) or missing:
            what = f"not an audit entry (no {', '.join(missing)})" if missing else "not an object"
            yield Replayed(number, "", "", "", "", [], [], False, [*problems, what])
            continue
        ident = str(entry["coverage_assertion_id"])
        if entry["prev_hash"] != previous:
            problems.append(f"the chain is broken: prev_hash does not name line {number - 1}")
        problems += _hash_problems(entry)
        try:
            policy = entry["policy"]
            if policy not in decisions.policies:
                raise CaseError(f"policy {str(policy)[:80]!r} is not loaded")
            decision = decisions.decide(
                policy,
                entry["facts"],
                channel="replay",
                audit=False,
                as_of=_day(entry["date_of_service"]),
            )
        except PolicyKBError as error:
            yield Replayed(number, ident, "", "", "", [], [], False, [*problems, str(error)])
            continue
        except (TypeError, ValueError, AttributeError) as error:
            what = f"cannot be decided: {type(error).__name__}"
            yield Replayed(number, ident, "", "", "", [], [], False, [*problems, what])
            continue
        yield Replayed(
            number,
            ident,
            str(policy),
            str(entry["verdict"]),
            decision.verdict.value,
            [str(c) for c in entry["criteria"]] if isinstance(entry["criteria"], list) else [],
            decision.cited,
            entry["policy_hash"] != decision.version,
            problems,
        )
