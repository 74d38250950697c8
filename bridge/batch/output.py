"""Batch output: records in JSONL or CSV, error records, and the run's counts."""

from __future__ import annotations

import csv
import io
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import orjson

from policykb.bridge.model.formats import RecordFormat
from policykb.bridge.model.result import Evaluation, value_words

CSV_COLUMNS = ("id", "verdict", "explanation", "missing", "error", "version")
"""`version`: the version that decided the row, "EFFECTIVE sha256:HASH"."""


@dataclass
class Summary:
    total: int = 0
    verdicts: Counter[str] = field(default_factory=Counter)
    errors: int = 0
    denial_reasons: Counter[str] = field(default_factory=Counter)

    def merge(self, other: Summary) -> None:
        self.total += other.total
        self.verdicts.update(other.verdicts)
        self.errors += other.errors
        self.denial_reasons.update(other.denial_reasons)

    def to_dict(self) -> dict[str, Any]:
        return {
            "records": self.total,
            "verdicts": dict(sorted(self.verdicts.items())),
            "errors": self.errors,
            "denial_reasons": [
                {"criterion": criterion, "cases": count}
                for criterion, count in self.denial_reasons.most_common(10)
            ],
        }


@dataclass(frozen=True)
class RecordError:
    number: int
    record_id: str | None
    message: str


@dataclass
class ChunkResult:
    """A chunk's output records (in order), its counts and its failed records.
    The records are bytes (JSONL, CSV) or an Arrow record batch (Parquet)."""

    output: Any
    summary: Summary
    errors: list[RecordError]


@dataclass(frozen=True)
class Spooled:
    """A chunk's output records written to a file of the spool folder."""

    path: str
    size: int


Rendered = bytes | tuple[Any, ...]
"""An output record: bytes (JSONL, CSV), or a row of arrow.OUTPUT_COLUMNS (Parquet)."""


def _csv_line(cells: Sequence[str]) -> bytes:
    out = io.StringIO()
    csv.writer(out, lineterminator="\r\n").writerow(cells)
    return out.getvalue().encode("utf-8")


def csv_header() -> bytes:
    return _csv_line(list(CSV_COLUMNS))


@dataclass(frozen=True)
class RecordWriter:
    """Output records of one kind. A rendered evaluation has no id: identical
    cases are rendered once and the id is spliced in per record."""

    output: RecordFormat = RecordFormat.JSONL
    explain: bool = True

    def render(self, evaluation: Evaluation) -> Rendered:
        """The output record without its id (JSONL: the object's tail after '{')."""
        if self.output is RecordFormat.PARQUET:
            version = evaluation.version
            return (
                evaluation.policy,
                evaluation.verdict.value,
                [f"{i.fact}={value_words(i.value)}" for i in evaluation.explanation]
                if self.explain
                else None,
                list(dict.fromkeys(i.criterion for i in evaluation.explanation)),
                [m.fact for m in evaluation.missing],
                version.effective if version else None,
                version.hash if version else None,
                None,
            )
        if self.output is RecordFormat.CSV:
            explanation = "; ".join(
                f"{i.fact}={value_words(i.value)}" for i in evaluation.explanation
            )
            missing = "; ".join(m.fact for m in evaluation.missing)
            version = evaluation.version
            named = ""
            if version is not None:
                named = f"{version.effective or 'undated'} sha256:{version.hash}"
            return _csv_line(["", evaluation.verdict.value, explanation, missing, "", named])
        body = evaluation.to_dict()
        del body["id"]
        if not self.explain:
            del body["explanation"]
        return orjson.dumps(body)[1:] + b"\n"

    def with_id(self, rendered: Rendered, record_id: str) -> Rendered:
        if isinstance(rendered, tuple):
            return (record_id, *rendered)
        if self.output is RecordFormat.CSV:
            # `rendered` is the row with an empty id cell: put the id in front.
            return _csv_line([record_id])[:-2] + rendered
        return b'{"id":' + orjson.dumps(record_id) + b"," + rendered

    def error(self, error: RecordError, key: str) -> Rendered:
        if self.output is RecordFormat.PARQUET:
            place = f"{key} {error.number}: {error.message}"
            return (error.record_id, None, None, None, None, None, None, None, place)
        if self.output is RecordFormat.CSV:
            place = f"{key} {error.number}: {error.message}"
            return _csv_line([error.record_id or "", "error", "", "", place, ""])
        record: dict[str, Any] = {key: error.number}
        if error.record_id is not None:
            record["id"] = error.record_id
        record["error"] = error.message
        return orjson.dumps(record) + b"\n"
