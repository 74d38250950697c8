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
from collections import Counter, deque
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass, field
from typing import IO, Any

import orjson

from policykb.bridge.case import kind_of, validate_case
from policykb.bridge.compiled import CompiledPolicy, compile_policy
from policykb.bridge.errors import CaseError, LimitError, PolicyKBError
from policykb.bridge.formats import InputFormat, OutputKind
from policykb.bridge.kb_files import DEFAULT_POLICY
from policykb.bridge.knowledge_base import KnowledgeBase
from policykb.bridge.policy import FactType, Policy
from policykb.bridge.readers import Chunk, LineChunk, Record, read_chunks, too_long
from policykb.bridge.result import Evaluation, value_words

MAX_JOBS = 64  # worker processes at most (--jobs)
CACHE_LIMIT = 50_000  # distinct cases kept per process (about 2 KiB each)
TRUE_WORDS = {"true", "yes", "1", "t", "y"}
FALSE_WORDS = {"false", "no", "0", "f", "n"}


CSV_COLUMNS = ("id", "verdict", "explanation", "missing", "error")


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
    """A chunk's output records (in order), its counts and its failed records."""

    output: bytes
    summary: Summary
    errors: list[RecordError]


# -- evaluating -------------------------------------------------------------------


def _case_keys(document: object) -> int:
    """The keys of a case document and of its facts: the only objects whose keys
    decide anything (an object anywhere else is refused by case validation)."""
    if type(document) is not dict:
        return 0
    facts = document.get("facts")
    return len(document) + (len(facts) if type(facts) is dict else 0)


