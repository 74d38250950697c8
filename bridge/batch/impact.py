"""The impact of a revision on case history (`policykb impact`).

Every case is decided under both versions, with the compiled policies and
in chunks, as batch does (locally, in worker processes or on a Dask
cluster). The report counts the verdicts before and after and every
transition between them, counts the real cases that fall in each region of
`diff` (a region's condition holds on the case's known facts), and lists
the criteria newly cited in denials, each with example case ids.

Both versions are fixed for the run: OLD and NEW are each one version (a
name takes the version in force on --as-of, else today, `NAME@DAY` the one in
force on DAY), so a case's date_of_service does not choose among them.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import IO, TYPE_CHECKING, Any, TypeVar

import orjson

from policykb.bridge.batch.output import RecordError
from policykb.bridge.batch.readers import Chunk
from policykb.bridge.batch.records import chunk_items
from policykb.bridge.loading.case import csv_document, validate_case
from policykb.bridge.model.case import Case
from policykb.bridge.model.errors import CaseError, PolicyKBError
from policykb.bridge.model.formats import InputFormat
from policykb.bridge.model.policy import Fact, FactType
from policykb.bridge.model.result import Evaluation, Verdict
from policykb.bridge.model.version import PolicyVersion

if TYPE_CHECKING:
    from policykb.bridge.analysis.diff import DiffReport, VerdictChange
    from policykb.bridge.solving.evaluator import Evaluator

VERDICTS = tuple(v.value for v in Verdict)
Key = TypeVar("Key")
DEFAULT_EXAMPLES = 5


@dataclass(frozen=True)
class Region:
    """A diff region as the workers test it: its condition over scenario values."""

    condition: tuple[tuple[str, object], ...]
    change: tuple[str, str] = ("", "")
    """The old and new verdicts the region states."""

    def holds(self, known: Mapping[str, object], facts: Mapping[str, Fact]) -> bool:
        return all(
            name in known and _in_region(facts[name], known[name], value, known)
            for name, value in self.condition
        )


def _in_region(fact: Fact, value: object, region: object, known: Mapping[str, object]) -> bool:
    """Whether a case's value lies in a condition's value (a region for typed
    facts; for a date compared with reference dates, the comparisons it
    passes and fails, with the case's own reference dates)."""
    from policykb.bridge.analysis.regions import CodeSets, DateTests, ListCondition, Offset
    from policykb.bridge.model.typed import Interval

    if isinstance(region, DateTests):
        return region.holds(fact, value, known)
    if isinstance(region, Offset):
        return region.holds(value, known)
    if isinstance(region, ListCondition):
        return region.holds(value)
    if isinstance(region, CodeSets):
        return region.holds(fact, value)
    if not fact.type.typed:
        return value == region
    if fact.type is FactType.CODE_LIST:
        return fact.cells_of(value) == region  # type: ignore[arg-type]
    try:
        own = fact.region_of(value)  # type: ignore[arg-type]
    except ValueError:
        return False
    if own == region:
        return True
    # A merged range holds whole regions: one value of the case's tells.
    return (
        isinstance(region, Interval)
        and isinstance(own, Interval)
        and own.representative(whole=fact.type is not FactType.DECIMAL) in region
    )


@dataclass(frozen=True)
class ImpactSettings:
    """What an impact run is asked to do (picklable: workers receive it)."""

    old: str
    new: str
    kb_dirs: tuple[str, ...] = ()
    as_of: date | None = None
    examples: int = DEFAULT_EXAMPLES
    regions: tuple[Region, ...] = ()
    region_facts: tuple[tuple[str, Fact], ...] = ()
    """The facts of both versions over one set of regions (diff's merged policy)."""
    records: bool = False
    """Also return one row per case (RECORD_COLUMNS), for --records."""

    def worker(self) -> ImpactEvaluator:
        return ImpactEvaluator(self)


@dataclass
class Examples:
    """How many cases, and the ids of the first few."""

    count: int = 0
    ids: list[str] = field(default_factory=list)

    def add(self, record_id: str, limit: int) -> None:
        self.count += 1
        if len(self.ids) < limit:
            self.ids.append(record_id)

    def merge(self, other: Examples, limit: int) -> None:
        self.count += other.count
        self.ids.extend(other.ids[: max(limit - len(self.ids), 0)])


@dataclass
class ImpactPart:
    """The counts of a chunk (or of the whole run, merged in input order)."""

    records: int = 0
    errors: list[RecordError] = field(default_factory=list)
    error_count: int = 0
    transitions: dict[tuple[str, str], Examples] = field(default_factory=dict)
    regions: dict[int, Examples] = field(default_factory=dict)
    """The cases in each region whose verdicts change as the region states."""
    not_as_stated: dict[int, Examples] = field(default_factory=dict)
    """The cases in each region whose verdicts do not (should be none)."""
    newly_cited: dict[str, Examples] = field(default_factory=dict)
    rows: list[tuple[Any, ...]] = field(default_factory=list)
    """One row per case (RECORD_COLUMNS) when asked for; never merged."""

    def merge(self, other: ImpactPart, limit: int) -> None:
        self.records += other.records
        self.error_count += other.error_count
        _merge(self.transitions, other.transitions, limit)
        _merge(self.regions, other.regions, limit)
        _merge(self.not_as_stated, other.not_as_stated, limit)
        _merge(self.newly_cited, other.newly_cited, limit)


def _merge(mine: dict[Key, Examples], theirs: dict[Key, Examples], limit: int) -> None:
    for key, found in theirs.items():
        mine.setdefault(key, Examples()).merge(found, limit)


RECORD_COLUMNS = (
    ("id", "string"),
    ("old_verdict", "string"),
    ("new_verdict", "string"),
    ("changed", "bool"),
    ("newly_cited", "list<string>"),
    ("regions", "list<int32>"),
    ("error", "string"),
)
"""impact --records: one row per case. `regions` numbers the diff regions
the case falls in (1 is the report's first); a failed case has its error."""


class RecordsWriter:
    """impact --records: the cases' rows, in input order, as JSONL or Parquet."""

    def __init__(self, target: IO[bytes], parquet: bool) -> None:
        self.target = target
        self._parquet: Any = None
        if parquet:
            import pyarrow as pa
            import pyarrow.parquet as pq

            kinds = {
                "string": pa.string(),
                "bool": pa.bool_(),
                "list<string>": pa.list_(pa.string()),
                "list<int32>": pa.list_(pa.int32()),
            }
            self._schema = pa.schema([(name, kinds[kind]) for name, kind in RECORD_COLUMNS])
            self._parquet = pq.ParquetWriter(target, self._schema)

    def write(self, rows: list[tuple[Any, ...]]) -> None:
        if self._parquet is None:
            names = [name for name, _ in RECORD_COLUMNS]
            self.target.write(
                b"".join(orjson.dumps(dict(zip(names, row, strict=True))) + b"\n" for row in rows)
            )
            return
        import pyarrow as pa

        columns = list(zip(*rows, strict=True)) if rows else [() for _ in RECORD_COLUMNS]
        arrays = [pa.array(c, type=f.type) for c, f in zip(columns, self._schema, strict=True)]
        self._parquet.write_batch(pa.RecordBatch.from_arrays(arrays, schema=self._schema))

    def close(self) -> None:
        if self._parquet is not None:
            self._parquet.close()


_Outcome = tuple[str, str, tuple[str, ...], tuple[int, ...]]
"""A case's old and new verdict, the criteria newly cited in its denial, and
the regions it falls in."""


class ImpactEvaluator:
    """Decides chunks of cases under both versions (one per worker process)."""

    def __init__(self, settings: ImpactSettings) -> None:
        from policykb.bridge.compile.compiled import CompiledPolicies
        from policykb.bridge.knowledge_base import KnowledgeBase

        self.settings = settings
        knowledge = KnowledgeBase(settings.kb_dirs)
        self.old = knowledge.evaluator(settings.old, settings.as_of)
        self.new = knowledge.evaluator(settings.new, settings.as_of)
        self.compiled = CompiledPolicies()
        self.region_facts = dict(settings.region_facts)
        self._cache: dict[bytes, _Outcome | CaseError] = {}

    def _decide(
        self, evaluator: Evaluator, document: Mapping[str, Any], side: str
    ) -> tuple[Evaluation, Case]:
        try:
            case = validate_case(document, evaluator.policy, "case")
        except CaseError as error:
            raise CaseError(f"{side} version: {error}") from None
        return self.compiled.evaluate(evaluator, case), case

    def _outcome(self, document: dict[str, Any]) -> _Outcome:
        # Both versions decide the case, whatever policy it names.
        facts = document.get("facts")
        if facts is not None and not isinstance(facts, dict):
            raise CaseError("'facts' must be an object")
        document = {"facts": facts or {}}
        before, old_case = self._decide(self.old, document, "old")
        after, new_case = self._decide(self.new, document, "new")
        newly: tuple[str, ...] = ()
        if after.verdict is Verdict.NOT_COVERED:
            was = _cited(before, self.old) if before.verdict is Verdict.NOT_COVERED else ()
            newly = tuple(c for c in _cited(after, self.new) if c not in was)
        regions: tuple[int, ...] = ()
        if self.settings.regions:
            # The case's known facts, defaults filled in, as the regions name them.
            known: dict[str, object] = dict(self.old.known_facts(old_case)[0])
            known.update(self.new.known_facts(new_case)[0])
            regions = tuple(
                index
                for index, region in enumerate(self.settings.regions)
                if region.holds(known, self.region_facts)
            )
        return before.verdict.value, after.verdict.value, newly, regions

    def _cached(self, document: dict[str, Any]) -> _Outcome:
        key = orjson.dumps(document)
        hit = self._cache.get(key)
        if hit is None:
            try:
                hit = self._outcome(document)
            except CaseError as error:
                hit = error
            if len(self._cache) >= 50_000:
                self._cache.clear()
            self._cache[key] = hit
        if isinstance(hit, CaseError):
            raise hit
        return hit

    def run(self, chunk: Chunk) -> ImpactPart:
        part = ImpactPart()
        limit = self.settings.examples
        for number, key, document, record_id in chunk_items(chunk, self._from_csv_row):
            part.records += 1
            try:
                if isinstance(document, PolicyKBError):
                    raise document
                old, new, newly, regions = self._cached(document)  # type: ignore[arg-type]
            except PolicyKBError as error:
                part.error_count += 1
                part.errors.append(RecordError(number, record_id, str(error)))
                if self.settings.records:
                    place = f"{key} {number}: {error}"
                    part.rows.append((record_id, None, None, None, None, None, place))
                continue
            assert record_id is not None
            if self.settings.records:
                numbers = [index + 1 for index in regions]
                part.rows.append((record_id, old, new, old != new, list(newly), numbers, None))
            part.transitions.setdefault((old, new), Examples()).add(record_id, limit)
            for criterion in newly:
                part.newly_cited.setdefault(criterion, Examples()).add(record_id, limit)
            for index in regions:
                stated = self.settings.regions[index].change == (old, new)
                found = part.regions if stated else part.not_as_stated
                found.setdefault(index, Examples()).add(record_id, limit)
        return part

    def _from_csv_row(self, row: dict[str, Any]) -> dict[str, Any]:
        """A CSV row typed by the facts of both versions."""
        import dataclasses

        both = {**self.old.policy.facts, **self.new.policy.facts}
        return csv_document(row, dataclasses.replace(self.new.policy, facts=both))


def _cited(evaluation: Evaluation, evaluator: Evaluator) -> tuple[str, ...]:
    criteria = evaluator.policy.criteria
    return tuple(
        dict.fromkeys(i.criterion for i in evaluation.explanation if i.criterion in criteria)
    )


# -- the report -------------------------------------------------------------------------


@dataclass(frozen=True)
class Side:
    """One of the two versions compared, as the report names it."""

    reference: str
    policy: str
    title: str
    version: PolicyVersion

    def to_dict(self) -> dict[str, Any]:
        return {
            "reference": self.reference,
            "policy": self.policy,
            "title": self.title,
            "version": self.version.to_dict(),
        }


@dataclass(frozen=True)
class ImpactReport:
    old: Side
    new: Side
    totals: ImpactPart
    changes: tuple[VerdictChange, ...]
    criteria_text: Mapping[str, str]
    regions_note: str | None = None
    regions_capped: bool = False

    @property
    def evaluated(self) -> int:
        return self.totals.records - self.totals.error_count

    def verdicts(self, side: int) -> dict[str, int]:
        counts: Counter[str] = Counter()
        for pair, found in self.totals.transitions.items():
            counts[pair[side]] += found.count
        return {verdict: counts[verdict] for verdict in VERDICTS}

    @property
    def changed(self) -> int:
        return sum(f.count for (a, b), f in self.totals.transitions.items() if a != b)

    def to_dict(self) -> dict[str, Any]:
        transitions = self.totals.transitions
        return {
            "old": self.old.to_dict(),
            "new": self.new.to_dict(),
            "records": self.totals.records,
            "evaluated": self.evaluated,
            "errors": self.totals.error_count,
            "changed": self.changed,
            "verdicts": {"old": self.verdicts(0), "new": self.verdicts(1)},
            "transitions": {
                a: {b: transitions[(a, b)].count if (a, b) in transitions else 0 for b in VERDICTS}
                for a in VERDICTS
            },
            "transition_examples": [
                {"old": a, "new": b, "cases": found.count, "examples": found.ids}
                for (a, b), found in sorted(transitions.items())
                if a != b
            ],
            "regions": [
                {
                    **change.to_dict(),
                    "cases": self.totals.regions.get(index, Examples()).count,
                    "examples": self.totals.regions.get(index, Examples()).ids,
                    "not_as_stated": self.totals.not_as_stated.get(index, Examples()).count,
                    "not_as_stated_examples": self.totals.not_as_stated.get(index, Examples()).ids,
                }
                for index, change in enumerate(self.changes)
            ],
            "regions_capped": self.regions_capped,
            "regions_note": self.regions_note,
            "newly_cited_in_denials": [
                {
                    "criterion": criterion,
                    "text": self.criteria_text.get(criterion, ""),
                    "cases": found.count,
                    "examples": found.ids,
                }
                for criterion, found in sorted(
                    self.totals.newly_cited.items(), key=lambda item: (-item[1].count, item[0])
                )
            ],
        }


def diff_regions(
    old: Evaluator, new: Evaluator, as_of: date | None = None
) -> tuple[DiffReport | None, str | None]:
    """diff's regions of the two versions, or why there are none to count
    (versions that compare dates with reference dates: as of `as_of`, with
    regions relative to them, so each case lies in them by its own dates)."""
    from policykb.bridge.analysis.diff import diff_policies, several_references

    several = several_references(old, new)
    if len(several) > 2:
        return None, (
            f"the policy compares dates with {len(several)} reference dates "
            f"({', '.join(several)}); diff's regions relate two at most"
        )
    if (old.references and not old.anchors) or (new.references and not new.anchors):
        if as_of is None:
            return None, (
                "the policy compares dates with a reference date: give --as-of to count "
                "the cases in diff's regions"
            )
        return diff_policies(old, new, as_of), None
    return diff_policies(old, new), None


def run_impact(
    source: IO[bytes],
    input_format: InputFormat,
    settings: ImpactSettings,
    *,
    regions: bool = True,
    jobs: int = 1,
    dask: str | None = None,
    on_part: Any = None,
) -> ImpactReport:
    """Decide every case of `source` under both versions and report the impact."""
    import dataclasses

    from policykb.bridge.batch.readers import read_chunks
    from policykb.bridge.batch.runner import evaluate_chunks
    from policykb.bridge.knowledge_base import KnowledgeBase

    knowledge = KnowledgeBase(settings.kb_dirs)
    old = knowledge.evaluator(settings.old, settings.as_of)
    new = knowledge.evaluator(settings.new, settings.as_of)
    report: DiffReport | None = None
    note: str | None = "not asked for (--no-regions)"
    if regions:
        report, note = diff_regions(old, new, settings.as_of)
    changes: Sequence[VerdictChange] = report.changes if report else ()
    if report is not None and report.policy is not None:
        settings = dataclasses.replace(
            settings,
            regions=tuple(
                Region(tuple(change.region.items()), (change.old.value, change.new.value))
                for change in changes
            ),
            region_facts=tuple(report.policy.facts.items()),
        )
    totals = ImpactPart()
    chunks: Iterator[ImpactPart] = evaluate_chunks(
        read_chunks(source, input_format), settings, jobs, dask
    )
    for part in chunks:
        totals.merge(part, settings.examples)
        if on_part is not None:
            on_part(part)
    texts = {**{c: x.text for c, x in old.policy.criteria.items()}}
    texts.update({c: x.text for c, x in new.policy.criteria.items()})
    return ImpactReport(
        old=Side(settings.old, old.policy.name, old.policy.title, old.policy.version),
        new=Side(settings.new, new.policy.name, new.policy.title, new.policy.version),
        totals=totals,
        changes=tuple(changes),
        criteria_text=texts,
        regions_note=note if report is None else None,
        regions_capped=bool(report and report.capped),
    )
