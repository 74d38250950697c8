"""Batch evaluation: many cases from a JSONL, CSV or JSON-array file, streamed.

One output record per input record, in input order; a record that fails gets
an error record in its place and the batch goes on. Memory stays bounded:
records are read, evaluated and written in chunks, and the caches are capped.

Speed comes from three things: each policy is compiled to prime implicants
(see compiled.py) so a case costs microseconds; identical cases (same policy
and facts) are evaluated once, and their output is serialised once with the id
spliced in; and chunks are evaluated in parallel worker processes.
"""

from __future__ import annotations

import csv
import io
import json
from collections import Counter
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import IO, Any

import orjson

from policykb.bridge.case import validate_case
from policykb.bridge.compiled import CompiledPolicy, compile_policy
from policykb.bridge.errors import CaseError, PolicyKBError
from policykb.bridge.kb_files import DEFAULT_POLICY
from policykb.bridge.knowledge_base import KnowledgeBase
from policykb.bridge.policy import FactType, Policy
from policykb.bridge.result import Evaluation, Verdict, value_words

CACHE_LIMIT = 50_000
TRUE_WORDS = {"true", "yes", "1", "t", "y"}
FALSE_WORDS = {"false", "no", "0", "f", "n"}


class InputFormat(StrEnum):
    JSONL = "jsonl"
    CSV = "csv"
    JSON = "json"


class OutputKind(StrEnum):
    JSONL = "jsonl"
    CSV = "csv"


CSV_COLUMNS = ("id", "verdict", "explanation", "missing", "error")


@dataclass(frozen=True)
class Record:
    """One input record: its place (line, or index in a JSON array) and its data."""

    number: int
    data: bytes | dict[str, Any] | Exception


@dataclass
class Outcome:
    """What one record produced: the output bytes and what the summary counts."""

    output: bytes
    number: int = 0
    verdict: str | None = None
    reasons: tuple[str, ...] = ()
    error: str | None = None
    record_id: str | None = None


@dataclass
class Summary:
    total: int = 0
    verdicts: Counter[str] = field(default_factory=Counter)
    errors: int = 0
    denial_reasons: Counter[str] = field(default_factory=Counter)

    def add(self, outcome: Outcome) -> None:
        self.total += 1
        if outcome.error is not None:
            self.errors += 1
            return
        assert outcome.verdict is not None
        self.verdicts[outcome.verdict] += 1
        if outcome.verdict == Verdict.NOT_COVERED.value:
            self.denial_reasons.update(outcome.reasons)

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


# -- reading ---------------------------------------------------------------------


def iter_jsonl(stream: IO[bytes]) -> Iterator[Record]:
    for number, line in enumerate(stream, start=1):
        if line.strip():
            yield Record(number, line)


def iter_json_array(stream: IO[bytes], chunk_size: int = 1 << 16) -> Iterator[Record]:
    """The items of a top-level JSON array, one at a time, without loading the file."""
    decoder = json.JSONDecoder()
    text = io.TextIOWrapper(stream, encoding="utf-8")
    buffer = ""
    position = 0
    started = False
    number = 0
    eof = False
    while True:
        while position < len(buffer) and buffer[position] in " \t\r\n,":
            if buffer[position] == "," and not started:
                break
            position += 1
        if position >= len(buffer) and not eof:
            more = text.read(chunk_size)
            buffer, position, eof = buffer[position:] + more, 0, not more
            continue
        if not started:
            if position >= len(buffer):
                raise CaseError("the input is empty, not a JSON array")
            if buffer[position] != "[":
                raise CaseError("the input is not a JSON array (it does not start with '[')")
            started, position = True, position + 1
            continue
        if position < len(buffer) and buffer[position] == "]":
            return
        if position >= len(buffer) and eof:
            raise CaseError("the JSON array is not closed with ']'")
        try:
            item, end = decoder.raw_decode(buffer, position)
        except json.JSONDecodeError as error:
            if not eof:
                more = text.read(chunk_size)
                buffer, position, eof = buffer[position:] + more, 0, not more
                continue
            raise CaseError(f"malformed JSON in array item {number + 1}: {error.msg}") from None
        number += 1
        yield Record(number, item)
        position = end


def iter_csv(stream: IO[bytes]) -> Iterator[Record]:
    reader = csv.DictReader(io.TextIOWrapper(stream, encoding="utf-8", newline=""))
    if reader.fieldnames is None:
        return
    if "id" not in reader.fieldnames:
        raise CaseError("the CSV header has no 'id' column")
    for row in reader:
        # The header is line 1; a row's line is its place in the file.
        yield Record(reader.line_num, dict(row))


