"""One mutant: a single change to one file, with what it changed."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, replace


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
    occurrence: int = 0  # among mutants of this file with the same change to the same text

    @property
    def change(self) -> tuple[str, str, str, str, str]:
        return (self.harness, self.file, self.operator, self.original, self.mutated)

    @property
    def key(self) -> tuple[str, str, str, str, str, int]:
        """What identifies the mutant across edits elsewhere in its file: the
        statement or line as written, what the mutant makes of it, and which
        of several identical lines it is."""
        return (*self.change, self.occurrence)

    def describe(self) -> str:
        change = self.mutated if self.mutated else "(deleted)"
        return f"{self.file}:{self.line}: {self.operator}: {self.original}  ->  {change}"


def numbered(mutants: Iterable[Mutant]) -> list[Mutant]:
    """The mutants with their occurrence among identical changes, in file order."""
    seen: Counter[tuple[str, str, str, str, str]] = Counter()
    result = []
    for mutant in mutants:
        result.append(replace(mutant, occurrence=seen[mutant.change]))
        seen[mutant.change] += 1
    return result
