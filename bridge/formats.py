"""The file formats `policykb batch` reads and writes."""

from __future__ import annotations

from enum import StrEnum


class InputFormat(StrEnum):
    JSONL = "jsonl"
    CSV = "csv"
    JSON = "json"


class OutputKind(StrEnum):
    JSONL = "jsonl"
    CSV = "csv"