def parse_record(line: bytes) -> Any:
    """A JSONL record: orjson's speed, with repeated keys refused as everywhere else.

    Every object member holds one ':' outside strings, so a line with no more
    colons than its case and facts objects have keys cannot repeat one of
    theirs; only lines with other colons (in strings, or in objects that case
    validation refuses anyway) or a repeated key take the strict, slower parser.
    """
    try:
        document = orjson.loads(line)
    except orjson.JSONDecodeError as error:
        if "recursion" in error.msg:
            raise LimitError("the JSON nests deeper than 1,024 levels") from None
        raise CaseError(f"malformed JSON at column {error.colno}: {error.msg}") from None
    if line.count(b":") > _case_keys(document):
        from policykb.bridge.case import parse_json

        parse_json(line.decode("utf-8"), "the record")  # raises on a repeated key
    return document


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
    """Evaluates chunks of records with compiled policies and a result cache.

    The cache maps a record without its id (policy and facts, as given) to its
    rendered output without the id, or to its error: identical cases are
    validated, evaluated and serialised once.
    """

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

    # -- one distinct case -------------------------------------------------------

    def _evaluate(self, document: Mapping[str, Any]) -> tuple[bytes, str, tuple[str, ...]]:
        policy_name = self.policy or document.get("policy", DEFAULT_POLICY)
        if not isinstance(policy_name, str):
            raise CaseError("'policy' must be a string")
        if self.policy:
            evaluator = self.kb.evaluator(self.policy)
        else:
            evaluator = self.kb.named_evaluator(policy_name)
        case = validate_case(document, evaluator.policy, "case")
        name = evaluator.policy.name
        if name not in self._compiled:
            self._compiled[name] = compile_policy(evaluator)
        compiled = self._compiled[name]
        evaluation = compiled.evaluate(case) if compiled else evaluator.evaluate(case)
        criteria = evaluator.policy.criteria
        reasons = tuple(
            dict.fromkeys(i.criterion for i in evaluation.explanation if i.criterion in criteria)
        )
        return self._render(evaluation), evaluation.verdict.value, reasons

    def _render(self, evaluation: Evaluation) -> bytes:
        """The output record without its id (JSONL: the object's tail after '{')."""
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
        return orjson.dumps(body)[1:] + b"\n"

    def _cached(self, document: dict[str, Any]) -> tuple[bytes, str, tuple[str, ...]]:
        # Sliced to a compact copy: orjson's own buffers take about 4 KiB each,
        # too much to keep tens of thousands of them as cache keys.
        key = orjson.dumps(document)[1:]
        hit = self._cache.get(key)
        if hit is None:
            try:
                hit = self._evaluate(document)
            except CaseError as error:
                hit = error
            if len(self._cache) >= CACHE_LIMIT:
                self._cache.clear()
            self._cache[key] = hit
        if isinstance(hit, CaseError):
            raise hit
        return hit

    # -- output records ------------------------------------------------------------

    def _with_id(self, rendered: bytes, record_id: str) -> bytes:
        if self.output is OutputKind.CSV:
            # `rendered` is the row with an empty id cell: put the id in front.
            return _csv_line([record_id])[:-2] + rendered
        return b'{"id":' + orjson.dumps(record_id) + b"," + rendered

    def _error_record(self, error: RecordError, key: str) -> bytes:
        if self.output is OutputKind.CSV:
            place = f"{key} {error.number}: {error.message}"
            return _csv_line([error.record_id or "", "error", "", "", place])
        record: dict[str, Any] = {key: error.number}
        if error.record_id is not None:
            record["id"] = error.record_id
        record["error"] = error.message
        return orjson.dumps(record) + b"\n"

    # -- chunks ----------------------------------------------------------------------

    def run(self, chunk: Chunk) -> ChunkResult:
        """Evaluate a chunk; output records come in input order."""
        if isinstance(chunk, LineChunk):
            return self._run_lines(chunk)
        return self._run_records(chunk)

    def _run_lines(self, chunk: LineChunk) -> ChunkResult:
        parts: list[bytes] = []
        summary = Summary()
        errors: list[RecordError] = []
        verdicts = summary.verdicts
        reasons_of_denials = summary.denial_reasons
        number = chunk.first - 1
        lines = chunk.lines.split(b"\n")
        if chunk.lines.endswith(b"\n"):
            lines.pop()
        for line in lines:
            number += 1
            record_id: str | None = None
            if number in chunk.oversized:
                failed = RecordError(
                    number, None, f"the line is {too_long(chunk.oversized[number])}"
                )
                errors.append(failed)
                parts.append(self._error_record(failed, "line"))
                continue
            if not line.strip():
                continue
            try:
                document = parse_record(line)
                if type(document) is not dict:
                    raise CaseError("a case must be a JSON object")
                raw_id = document.pop("id", None)
                if raw_id is not None and type(raw_id) is not str:
                    raise CaseError(f"'id' must be a string, not {kind_of(raw_id)}")
                record_id = raw_id if raw_id is not None else f"line-{number}"
                rendered, verdict, reasons = self._cached(document)
            except PolicyKBError as error:
                failed = RecordError(number, record_id, str(error))
                errors.append(failed)
                parts.append(self._error_record(failed, "line"))
                continue
            parts.append(self._with_id(rendered, record_id))
            verdicts[verdict] += 1
            if reasons and verdict == "not_covered":
                reasons_of_denials.update(reasons)
        summary.total = len(parts)
        summary.errors = len(errors)
        return ChunkResult(b"".join(parts), summary, errors)

    def _run_records(self, chunk: list[Record]) -> ChunkResult:
        parts: list[bytes] = []
        summary = Summary()
        errors: list[RecordError] = []
        for record in chunk:
            key = "line" if record.is_csv_row else "record"
            record_id: str | None = None
            try:
                if isinstance(record.data, Exception):
                    raise CaseError(str(record.data))
                if not isinstance(record.data, dict):
                    raise CaseError("a case must be a JSON object")
                document = dict(record.data)
                raw_id = document.pop("id", None)
                if isinstance(raw_id, str) and raw_id:
                    record_id = raw_id
                if record.is_csv_row:
                    document = self._from_csv_row(document)
                if raw_id is not None and not isinstance(raw_id, str):
                    raise CaseError(f"'id' must be a string, not {kind_of(raw_id)}")
                record_id = record_id or f"{key}-{record.number}"
                rendered, verdict, reasons = self._cached(document)
            except PolicyKBError as error:
                failed = RecordError(record.number, record_id, str(error))
                errors.append(failed)
                parts.append(self._error_record(failed, key))
                continue
            parts.append(self._with_id(rendered, record_id))
            summary.verdicts[verdict] += 1
            if reasons and verdict == "not_covered":
                summary.denial_reasons.update(reasons)
        summary.total = len(parts)
        summary.errors = len(errors)
        return ChunkResult(b"".join(parts), summary, errors)

    def _from_csv_row(self, row: dict[str, Any]) -> dict[str, Any]:
        """A CSV row (without its id) as a case document, cells typed by the vocabulary."""
        if self.policy:
            policy = self.kb.policy(self.policy)
        else:
            policy = self.kb.named_evaluator(row.get("policy") or DEFAULT_POLICY).policy
        facts: dict[str, object] = {}
        for column, cell in row.items():
            if column == "policy" or cell is None or cell == "":
                continue
            if column not in policy.facts:
                facts[column] = cell  # validate_case names it and the nearest known fact
                continue
            facts[column] = _csv_value(policy, column, cell)
        document: dict[str, Any] = {"facts": facts}
        if row.get("policy"):
            document["policy"] = row["policy"]
        return document