def read_records(stream: IO[bytes], kind: InputFormat) -> Iterator[Record]:
    if kind is InputFormat.CSV:
        return iter_csv(stream)
    if kind is InputFormat.JSON:
        return iter_json_array(stream)
    return iter_jsonl(stream)


def guess_format(path: str) -> InputFormat:
    suffix = Path(path).suffix.lower()
    if suffix == ".csv":
        return InputFormat.CSV
    if suffix == ".json":
        return InputFormat.JSON
    return InputFormat.JSONL


# -- evaluating -------------------------------------------------------------------


def _csv_value(policy: Policy, name: str, cell: str) -> object:
    fact = policy.facts[name]
    text = cell.strip()
    if fact.type is FactType.BOOL:
        if text.lower() in TRUE_WORDS:
            return True
        if text.lower() in FALSE_WORDS:
            return False
        raise CaseError(f"fact {name!r} must be true or false, not {text!r}")
    if fact.type is FactType.LIST:
        return [item.strip() for item in text.split(";") if item.strip()]
    return text


class BatchEvaluator:
    """Evaluates records one at a time, with compiled policies and a result cache."""

    def __init__(
        self,
        kb_dirs: Sequence[str] = (),
        explain: bool = True,
        output: OutputKind = OutputKind.JSONL,
        policy: str | None = None,
    ) -> None:
        self.kb = KnowledgeBase(kb_dirs)
        self.explain = explain
        self.output = output
        self.policy = policy
        self._compiled: dict[str, CompiledPolicy | None] = {}
        self._cache: dict[bytes, tuple[bytes, str, tuple[str, ...]] | CaseError] = {}

    def _evaluate(self, document: Mapping[str, Any], policy_name: str) -> Evaluation:
        evaluator = self.kb.evaluator(policy_name)
        case = validate_case(document, evaluator.policy, "case")
        name = evaluator.policy.name
        if name not in self._compiled:
            self._compiled[name] = compile_policy(evaluator)
        compiled = self._compiled[name]
        return compiled.evaluate(case) if compiled else evaluator.evaluate(case)

    def _render(self, evaluation: Evaluation) -> bytes:
        if self.output is OutputKind.CSV:
            explanation = "; ".join(
                f"{i.fact}={value_words(i.value)}" for i in evaluation.explanation
            )
            missing = "; ".join(m.fact for m in evaluation.missing)
            return _csv_line(["", evaluation.verdict.value, explanation, missing, ""])
        body = evaluation.to_dict()
        del body["id"]
        if not self.explain:
            del body["explanation"]
        return orjson.dumps(body)

    def _with_id(self, rendered: bytes, record_id: str) -> bytes:
        if self.output is OutputKind.CSV:
            # `rendered` is the row with an empty id cell: put the id in front.
            return _csv_line([record_id])[:-2] + rendered
        return b'{"id":' + orjson.dumps(record_id) + b"," + rendered[1:] + b"\n"

    def _error(self, number: int, record_id: str | None, message: str, key: str) -> Outcome:
        if self.output is OutputKind.CSV:
            output = _csv_line([record_id or "", "error", "", "", f"{key} {number}: {message}"])
        else:
            record: dict[str, Any] = {key: number}
            if record_id is not None:
                record["id"] = record_id
            record["error"] = message
            output = orjson.dumps(record) + b"\n"
        return Outcome(output, number, error=message, record_id=record_id)

    def document_of(self, record: Record) -> dict[str, Any]:
        data = record.data
        if isinstance(data, Exception):
            raise CaseError(str(data))
        if isinstance(data, bytes):
            try:
                parsed = orjson.loads(data)
            except orjson.JSONDecodeError as error:
                raise CaseError(f"malformed JSON at column {error.colno}: {error.msg}") from None
            if not isinstance(parsed, dict):
                raise CaseError("a case must be a JSON object")
            return parsed
        return data

    def outcome(self, record: Record, key_name: str = "line") -> Outcome:
        record_id: str | None = None
        try:
            document = self.document_of(record)
            early_id = document.get("id")
            if isinstance(early_id, str) and early_id:
                record_id = early_id
            if key_name == "line" and isinstance(record.data, dict):
                document = self._from_csv_row(document)
            raw_id = document.get("id")
            if raw_id is not None and not isinstance(raw_id, str):
                raise CaseError(f"'id' must be a string, not {type(raw_id).__name__}")
            record_id = raw_id if raw_id is not None else f"{key_name}-{record.number}"
            policy_name = self.policy or document.get("policy", DEFAULT_POLICY)
            if not isinstance(policy_name, str):
                raise CaseError("'policy' must be a string")
            cache_key = orjson.dumps(
                [policy_name, {k: v for k, v in document.items() if k != "id"}],
                option=orjson.OPT_SORT_KEYS,
            )
            cached = self._cache.get(cache_key)
            if cached is None:
                try:
                    evaluation = self._evaluate(document, policy_name)
                    criteria = self.kb.policy(evaluation.policy).criteria
                    reasons = tuple(
                        dict.fromkeys(
                            i.criterion for i in evaluation.explanation if i.criterion in criteria
                        )
                    )
                    cached = (self._render(evaluation), evaluation.verdict.value, reasons)
                except CaseError as error:
                    cached = error
                if len(self._cache) >= CACHE_LIMIT:
                    self._cache.clear()
                self._cache[cache_key] = cached
            if isinstance(cached, CaseError):
                raise cached
            rendered, verdict, reasons = cached
            return Outcome(
                self._with_id(rendered, record_id),
                record.number,
                verdict,
                reasons,
                record_id=record_id,
            )
        except PolicyKBError as error:
            return self._error(record.number, record_id, str(error), key_name)

    def _from_csv_row(self, row: dict[str, Any]) -> dict[str, Any]:
        policy_name = self.policy or row.get("policy") or DEFAULT_POLICY
        policy = self.kb.policy(policy_name)
        facts: dict[str, object] = {}
        for column, cell in row.items():
            if column in ("id", "policy") or cell is None or cell == "":
                continue
            if column not in policy.facts:
                # validate_case names the unknown fact and the nearest known one
                facts[column] = cell
                continue
            facts[column] = _csv_value(policy, column, cell)
        document: dict[str, Any] = {"id": row.get("id") or None, "facts": facts}
        if row.get("policy"):
            document["policy"] = row["policy"]
        return {k: v for k, v in document.items() if v is not None}


