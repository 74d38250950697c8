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
    original: str  # the statement (KB) or the source line (Python), as shown
    mutated: str  # what replaces it; "" when it is deleted
    content: bytes  # the whole mutated file
    column: int = 0
    occurrence: int = 0  # among mutants of this file with the same change
    # Python: where the change is, in terms a reformat keeps (anchor.py); the
    # KB harness's statements are already written in one normal form.
    scope: str = ""
    statement: str = ""
    mutated_statement: str = ""

    @property
    def change(self) -> tuple[str, str, str, str, str, str]:
        """What the mutant changes, as text a reformat of its file keeps: for
        KB mutants the statement and its mutant (spaces collapsed, as clingo
        prints it), for Python mutants the enclosing function's qualified name
        and the statement and its mutant as unparsed ASTs."""
        if self.harness == "python":
            before, after = self.statement, self.mutated_statement
        else:
            before, after = self.original, self.mutated
        return (self.harness, self.file, self.scope, self.operator, before, after)

    @property
    def key(self) -> tuple[str, str, str, str, str, str, int]:
        """What identifies the mutant across edits elsewhere in its file and
        across reformatting: its change, and which of several identical
        changes it is (in file order)."""
        return (*self.change, self.occurrence)

    def describe(self) -> str:
        change = self.mutated if self.mutated else "(deleted)"
        return f"{self.file}:{self.line}: {self.operator}: {self.original}  ->  {change}"


def numbered(mutants: Iterable[Mutant]) -> list[Mutant]:
    """The mutants with their occurrence among identical changes, in file order."""
    seen: Counter[tuple[str, str, str, str, str, str]] = Counter()
    result = []
    for mutant in mutants:
        result.append(replace(mutant, occurrence=seen[mutant.change]))
        seen[mutant.change] += 1
    return result
