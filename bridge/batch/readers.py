"""Batch input readers: JSONL, CSV and JSON arrays, streamed, every record accounted for.

Each reader yields one item per physical input record, in order: the record,
or an error in its place (a malformed CSV row, a row with too many or too few
cells, an oversized line or field). Only damage after which no later record
can be found again (a CSV quote that is never closed, a JSON array that is
not well formed) stops the input, with a CaseError naming the line or item:
never a record silently lost.

Limits: a JSONL line or a CSV record may hold MAX_RECORD_BYTES; nesting and
number size are bounded by the JSON parsers (orjson: 1,024 levels, 64-bit
integers; the JSON-array reader: MAX_DEPTH levels).
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, TypeAlias

from policykb.bridge.model.errors import CaseError, LimitError
from policykb.bridge.model.formats import InputFormat

if TYPE_CHECKING:
    from policykb.bridge.batch.arrow import ArrowChunk

MAX_RECORD_BYTES = 1 << 20
MAX_DEPTH = 100
BOM = b"\xef\xbb\xbf"


@dataclass(frozen=True)
class Record:
    """One parsed input record (a CSV row or a JSON-array item) and its place."""

    number: int
    data: dict[str, Any] | Exception
    is_csv_row: bool = False


@dataclass(frozen=True)
class LineChunk:
    """Consecutive JSONL lines, unparsed: the first line's number and the bytes.

    `oversized` maps the number of each line that was longer than
    MAX_RECORD_BYTES (and is left out of `lines` as an empty line) to its size.
    """

    first: int
    lines: bytes
    oversized: dict[int, int] = field(default_factory=dict)


Chunk: TypeAlias = "LineChunk | list[Record] | ArrowChunk"
"""JSONL lines, parsed CSV or JSON-array records, or Arrow rows (Parquet)."""


def too_long(size: int) -> str:
    return f"longer than the limit of {MAX_RECORD_BYTES:,} bytes ({size:,} bytes)"


# -- JSONL ---------------------------------------------------------------------------


def iter_jsonl_chunks(stream: IO[bytes], size: int = 1 << 20) -> Iterator[LineChunk]:
    """Blocks of whole lines, about `size` bytes each, numbered by their first line.

    A line longer than MAX_RECORD_BYTES is never held in memory: it is counted,
    skipped, and reported by its number.
    """
    first = 1  # the number of the first line in `pending`
    pending = b""
    oversized: dict[int, int] = {}
    skipping = 0  # bytes of an oversized line read so far (0: not skipping)
    start = True
    while True:
        block = stream.read(size)
        if start:
            block = block.removeprefix(BOM)
            start = False
        if not block:
            if skipping:
                oversized[first + pending.count(b"\n")] = skipping
                pending += b"\n"
            if pending or oversized:
                yield LineChunk(first, pending, oversized)
            return
        if skipping:
            cut = block.find(b"\n")
            if cut < 0:
                skipping += len(block)
                continue
            oversized[first + pending.count(b"\n")] = skipping + cut
            pending += b"\n"  # the oversized line's place, empty
            block = block[cut + 1 :]
            skipping = 0
        pending += block
        cut = pending.rfind(b"\n") + 1
        tail = pending[cut:]
        if len(tail) > MAX_RECORD_BYTES:
            pending, skipping = pending[:cut], len(tail)
            continue
        if cut:
            chunk, pending = pending[:cut], tail
            yield LineChunk(first, chunk, oversized)
            first += chunk.count(b"\n")
            oversized = {}


# -- JSON arrays ---------------------------------------------------------------------


class _ItemBuilder:
    """Builds one JSON value from ijson events, refusing repeated keys and deep nesting."""

    def __init__(self) -> None:
        self.stack: list[Any] = []
        self.keys: list[str | None] = []
        self.value: Any = None
        self.done = False

    def _add(self, value: Any) -> None:
        if not self.stack:
            self.value, self.done = value, True
            return
        top = self.stack[-1]
        if isinstance(top, list):
            top.append(value)
            return
        key = self.keys[-1]
        assert key is not None
        top[key] = value

    def event(self, kind: str, value: Any) -> None:
        if kind in ("start_map", "start_array"):
            if len(self.stack) >= MAX_DEPTH:
                raise LimitError(f"nests deeper than {MAX_DEPTH} levels")
            self.stack.append({} if kind == "start_map" else [])
            self.keys.append(None)
        elif kind in ("end_map", "end_array"):
            self.keys.pop()
            self._add(self.stack.pop())
        elif kind == "map_key":
            if value in self.stack[-1]:
                raise CaseError(f"duplicate key {value!r}")
            self.keys[-1] = value
        else:
            self._add(value)


def iter_json_array(stream: IO[bytes]) -> Iterator[Record]:
    """The items of a top-level JSON array, one at a time, without loading the file.

    ijson's incremental parser checks the whole document: commas between
    items, the closing bracket, and nothing but white space after it.
    """
    import ijson

    events = ijson.parse(_WithoutBom(stream), use_float=True)
    number = 0
    builder: _ItemBuilder | None = None
    try:
        for prefix, kind, value in events:
            if prefix == "" and kind == "start_array":
                continue
            if prefix == "" and kind == "end_array":
                continue
            if prefix == "":
                raise CaseError("the input is not a JSON array (it does not start with '[')")
            if builder is None:
                number += 1
                builder = _ItemBuilder()
            try:
                builder.event(kind, value)
            except (CaseError, LimitError) as error:
                # The item is refused; the parser still reads past it.
                yield Record(number, CaseError(str(error)))
                builder = _Skipping(builder, opened=kind in ("start_map", "start_array"))
                continue
            if builder.done:
                if not isinstance(builder, _Skipping):
                    yield Record(number, builder.value)
                builder = None
    except ijson.common.IncompleteJSONError as error:
        detail = " ".join(str(error).split()).split("(right here)")[0].strip()[:120]
        if "premature EOF" in detail or not detail:
            detail = "the input ends before the array is closed with ']' (not closed)"
        where = f"after item {number}" if builder is None else f"in item {number}"
        raise CaseError(f"malformed JSON array {where}: {detail}") from None
    except ijson.common.JSONError as error:
        raise CaseError(f"malformed JSON array near item {number}: {error}") from None


class _Skipping(_ItemBuilder):
    """Follows the events of a refused item to its end, building nothing."""

    def __init__(self, refused: _ItemBuilder, opened: bool) -> None:
        super().__init__()
        self.depth = len(refused.stack) + (1 if opened else 0)
        self.done = self.depth == 0

    def event(self, kind: str, value: Any) -> None:
        if kind in ("start_map", "start_array"):
            self.depth += 1
        elif kind in ("end_map", "end_array"):
            self.depth -= 1
        self.done = self.depth == 0


class _WithoutBom:
    """A binary stream with a leading UTF-8 byte-order mark dropped."""

    def __init__(self, stream: IO[bytes]) -> None:
        self.stream = stream
        self.first = True

    def read(self, size: int = -1) -> bytes:
        data = self.stream.read(size)
        if self.first:
            self.first = False
            if data.startswith(BOM):
                data = data[len(BOM) :] or self.stream.read(size)
        return data


# -- CSV -------------------------------------------------------------------------------


def _csv_records(text: IO[str]) -> Iterator[tuple[int, str | None, int]]:
    """(first line, record text, size) for each CSV record; the text is None when
    the record is longer than MAX_RECORD_BYTES. A record ends at a line break
    outside quotes (RFC 4180: quotes toggle, a doubled quote toggles twice)."""
    line_number = 0
    first = 0
    parts: list[str] = []
    size = 0
    quoted = False
    for line in text:
        line_number += 1
        if not parts and size == 0:
            first = line_number
        quoted ^= line.count('"') % 2 == 1
        size += len(line)
        if size <= MAX_RECORD_BYTES:
            parts.append(line)
        else:
            parts.clear()
        if not quoted:
            yield first, ("".join(parts) if size <= MAX_RECORD_BYTES else None), size
            parts, size = [], 0
    if quoted:
        raise CaseError(
            f"line {first}: a quoted CSV field is never closed (lines {first}-{line_number} "
            "would be one record); the input stops here"
        )


def iter_csv(stream: IO[bytes]) -> Iterator[Record]:
    """CSV rows as records keyed by the header, each at its first line.

    A row that is malformed, has more or fewer cells than the header, or is
    larger than MAX_RECORD_BYTES gets an error record in its place.
    """
    text = io.TextIOWrapper(stream, encoding="utf-8-sig", newline="")
    records = _csv_records(text)
    header: list[str] | None = None
    for line, record, size in records:
        if record is not None and not record.strip():
            continue  # a blank line is no record
        if header is None:
            if record is None:
                raise CaseError(f"line {line}: the CSV header is {too_long(size)}")
            header = _parse_row(record, line)
            if "id" not in header:
                raise CaseError("the CSV header has no 'id' column")
            repeated = sorted({c for c in header if header.count(c) > 1})
            if repeated:
                raise CaseError(f"the CSV header repeats column(s) {', '.join(repeated)}")
            continue
        if record is None:
            yield Record(line, LimitError(f"the row is {too_long(size)}"), is_csv_row=True)
            continue
        try:
            cells = _parse_row(record, line)
        except CaseError as error:
            yield Record(line, error, is_csv_row=True)
            continue
        if len(cells) != len(header):
            problem = CaseError(
                f"the row has {len(cells)} cells, the header has {len(header)} columns"
            )
            yield Record(line, problem, is_csv_row=True)
            continue
        yield Record(line, dict(zip(header, cells, strict=True)), is_csv_row=True)


def _parse_row(record: str, line: int) -> list[str]:
    try:
        rows = list(csv.reader([record], strict=True))
    except csv.Error as error:
        raise CaseError(f"malformed CSV row: {error}") from None
    if len(rows) != 1:
        raise CaseError("malformed CSV row")
    return rows[0]


csv.field_size_limit(MAX_RECORD_BYTES + 1)


# -- choosing ----------------------------------------------------------------------------


def read_chunks(stream: IO[bytes], kind: InputFormat, size: int = 2000) -> Iterator[Chunk]:
    """The input in chunks: raw line blocks for JSONL, record batches for
    Parquet, parsed records otherwise."""
    if kind is InputFormat.JSONL:
        yield from iter_jsonl_chunks(stream)
        return
    if kind is InputFormat.PARQUET:
        from policykb.bridge.batch.arrow import read_parquet_chunks

        yield from read_parquet_chunks(stream, size)
        return
    records = iter_csv(stream) if kind is InputFormat.CSV else iter_json_array(stream)
    chunk: list[Record] = []
    try:
        for record in records:
            chunk.append(record)
            if len(chunk) >= size:
                yield chunk
                chunk = []
    except UnicodeDecodeError as error:
        # CSV and JSON arrays are decoded as a whole stream; JSONL lines fail one by one.
        if chunk:
            yield chunk
        raise CaseError(f"the input is not UTF-8 text (byte {error.start} of a block)") from None
    except CaseError:
        if chunk:
            yield chunk  # the records before the damage are still written
        raise
    if chunk:
        yield chunk


def guess_format(path: str) -> InputFormat:
    suffix = Path(path).suffix.lower()
    if suffix == ".csv":
        return InputFormat.CSV
    if suffix == ".json":
        return InputFormat.JSON
    if suffix in (".parquet", ".pq"):
        return InputFormat.PARQUET
    return InputFormat.JSONL