def _csv_line(cells: Sequence[str]) -> bytes:
    out = io.StringIO()
    csv.writer(out, lineterminator="\r\n").writerow(cells)
    return out.getvalue().encode("utf-8")


# -- running -----------------------------------------------------------------------

_worker: BatchEvaluator | None = None


def _start_worker(settings: dict[str, Any]) -> None:
    global _worker
    _worker = BatchEvaluator(**settings)


def _run_chunk(chunk: list[Record], key_name: str) -> list[Outcome]:
    assert _worker is not None
    return [_worker.outcome(record, key_name) for record in chunk]


def _chunks(records: Iterator[Record], size: int) -> Iterator[list[Record]]:
    chunk: list[Record] = []
    for record in records:
        chunk.append(record)
        if len(chunk) >= size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def evaluate_records(
    records: Iterator[Record],
    settings: dict[str, Any],
    jobs: int = 1,
    key_name: str = "line",
    chunk_size: int = 2000,
) -> Iterator[Outcome]:
    """Outcomes in input order; with jobs > 1, chunks run in worker processes
    with at most 2 * jobs chunks in flight (memory stays bounded)."""
    if jobs <= 1:
        evaluator = BatchEvaluator(**settings)
        for record in records:
            yield evaluator.outcome(record, key_name)
        return
    from collections import deque
    from concurrent.futures import Future, ProcessPoolExecutor

    with ProcessPoolExecutor(jobs, initializer=_start_worker, initargs=(settings,)) as pool:
        window: deque[Future[list[Outcome]]] = deque()
        for chunk in _chunks(records, chunk_size):
            window.append(pool.submit(_run_chunk, chunk, key_name))
            if len(window) >= 2 * jobs:
                yield from window.popleft().result()
        while window:
            yield from window.popleft().result()


def csv_header() -> bytes:
    return _csv_line(list(CSV_COLUMNS))


def run_batch(
    source: IO[bytes],
    target: IO[bytes],
    input_format: InputFormat,
    settings: dict[str, Any],
    jobs: int = 1,
    on_outcome: Callable[[Outcome], None] | None = None,
) -> Summary:
    """Evaluate every record of `source` and write one output record per input
    record, in order, to `target`; `on_outcome` sees each outcome as it is
    written (for progress and error lines)."""
    summary = Summary()
    key_name = "record" if input_format is InputFormat.JSON else "line"
    if settings.get("output") is OutputKind.CSV:
        target.write(csv_header())
    records = read_records(source, input_format)
    for outcome in evaluate_records(records, settings, jobs, key_name):
        target.write(outcome.output)
        summary.add(outcome)
        if on_outcome is not None:
            on_outcome(outcome)
    return summary
