"""One mutant: a single change to one file, with what it changed."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Mutant:
    """A single change to `file` (relative to the repository)."""

    harness: str  # "kb" or "python"
    file: str
    line: int
    operator: str
    original: str  # the statement (KB) or the source line (Python), as written
    mutated: str  # what replaces it; "" when it is deleted
    content: bytes  # the whole mutated file
    column: int = 0

    @property
    def key(self) -> tuple[str, str, str, str, str]:
        """What identifies the mutant across edits elsewhere in its file: the
        statement or line as written and what the mutant makes of it."""
        return (self.harness, self.file, self.operator, self.original, self.mutated)

    def describe(self) -> str:
        change = self.mutated if self.mutated else "(deleted)"
        return f"{self.file}:{self.line}: {self.operator}: {self.original}  ->  {change}"
