"""Where a Python mutant is, in terms that survive reformatting.

A Python mutant is keyed (in equivalent.toml and in a run's saved results) by
the statement it changes rather than by the source line as written, so that
`ruff format`, a reindent or a comment leaves every key as it was:

- scope: the qualified name of the function or class the statement is in
  (`Evaluator.explain`; a function nested in another reads `outer.inner`),
  "" at module level;
- statement: the innermost statement holding the change, as `ast.unparse`
  writes it (so spacing, line breaks, quotes, redundant parentheses and
  comments do not count), a compound statement by its header alone (its
  bodies written `...`, decorators kept);
- mutated: the statement at the same place in the mutated module, written
  the same way.

Invariant: two sources with the same AST give every mutant the same anchor.
"""

from __future__ import annotations

import ast
import copy
import functools
from dataclasses import dataclass

BODIES = ("body", "orelse", "finalbody", "handlers", "cases")
"""The fields in which a compound statement holds other statements."""

Step = tuple[str, int]


@dataclass(frozen=True)
class Anchor:
    scope: str
    statement: str
    mutated: str


def _start(node: ast.AST) -> tuple[int, int]:
    decorators = getattr(node, "decorator_list", [])
    starts = [(d.lineno, d.col_offset) for d in decorators]
    starts.append((node.lineno, node.col_offset))  # type: ignore[attr-defined]
    return min(starts)


def _end(node: ast.AST) -> tuple[int, int]:
    return (node.end_lineno or 0, node.end_col_offset or 0)  # type: ignore[attr-defined]


def _children(node: ast.AST) -> list[tuple[Step, ast.AST]]:
    found: list[tuple[Step, ast.AST]] = []
    for field in BODIES:
        for index, child in enumerate(getattr(node, field, None) or []):
            if isinstance(child, ast.stmt | ast.excepthandler | ast.match_case):
                found.append(((field, index), child))
    return found


def _path(tree: ast.Module, position: tuple[int, int]) -> list[Step]:
    """The steps from the module to the innermost statement holding `position`
    (line, byte column)."""
    line = position[0]
    path: list[Step] = []
    node: ast.AST = tree
    while True:
        children = [c for c in _children(node) if not isinstance(c[1], ast.match_case)]
        inside = [c for c in children if _start(c[1]) <= position <= _end(c[1])]
        # A decorator's `@` stands before its expression's column: a change
        # there is within the line span of its function all the same.
        inside = inside or [c for c in children if _start(c[1])[0] <= line <= _end(c[1])[0]]
        if not inside:
            return path
        step, node = inside[0]
        path.append(step)


def _follow(tree: ast.Module, path: list[Step]) -> list[ast.AST]:
    """The nodes along `path` (IndexError or AttributeError when it leads nowhere)."""
    nodes: list[ast.AST] = []
    node: ast.AST = tree
    for field, index in path:
        node = getattr(node, field)[index]
        nodes.append(node)
    return nodes


def _header(node: ast.AST) -> str:
    """The statement as unparsed, its nested bodies written `...`."""
    shallow = copy.copy(node)
    for field in BODIES:
        if getattr(shallow, field, None):
            filler: list[ast.AST] = [ast.Expr(ast.Constant(...))] if field == "body" else []
            setattr(shallow, field, filler)
    return ast.unparse(shallow)


def _scope(nodes: list[ast.AST]) -> str:
    names = [
        n.name
        for n in nodes[:-1]
        if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef)
    ]
    return ".".join(names)


@functools.lru_cache(maxsize=4)
def _parsed(source: str) -> ast.Module:
    """A module's tree, parsed once for all its mutants (never modified here)."""
    return ast.parse(source)


def byte_column(source: str, line: int, column: int) -> int:
    """A column counted in characters (cosmic-ray's) as ast counts it, in UTF-8 bytes."""
    lines = source.splitlines()
    text = lines[line - 1] if 0 < line <= len(lines) else ""
    return len(text[:column].encode("utf-8"))


def anchor(source: str, mutated: str, line: int, column: int) -> Anchor:
    """The anchor of the change at (line, column) (1-based line, character
    column) that turns `source` into `mutated`.

    ValueError when either does not parse or the mutant changed the
    statement structure above the change (no cosmic-ray operator does)."""
    try:
        tree = _parsed(source)
        changed = ast.parse(mutated)
    except SyntaxError as error:
        raise ValueError(f"not Python: {error}") from None
    path = _path(tree, (line, byte_column(source, line, column)))
    if not path:
        raise ValueError(f"no statement holds line {line}, column {column}")
    try:
        before = _follow(tree, path)
        after = _follow(changed, path)
    except (IndexError, AttributeError):
        raise ValueError(f"the mutant has no statement where line {line} was") from None
    return Anchor(_scope(before), _header(before[-1]), _header(after[-1]))
