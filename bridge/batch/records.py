"""Input records as case documents: JSONL lines parsed fast, JSON and CSV
records checked, each with its number, the word that locates it (line or
record) and its id. A record that cannot become a document becomes its error."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import orjson

from policykb.bridge.batch.readers import Chunk, LineChunk, Record, too_long
from policykb.bridge.loading.case import kind_of
from policykb.bridge.model.errors import CaseError, LimitError, PolicyKBError

if TYPE_CHECKING:
    from policykb.bridge.batch.arrow import ArrowChunk

Document = dict[str, Any]
Item = tuple[int, str, "Document | Seen | PolicyKBError", str | None]
"""An input record: its number, "line" or "record", its document (or why it
has none; Seen only when line_items is given what was seen) and its id (None
when it has none yet)."""


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
        from policykb.bridge.loading.case import parse_json

        parse_json(line.decode("utf-8"), "the record")  # raises on a repeated key
    return document


@dataclass(frozen=True)
class Seen:
    """A JSONL record whose bytes after its id equal those of a record
    decided before: it is not parsed again (see line_items)."""

    rest: bytes


PLAIN_ID = re.compile(rb'\{"id":"([^"\\\x00-\x1f]*)"(,.*)', re.DOTALL)
"""A line that starts with a plain id (no escapes, no control characters):
its id's bytes are its text, and the rest decides everything else."""


def line_items(
    chunk: LineChunk,
    seen: Mapping[bytes, object] | None = None,
    rests: dict[int, bytes] | None = None,
) -> Iterator[Item]:
    """The JSONL lines of a chunk (blank lines are no records).

    A line that starts with a plain id ({"id":"...",) is identified by the
    bytes after its id: when they are in `seen` (what was decided for such
    bytes before), the line is not parsed and its document is Seen(rest);
    otherwise its rest is put in `rests` under its number, for the caller to
    remember what it decided. Equal bytes parse to equal documents, so this
    changes nothing but the time.
    """
    number = chunk.first - 1
    lines = chunk.lines.split(b"\n")
    if chunk.lines.endswith(b"\n"):
        lines.pop()
    for line in lines:
        number += 1
        if number in chunk.oversized:
            too_big = CaseError(f"the line is {too_long(chunk.oversized[number])}")
            yield number, "line", too_big, None
            continue
        if not line.strip():
            continue
        if seen is not None:
            plain = PLAIN_ID.match(line)
            if plain is not None:
                rest = plain[2]
                try:
                    record_id = plain[1].decode()
                except UnicodeDecodeError:
                    pass  # the parser names the error
                else:
                    if rest in seen:
                        yield number, "line", Seen(rest), record_id
                        continue
                    if rests is not None:
                        rests[number] = rest
        try:
            document = parse_record(line)
            if type(document) is not dict:
                raise CaseError("a case must be a JSON object")
            raw_id = document.pop("id", None)
            if raw_id is not None and type(raw_id) is not str:
                raise CaseError(f"'id' must be a string, not {kind_of(raw_id)}")
        except PolicyKBError as error:
            yield number, "line", error, None
            continue
        yield number, "line", document, raw_id if raw_id is not None else f"line-{number}"


def record_items(
    chunk: list[Record], from_csv_row: Callable[[Document], Document]
) -> Iterator[Item]:
    """Records of a JSON array, or CSV rows (typed by `from_csv_row`)."""
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
                record_id = raw_id  # named in the error record even if the row is bad
            if record.is_csv_row:
                document = from_csv_row(document)
            if raw_id is not None and not isinstance(raw_id, str):
                raise CaseError(f"'id' must be a string, not {kind_of(raw_id)}")
        except PolicyKBError as error:
            yield record.number, key, error, record_id
            continue
        yield record.number, key, document, record_id or f"{key}-{record.number}"


def arrow_items(chunk: ArrowChunk) -> Iterator[Item]:
    """The rows of an Arrow record batch (a Parquet row group's part)."""
    from policykb.bridge.batch.arrow import row_documents

    for number, (document, record_id) in enumerate(row_documents(chunk.batch), chunk.first):
        if isinstance(document, CaseError):
            yield number, "row", document, record_id
        else:
            yield number, "row", document, record_id or f"row-{number}"


def chunk_items(
    chunk: Chunk,
    from_csv_row: Callable[[Document], Document],
    seen: Mapping[bytes, object] | None = None,
    rests: dict[int, bytes] | None = None,
) -> Iterator[Item]:
    """The records of any chunk (for JSONL lines, see line_items)."""
    if isinstance(chunk, LineChunk):
        return line_items(chunk, seen, rests)
    if isinstance(chunk, list):
        return record_items(chunk, from_csv_row)
    return arrow_items(chunk)
