"""Evaluating chunks of batch records: compiled policies and a result cache.

Each policy is compiled to a decision circuit (compile/) so a case costs
one pass over the nodes it reaches; identical cases (same policy and facts) are validated,
evaluated and serialised once, and their output is reused with the id
spliced in.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from datetime import date
from typing import TYPE_CHECKING, Any

import orjson

from policykb.bridge.batch.output import (
    ChunkResult,
    RecordError,
    RecordWriter,
    Rendered,
    Spooled,
    Summary,
)
from policykb.bridge.batch.readers import Chunk
from policykb.bridge.batch.records import Seen, chunk_items
from policykb.bridge.batch.settings import BatchSettings
from policykb.bridge.compile.compiled import CompiledPolicies
from policykb.bridge.knowledge_base import KnowledgeBase
from policykb.bridge.loading.case import csv_document, service_date_of, validate_case
from policykb.bridge.model.case import DEFAULT_POLICY
from policykb.bridge.model.dates import parse_date
from policykb.bridge.model.errors import CaseError, PolicyKBError
from policykb.bridge.model.formats import RecordFormat
from policykb.bridge.model.version import SERVICE_DATE

if TYPE_CHECKING:
    from policykb.bridge.model.case import Case
    from policykb.bridge.solving.evaluator import Evaluator

CACHE_LIMIT = 50_000  # distinct cases kept per process (about 2 KiB each)


class BatchEvaluator:
    """Evaluates chunks of records with compiled policies and a result cache.

    The cache maps a record without its id (policy and facts, as given) to its
    rendered output without the id, or to its error: identical cases are
    validated, evaluated and serialised once.
    """

    def __init__(self, settings: BatchSettings) -> None:
        self.kb = KnowledgeBase(settings.kb_dirs)
        self.policy = settings.policy
        self.as_of = settings.as_of
        self.writer = RecordWriter(settings.output, settings.explain)
        self.compiled = CompiledPolicies()
        self.spool = settings.spool
        self._spooled_chunks = 0
        self._cache: dict[bytes, tuple[Rendered, str, tuple[str, ...]] | CaseError] = {}
        self._seen: dict[bytes, tuple[Rendered, str, tuple[str, ...]] | CaseError] = {}
        self._decided: dict[tuple[object, ...], tuple[Rendered, str, tuple[str, ...]]] = {}

    # -- one distinct case -------------------------------------------------------

    def evaluator_of(self, document: Mapping[str, Any], day: date | None = None) -> Evaluator:
        """The evaluator of the policy version that decides a record."""
        day = self.as_of or day
        if self.policy:
            return self.kb.evaluator(self.policy, day)
        policy_name = document.get("policy", DEFAULT_POLICY)
        if not isinstance(policy_name, str):
            raise CaseError("'policy' must be a string")
        return self.kb.named_evaluator(policy_name, day)

    def _evaluate(
        self, document: Mapping[str, Any], evaluator: Evaluator
    ) -> tuple[Rendered, str, tuple[str, ...]]:
        case = validate_case(document, evaluator.policy, "case", self.as_of)
        # Distinct records may state the same facts once validated (a
        # history's records become the counts of their classes): decided once.
        version = evaluator.policy
        key = (version.name, version.version.hash, case.as_of, tuple(case.facts.items()))
        found = self._decided.get(key)
        if found is not None:
            return found
        if len(self._decided) >= CACHE_LIMIT:
            self._decided.clear()
        self._decided[key] = self._decide(case, evaluator)
        return self._decided[key]

    def _decide(self, case: Case, evaluator: Evaluator) -> tuple[Rendered, str, tuple[str, ...]]:
        evaluation = self.compiled.evaluate(evaluator, case)
        criteria = evaluator.policy.criteria
        reasons = tuple(
            dict.fromkeys(i.criterion for i in evaluation.explanation if i.criterion in criteria)
        )
        return self.writer.render(evaluation), evaluation.verdict.value, reasons

    def _cached(self, document: dict[str, Any]) -> tuple[Rendered, str, tuple[str, ...]]:
        # Sliced to a compact copy: orjson's own buffers take about 4 KiB each,
        # too much to keep tens of thousands of them as cache keys.
        facts = document.get("facts")
        day = None
        if type(facts) is dict and facts.get(SERVICE_DATE) is not None:
            # The date chooses the version; a version that does not read it
            # decides the case alike on every day: one cache entry per version.
            day = service_date_of(document)
            version = self.evaluator_of(document, day).policy
            if SERVICE_DATE not in version.facts:
                facts = {k: v for k, v in facts.items() if k != SERVICE_DATE}
                document = {**document, "facts": facts}
            key = version.version.hash.encode() + orjson.dumps(document)
        else:
            key = orjson.dumps(document)[1:]
        hit = self._cache.get(key)
        if hit is None:
            try:
                hit = self._evaluate(document, self.evaluator_of(document, day))
            except CaseError as error:
                hit = error
            if len(self._cache) >= CACHE_LIMIT:
                self._cache.clear()
            self._cache[key] = hit
        if isinstance(hit, CaseError):
            raise hit
        return hit

    def _remember(
        self, rest: bytes | None, hit: tuple[Rendered, str, tuple[str, ...]] | CaseError
    ) -> None:
        """What a JSONL line's bytes after its id were decided to (line_items)."""
        if rest is None:
            return
        if len(self._seen) >= CACHE_LIMIT:
            self._seen.clear()
        self._seen[rest] = hit

    # -- chunks ----------------------------------------------------------------------

    def run(self, chunk: Chunk) -> ChunkResult:
        """Evaluate a chunk; output records come in input order."""
        rests: dict[int, bytes] = {}
        items = chunk_items(chunk, self._from_csv_row, self._seen, rests)
        parts: list[Rendered] = []
        summary = Summary()
        errors: list[RecordError] = []
        verdicts = summary.verdicts
        denials: dict[tuple[str, ...], int] = {}  # counted by cited set, summed once
        for number, key, document, record_id in items:
            try:
                if isinstance(document, PolicyKBError):
                    raise document
                if type(document) is Seen:
                    hit = self._seen[document.rest]
                    if isinstance(hit, CaseError):
                        raise hit
                    rendered, verdict, reasons = hit
                else:
                    rest = rests.pop(number, None)
                    try:
                        rendered, verdict, reasons = self._cached(document)  # type: ignore[arg-type]
                    except CaseError as error:
                        self._remember(rest, error)
                        raise
                    self._remember(rest, (rendered, verdict, reasons))
            except PolicyKBError as error:
                failed = RecordError(number, record_id, str(error))
                errors.append(failed)
                parts.append(self.writer.error(failed, key))
                continue
            parts.append(self.writer.with_id(rendered, record_id))  # type: ignore[arg-type]
            verdicts[verdict] += 1
            if reasons and verdict == "not_covered":
                denials[reasons] = denials.get(reasons, 0) + 1
        for reasons, count in denials.items():
            for reason in reasons:
                summary.denial_reasons[reason] += count
        summary.total = len(parts)
        summary.errors = len(errors)
        if self.writer.output is RecordFormat.PARQUET:
            from policykb.bridge.batch.arrow import record_batch

            return ChunkResult(record_batch(parts), summary, errors)  # type: ignore[arg-type]
        output = b"".join(parts)  # type: ignore[arg-type]
        if self.spool is not None:
            return ChunkResult(self._spooled(output), summary, errors)
        return ChunkResult(output, summary, errors)

    def _spooled(self, output: bytes) -> Spooled:
        """The chunk's output written to a new file of the spool folder."""
        assert self.spool is not None
        self._spooled_chunks += 1
        path = os.path.join(self.spool, f"{os.getpid()}-{self._spooled_chunks}")
        with open(path, "wb") as out:
            out.write(output)
        return Spooled(path, len(output))

    def _from_csv_row(self, row: dict[str, Any]) -> dict[str, Any]:
        raw_day = row.get(SERVICE_DATE)
        day = parse_date(raw_day.strip()) if isinstance(raw_day, str) else None
        named = {"policy": row["policy"]} if row.get("policy") else {}
        return csv_document(row, self.evaluator_of(named, day).policy)
