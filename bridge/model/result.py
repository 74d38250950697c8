"""What an evaluation returns: frozen, typed, and convertible to the JSON contract."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from enum import StrEnum
from typing import Any

from policykb.bridge.model.policy import Span, Value
from policykb.bridge.model.version import PolicyVersion


class Verdict(StrEnum):
    COVERED = "covered"
    NOT_COVERED = "not_covered"
    NEEDS_INFORMATION = "needs_information"


class Status(StrEnum):
    """A criterion's status over every way of filling in the case's unknowns."""

    MET = "met"
    NOT_MET = "not_met"
    UNKNOWN = "unknown"
    NOT_APPLICABLE = "not_applicable"


def stands_for(verdict: Verdict, status: Status, exclusion: bool) -> bool:
    """Whether a criterion of this status stands as `verdict` needs: met (and
    not an exclusion) for covered; not met, or an exclusion met, otherwise."""
    if verdict is Verdict.COVERED:
        return status is Status.MET and not exclusion
    return status is (Status.MET if exclusion else Status.NOT_MET)


JsonValue = bool | str | int | float | list[str]


def json_value(value: Value) -> JsonValue:
    """A fact value as it is written in JSON (lists sorted, for stable output;
    decimals as numbers, dates as ISO strings)."""
    if isinstance(value, bool | str | int):
        return value
    from datetime import date
    from decimal import Decimal

    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, date):
        return value.isoformat()
    return sorted(value)


def value_words(value: Value | Span) -> str:
    """A fact value as a person reads it: true, false, a name, a number, a
    date, a list, or the words of a region of values."""
    if isinstance(value, Span):
        return value.words
    if isinstance(value, bool):
        return "true" if value else "false"
    shown = json_value(value)
    if isinstance(shown, list):
        return ", ".join(shown) or "none"
    if isinstance(shown, float):
        return str(value)  # a decimal as the case wrote it
    return str(shown)


@dataclass(frozen=True)
class FrameReason:
    """Why a reference date alone decides a verdict, as data (explain/ words it):
    as of that date, every value (`every`) or no value of the dates `compared`
    with it within their bounds meets `criterion`, an exclusion when `exclusion`.
    `compared` is in vocabulary order and never empty."""

    criterion: str
    compared: tuple[str, ...]
    every: bool
    exclusion: bool

    def to_dict(self) -> dict[str, Any]:
        return {"criterion": self.criterion, "compared": list(self.compared)}


@dataclass(frozen=True)
class ExplanationItem:
    """One known fact a verdict rests on, with the criterion it speaks to.

    At most one of `region` and `frame` is set: a typed value stands for a
    region, a reference date the verdict rests on alone stands as the frame.
    The item carries no English; explain.wording words it."""

    fact: str
    value: Value
    criterion: str
    text: str
    assumed: bool = False
    region: Span | None = None  # for a number, date or code: what the value stands for
    frame: FrameReason | None = None  # for a reference date that alone decides

    def to_dict(self) -> dict[str, Any]:
        item: dict[str, Any] = {
            "fact": self.fact,
            "value": json_value(self.value),
            "criterion": self.criterion,
            "text": self.text,
        }
        if self.region is not None:
            item[self.region.key] = self.region.data
        if self.frame is not None:
            item["frame"] = self.frame.to_dict()
        if self.assumed:
            item["assumed"] = True
        return item


def _value_entry(value: Value | Span) -> dict[str, Any]:
    """{"value": ...}, or for a region of a typed fact (or a list's edits)
    {"range"|"codes"|"edits": ..., "words": ..., "example": ...}; "words" is
    how the CLI says it, so that every client words it alike."""
    if isinstance(value, Span):
        return {value.key: value.data, "words": value.words, "example": json_value(value.example)}
    return {"value": json_value(value)}


@dataclass(frozen=True)
class Answer:
    """What the verdict would be if a missing fact were answered with `value`
    (for a typed fact: with any value of a region)."""

    value: Value | Span
    verdict: Verdict

    def to_dict(self) -> dict[str, Any]:
        return {**_value_entry(self.value), "verdict": self.verdict.value}


@dataclass(frozen=True)
class MissingFact:
    """An unknown fact the verdict still depends on, and how to ask for it."""

    fact: str
    question: str
    criteria: tuple[str, ...]
    answers: tuple[Answer, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        missing: dict[str, Any] = {
            "fact": self.fact,
            "question": self.question,
            "criteria": list(self.criteria),
        }
        if self.answers:
            missing["answers"] = [answer.to_dict() for answer in self.answers]
        return missing


@dataclass(frozen=True)
class Change:
    """Setting one fact (given or absent) to a value (for a typed fact: to any
    value of a region)."""

    fact: str
    value: Value | Span

    def to_dict(self) -> dict[str, Any]:
        return {"fact": self.fact, **_value_entry(self.value)}


@dataclass(frozen=True)
class Note:
    """A warning or caution: it is reported, and it never changes the verdict."""

    kind: str
    id: str
    text: str
    fact: str | None = None
    value: Value | None = None

    def to_dict(self) -> dict[str, Any]:
        note: dict[str, Any] = {"kind": self.kind, "id": self.id, "text": self.text}
        if self.fact is not None:
            note["fact"] = self.fact
        if self.value is not None:
            note["value"] = json_value(self.value)
        return note


@dataclass(frozen=True)
class Evaluation:
    """The verdict on one case, with its minimal explanation."""

    id: str
    policy: str
    verdict: Verdict
    criteria: dict[str, Status]
    explanation: tuple[ExplanationItem, ...]
    missing: tuple[MissingFact, ...]
    warnings: tuple[Note, ...]
    version: PolicyVersion | None = None
    """The version of the policy that decided the case."""

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "policy": self.policy,
            "verdict": self.verdict.value,
            # A Status is a str (StrEnum): its value as it stands.
            "criteria": dict(self.criteria),
            "explanation": [item.to_dict() for item in self.explanation],
            "missing": [item.to_dict() for item in self.missing],
            "warnings": [note.to_dict() for note in self.warnings],
            "version": self.version.to_dict() if self.version else None,
        }


@dataclass(frozen=True)
class CoveredFrom:
    """The earliest date of service from `start` through `until` from which a
    not_covered case is covered, every other fact unchanged (the version in
    force on each day deciding); `day` None when there is none."""

    start: date
    day: date | None
    until: date

    @property
    def words(self) -> str:
        """The answer as the CLI, the notice and the CRD card state it."""
        if self.day is not None:
            return (
                f"{self.day.isoformat()}: the earliest date of service from "
                f"{self.start.isoformat()} on that is covered, every other fact unchanged"
            )
        return (
            f"none: no date of service from {self.start.isoformat()} through "
            f"{self.until.isoformat()} is covered with every other fact unchanged"
        )


@dataclass(frozen=True)
class WhyAnswer:
    """Why a case got its verdict: every minimal explanation, the smallest
    changes that flip it, and what each missing fact's answers would do."""

    id: str
    policy: str
    verdict: Verdict
    explanations: tuple[tuple[ExplanationItem, ...], ...]
    target: Verdict
    changes: tuple[tuple[Change, ...], ...]
    changes_capped: bool
    missing: tuple[MissingFact, ...]
    changes_left_out: int = 0
    """Smallest change sets past the limit (a lower bound when not exact)."""
    changes_left_out_exact: bool = True
    version: PolicyVersion | None = None
    covered_from: CoveredFrom | None = None
    """For a not_covered case that states its date of service, of a policy that
    declares it: the earliest date of service that is covered."""
    covered_from_reason: str | None = None
    """For a not_covered case that leaves the date of service unknown: why no
    covered-from date is searched (covered_from is then None)."""

    def to_dict(self) -> dict[str, Any]:
        found = (
            {
                "covered_from": self.covered_from.day.isoformat()
                if self.covered_from.day
                else None,
                "covered_from_searched": {
                    "from": self.covered_from.start.isoformat(),
                    "through": self.covered_from.until.isoformat(),
                },
                "covered_from_words": self.covered_from.words,
            }
            if self.covered_from is not None
            else {"covered_from": None, "covered_from_reason": self.covered_from_reason}
            if self.covered_from_reason is not None
            else {}
        )
        return {
            "id": self.id,
            "policy": self.policy,
            "verdict": self.verdict.value,
            "explanations": [[item.to_dict() for item in e] for e in self.explanations],
            "target": self.target.value,
            "changes": [[change.to_dict() for change in c] for c in self.changes],
            "changes_capped": self.changes_capped,
            "changes_left_out": self.changes_left_out,
            "changes_left_out_exact": self.changes_left_out_exact,
            "missing": [item.to_dict() for item in self.missing],
            "version": self.version.to_dict() if self.version else None,
            **found,
        }
