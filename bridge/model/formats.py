"""Every format a command reads or writes, in one place."""

from __future__ import annotations

from enum import StrEnum


class InputFormat(StrEnum):
    """The records `policykb batch` reads."""

    JSONL = "jsonl"
    CSV = "csv"
    JSON = "json"
    PARQUET = "parquet"


class RecordFormat(StrEnum):
    """The records `policykb batch` writes."""

    JSONL = "jsonl"
    CSV = "csv"
    PARQUET = "parquet"


class OutputFormat(StrEnum):
    """How `evaluate`, `why`, `check`, `diff` and the listings show a result."""

    TEXT = "text"
    JSON = "json"
    MARKDOWN = "markdown"
    DOT = "dot"


class NoticeFormat(StrEnum):
    """How `policykb notice` writes a notice."""

    MARKDOWN = "markdown"
    TEXT = "text"


class ImpactFormat(StrEnum):
    """How `policykb impact` writes its report."""

    MARKDOWN = "markdown"
    JSON = "json"
    HTML = "html"
