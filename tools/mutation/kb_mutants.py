"""KB mutants: single changes to the rules of kb/core and the bundled policies.

Each mutant is generated from the statement's clingo AST and written back in
place of the statement's own text (comments and every other statement stay as
written). The operators model the slips an encoder makes:

- drop-literal: a condition left out of a rule body;
- negate-literal: `not` added to or removed from a body atom;
- swap-holds-fails: holds(F) read as fails(F), or the reverse;
- flip-comparison: a comparison turned into its opposite;
- delete-rule: one rule of a predicate defined by several (one way of
  meeting it forgotten);
- change-role: a criterion given the neighbouring role;
- delete-declaration: a default, citation, part_of, heading or clause lost.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from pathlib import Path

from clingo import Function, ast

from tools.mutation.mutant import Mutant

SWAPPED = {"holds": "fails", "fails": "holds"}
NEIGHBOUR_ROLE = {
    "indication": "exclusion",
    "exclusion": "indication",
    "prerequisite": "requirement",
    "requirement": "prerequisite",
}
DECLARATIONS = {"default", "cites", "part_of", "under", "clause"}
OPPOSITE = {
    ast.ComparisonOperator.Equal: ast.ComparisonOperator.NotEqual,
    ast.ComparisonOperator.NotEqual: ast.ComparisonOperator.Equal,
    ast.ComparisonOperator.LessThan: ast.ComparisonOperator.GreaterEqual,
    ast.ComparisonOperator.GreaterEqual: ast.ComparisonOperator.LessThan,
    ast.ComparisonOperator.GreaterThan: ast.ComparisonOperator.LessEqual,
    ast.ComparisonOperator.LessEqual: ast.ComparisonOperator.GreaterThan,
}


def kb_files(root: Path) -> list[Path]:
    """The program files of kb/core (but show.lp), the meta-programs of kb/meta
    and the files of every bundled policy."""
    core = sorted(p for p in (root / "kb" / "core").glob("*.lp") if p.name != "show.lp")
    meta = sorted((root / "kb" / "meta").glob("*.lp"))
    policies = sorted((root / "kb" / "policies").glob("*/*.lp"))
    return core + meta + policies


def _statements(path: Path) -> list[ast.AST]:
    found: list[ast.AST] = []

    def keep(statement: ast.AST) -> None:
        if statement.location.begin.filename == str(path):
            found.append(statement)

    ast.parse_files([str(path)], keep)
    return found


def _head_atom(rule: ast.AST) -> ast.AST | None:
    head = rule.head
    if head.ast_type == ast.ASTType.Literal and head.atom.ast_type == ast.ASTType.SymbolicAtom:
        symbol = head.atom.symbol
        if symbol.ast_type == ast.ASTType.Function:
            return symbol
    return None


def _definition(rule: ast.AST) -> tuple[str, int, str] | None:
    """The head predicate, and its first argument when that is a constant."""
    atom = _head_atom(rule)
    if atom is None:
        return None
    first = atom.arguments[0] if atom.arguments else None
    constant = str(first) if first is not None and first.ast_type != ast.ASTType.Variable else ""
    return atom.name, len(atom.arguments), constant


def _body_atom(literal: ast.AST) -> ast.AST | None:
    if (
        literal.ast_type == ast.ASTType.Literal
        and literal.atom.ast_type == ast.ASTType.SymbolicAtom
    ):
        return literal.atom
    return None


def _rule_variants(rule: ast.AST, several: bool) -> Iterator[tuple[str, str]]:
    """(operator, mutated statement text) for one rule."""
    body = list(rule.body)
    head = _head_atom(rule)
    if not body:
        if head is not None and head.name == "role" and len(head.arguments) == 2:
            role = str(head.arguments[1])
            if role in NEIGHBOUR_ROLE:
                written = head.arguments[1]
                other = ast.SymbolicTerm(written.location, Function(NEIGHBOUR_ROLE[role]))
                atom = head.update(arguments=[head.arguments[0], other])
                new_head = rule.head.update(atom=rule.head.atom.update(symbol=atom))
                yield "change-role", str(rule.update(head=new_head))
        if head is not None and head.name in DECLARATIONS:
            yield "delete-declaration", ""
        return
    if several:
        yield "delete-rule", ""
    for index, literal in enumerate(body):
        rest = body[:index] + body[index + 1 :]
        yield "drop-literal", str(rule.update(body=rest))
        atom = _body_atom(literal)
        if atom is not None:
            sign = ast.Sign.NoSign if literal.sign == ast.Sign.Negation else ast.Sign.Negation
            yield (
                "negate-literal",
                str(
                    rule.update(body=[*body[:index], literal.update(sign=sign), *body[index + 1 :]])
                ),
            )
            symbol = atom.symbol
            if symbol.ast_type == ast.ASTType.Function and symbol.name in SWAPPED:
                swapped = literal.update(
                    atom=atom.update(symbol=symbol.update(name=SWAPPED[symbol.name]))
                )
                yield (
                    "swap-holds-fails",
                    str(rule.update(body=[*body[:index], swapped, *body[index + 1 :]])),
                )
        if (
            literal.ast_type == ast.ASTType.Literal
            and literal.atom.ast_type == ast.ASTType.Comparison
        ):
            guards = list(literal.atom.guards)
            for position, guard in enumerate(guards):
                if guard.comparison in OPPOSITE:
                    flipped = guard.update(comparison=OPPOSITE[guard.comparison])
                    atom = literal.atom.update(
                        guards=[*guards[:position], flipped, *guards[position + 1 :]]
                    )
                    yield (
                        "flip-comparison",
                        str(
                            rule.update(
                                body=[*body[:index], literal.update(atom=atom), *body[index + 1 :]]
                            )
                        ),
                    )


def _offset(lines: list[bytes], line: int, column: int) -> int:
    return sum(len(text) for text in lines[: line - 1]) + column - 1


def mutants_of(path: Path, root: Path) -> Iterator[Mutant]:
    """Every KB mutant of one file."""
    source = path.read_bytes()
    lines = source.splitlines(keepends=True)
    rules = [s for s in _statements(path) if s.ast_type == ast.ASTType.Rule]
    definitions = Counter(_definition(rule) for rule in rules if rule.body)
    for rule in rules:
        begin, end = rule.location.begin, rule.location.end
        start, stop = _offset(lines, begin.line, begin.column), _offset(lines, end.line, end.column)
        written = source[start:stop].decode()
        several = _definition(rule) is not None and definitions[_definition(rule)] > 1
        for operator, text in _rule_variants(rule, several):
            if text == str(rule):
                continue  # not a change (no operator should produce one)
            replacement = text.encode() if text else b"% (deleted by a mutant)"
            yield Mutant(
                harness="kb",
                file=str(path.relative_to(root)),
                line=begin.line,
                operator=operator,
                original=" ".join(written.split()),
                mutated=text,
                content=source[:start] + replacement + source[stop:],
            )


def kb_mutants(root: Path) -> list[Mutant]:
    return [mutant for path in kb_files(root) for mutant in mutants_of(path, root)]
