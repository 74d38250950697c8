"""Arrow record batches in and out: Parquet read by row group and written
batch by batch, and the batch evaluator as a function over record batches.

An input table has one column per fact (booleans, strings, numbers, dates,
lists of strings), and optionally `id` and `policy` columns; a null cell is
an unknown fact. `date_of_service` may be a column of any policy's table: it
chooses the version in force. Output rows follow OUTPUT_COLUMNS.

pyarrow is imported only when Arrow data is read or written.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import IO, TYPE_CHECKING, Any

from policykb.bridge.model.errors import CaseError

if TYPE_CHECKING:
    import pyarrow as pa

ROWS_PER_CHUNK = 2000

OUTPUT_COLUMNS = (
    ("id", "string"),
    ("policy", "string"),
    ("verdict", "string"),
    ("explanation", "list<string>"),
    ("cited", "list<string>"),
    ("missing", "list<string>"),
    ("version_effective", "date32"),
    ("version_hash", "string"),
    ("error", "string"),
)
"""One output row per input row: `explanation` as "fact=value" items,
`cited` the criteria the explanation cites, `missing` the facts to ask for;
an input row that fails has only its id and `error`."""


def output_schema() -> pa.Schema:
    import pyarrow as pa

    types = {
        "string": pa.string(),
        "list<string>": pa.list_(pa.string()),
        "date32": pa.date32(),
    }
    return pa.schema([(name, types[kind]) for name, kind in OUTPUT_COLUMNS])


@dataclass(frozen=True)
class ArrowChunk:
    """Consecutive input rows as one record batch; `first` is the first row's number."""

    first: int
    batch: pa.RecordBatch


# -- reading -------------------------------------------------------------------------


def read_parquet_chunks(stream: IO[bytes], rows: int = ROWS_PER_CHUNK) -> Iterator[ArrowChunk]:
    """A Parquet file in chunks of at most `rows` rows, read row group by row
    group: memory holds one row group's columns at a time, not the file."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        if not stream.seekable():
            raise CaseError("Parquet input must be a file, not a pipe (it is read from its end)")
        parquet = pq.ParquetFile(stream)
    except (pa.ArrowInvalid, OSError) as error:
        raise CaseError(f"not a Parquet file: {_first_line(error)}") from None
    first = 1
    try:
        for batch in parquet.iter_batches(batch_size=rows):
            yield ArrowChunk(first, batch)
            first += batch.num_rows
    except (pa.ArrowInvalid, OSError) as error:
        raise CaseError(
            f"damaged Parquet file after row {first - 1}: {_first_line(error)}"
        ) from None


def _first_line(error: Exception) -> str:
    return str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__


def _cell(value: object) -> object:
    """An Arrow cell as the raw value of a case's fact."""
    if isinstance(value, datetime):
        return value.isoformat()  # refused by a date fact: a time is not a day
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    return value


def row_documents(batch: pa.RecordBatch) -> Iterator[tuple[dict[str, Any] | CaseError, str | None]]:
    """Each row of a batch as a case document and its id (None when it has none)."""
    for row in batch.to_pylist():
        raw_id = row.pop("id", None)
        if raw_id is not None and not isinstance(raw_id, str):
            yield CaseError(f"'id' must be a string, not {type(raw_id).__name__}"), None
            continue
        document: dict[str, Any] = {}
        policy = row.pop("policy", None)
        if policy is not None:
            document["policy"] = policy
        document["facts"] = {name: _cell(v) for name, v in row.items() if v is not None}
        yield document, raw_id


# -- the evaluator over record batches -------------------------------------------------


def evaluate_batches(
    batches: Iterable[pa.RecordBatch],
    *,
    policy: str | None = None,
    kb_dirs: Iterable[str] = (),
    explain: bool = True,
    as_of: date | None = None,
) -> Iterator[pa.RecordBatch]:
    """Evaluate Arrow record batches of cases: one output batch (OUTPUT_COLUMNS)
    per input batch, row for row. The shape Spark's `mapInArrow` and Dask's
    `map_partitions` call; the policies are compiled once per process.

    A row that fails (unknown fact, wrong type) gets an output row with its
    error; the other rows are evaluated. `policy` decides every row (else each
    row's `policy` column, else the default policy)."""
    from policykb.bridge.batch.runner import worker_for
    from policykb.bridge.batch.settings import BatchSettings
    from policykb.bridge.model.formats import RecordFormat

    settings = BatchSettings(
        kb_dirs=tuple(kb_dirs),
        explain=explain,
        output=RecordFormat.PARQUET,
        policy=policy,
        as_of=as_of,
    )
    evaluator = worker_for(settings)
    first = 1
    for batch in batches:
        result = evaluator.run(ArrowChunk(first, batch))
        first += batch.num_rows
        yield result.output


def record_batch(rows: list[tuple[Any, ...]]) -> pa.RecordBatch:
    """Output rows (tuples in OUTPUT_COLUMNS order) as one record batch."""
    import pyarrow as pa

    columns = list(zip(*rows, strict=True)) if rows else [() for _ in OUTPUT_COLUMNS]
    schema = output_schema()
    return pa.RecordBatch.from_arrays(
        [pa.array(column, type=field.type) for column, field in zip(columns, schema, strict=True)],
        schema=schema,
    )