def _csv_line(cells: Sequence[str]) -> bytes:
    out = io.StringIO()
    csv.writer(out, lineterminator="\r\n").writerow(cells)
    return out.getvalue().encode("utf-8")


def csv_header() -> bytes:
    return _csv_line(list(CSV_COLUMNS))


# -- running -----------------------------------------------------------------------

_worker: BatchEvaluator | None = None


def _die_with_parent() -> None:
    """Ask Linux to kill this worker when its parent dies (even by SIGKILL)."""
    import ctypes
    import signal
    import sys

    if not sys.platform.startswith("linux"):
        return
    set_parent_death_signal = 1  # PR_SET_PDEATHSIG
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(set_parent_death_signal, signal.SIGKILL, 0, 0, 0)
    except (OSError, AttributeError):
        pass  # no prctl: the pool still ends its workers when the parent exits


def _start_worker(settings: dict[str, Any]) -> None:
    global _worker
    _die_with_parent()
    import signal

    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's to handle
    _worker = BatchEvaluator(**settings)


def _run_chunk(chunk: Chunk) -> ChunkResult:
    assert _worker is not None
    return _worker.run(chunk)


def evaluate_chunks(
    chunks: Iterator[Chunk], settings: dict[str, Any], jobs: int = 1
) -> Iterator[ChunkResult]:
    """Chunk results in input order; with jobs > 1, chunks run in worker processes
    with at most 2 * jobs chunks in flight, so memory stays bounded."""
    jobs = min(jobs, MAX_JOBS)
    if jobs <= 1:
        evaluator = BatchEvaluator(**settings)
        for chunk in chunks:
            yield evaluator.run(chunk)
        return
    with ProcessPoolExecutor(jobs, initializer=_start_worker, initargs=(settings,)) as pool:
        window: deque[Future[ChunkResult]] = deque()
        try:
            for chunk in chunks:
                window.append(pool.submit(_run_chunk, chunk))
                if len(window) >= 2 * jobs:
                    yield window.popleft().result()
        finally:
            # Input that breaks off still has its earlier records written, in order.
            while window:
                yield window.popleft().result()


def run_batch(
    source: IO[bytes],
    target: IO[bytes],
    input_format: InputFormat,
    settings: dict[str, Any],
    jobs: int = 1,
    on_chunk: Callable[[ChunkResult], None] | None = None,
) -> Summary:
    """Evaluate every record of `source` and write one output record per input
    record, in order, to `target`; `on_chunk` sees each chunk's result as it is
    written (for progress and error lines)."""
    summary = Summary()
    if settings.get("output") is OutputKind.CSV:
        target.write(csv_header())
    for result in evaluate_chunks(read_chunks(source, input_format), settings, jobs):
        target.write(result.output)
        summary.merge(result.summary)
        if on_chunk is not None:
            on_chunk(result)
    return summary
