"""Python mutants are keyed by anchors that a reformat of their file keeps.

The property: a module reformatted by ruff (another line length, another
indent width) has the same AST but for its docstrings' indentation, so every
mutant made at the same node of either gets the same anchor, hence the same
key in equivalent.toml.
"""

from __future__ import annotations

import ast
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from tools.mutation import __main__ as harness
from tools.mutation.anchor import anchor
from tools.mutation.mutant import Mutant, numbered

REPOSITORY = Path(__file__).resolve().parents[2]
MODULES = ("bridge/solving/hitting_sets.py", "bridge/loading/case.py")
NEIGHBOUR = {
    ast.Lt: ast.LtE,
    ast.LtE: ast.Lt,
    ast.Gt: ast.GtE,
    ast.GtE: ast.Gt,
    ast.Eq: ast.NotEq,
    ast.NotEq: ast.Eq,
    ast.In: ast.NotIn,
    ast.NotIn: ast.In,
    ast.Is: ast.IsNot,
    ast.IsNot: ast.Is,
}


def ruff() -> str:
    found = shutil.which("ruff", path=str(Path(sys.executable).parent)) or shutil.which("ruff")
    if found is None:
        pytest.fail("ruff is a test dependency and is not installed")
    return found


def reformatted(source: str, tmp_path: Path, *options: str) -> str:
    """The source as `ruff format` writes it with these options."""
    path = tmp_path / "module.py"
    path.write_text(source, encoding="utf-8")
    subprocess.run(
        [ruff(), "format", "--no-cache", "--isolated", *options, str(path)],
        check=True,
        capture_output=True,
    )
    return path.read_text(encoding="utf-8")


def _offset(lines: list[str], line: int, byte_column: int) -> int:
    """The character offset in the whole text of (line, byte column)."""
    before = sum(len(text) for text in lines[: line - 1])
    return before + len(lines[line - 1].encode("utf-8")[:byte_column].decode("utf-8"))


def mutants_of(source: str) -> list[tuple[str, int, int, str]]:
    """Every single change of a comparison to its neighbour and of an integer
    constant n to n + 1, in AST walk order (the same order for every source
    with this AST): (node kind, line, character column, mutated source)."""
    lines = source.splitlines(keepends=True)
    tree = ast.parse(source)
    # Python 3.11 places nodes inside f-strings only roughly: leave them out.
    in_fstrings = {
        id(inner)
        for node in ast.walk(tree)
        if isinstance(node, ast.JoinedStr)
        for inner in ast.walk(node)
    }
    made = []
    for node in ast.walk(tree):
        if id(node) in in_fstrings:
            continue
        replacement: ast.expr | None = None
        if isinstance(node, ast.Compare) and type(node.ops[0]) in NEIGHBOUR:
            replacement = ast.Compare(
                node.left, [NEIGHBOUR[type(node.ops[0])](), *node.ops[1:]], node.comparators
            )
        elif isinstance(node, ast.Constant) and type(node.value) is int:
            replacement = ast.Constant(node.value + 1)
        if replacement is None or node.end_lineno is None or node.end_col_offset is None:
            continue
        start = _offset(lines, node.lineno, node.col_offset)
        end = _offset(lines, node.end_lineno, node.end_col_offset)
        text = "(" + ast.unparse(replacement) + ")"
        column = start - sum(len(t) for t in lines[: node.lineno - 1])
        made.append(
            (type(node).__name__, node.lineno, column, source[:start] + text + source[end:])
        )
    return made


def anchors(source: str) -> list[tuple[str, str, str, str]]:
    found = []
    for kind, line, column, mutated in mutants_of(source):
        where = anchor(source, mutated, line, column)
        found.append((kind, where.scope, where.statement, where.mutated))
    return found


@pytest.mark.parametrize("module", MODULES, ids=lambda m: Path(m).name)
@pytest.mark.parametrize(
    "options",
    [("--line-length", "40"), ("--line-length", "70"), ("--config", "indent-width = 2")],
    ids=["narrow-40", "narrow-70", "indent-2"],
)
def test_a_ruff_format_of_a_module_keeps_every_mutants_anchor(
    module: str, options: tuple[str, ...], tmp_path: Path
) -> None:
    source = (REPOSITORY / module).read_text(encoding="utf-8")
    other = reformatted(source, tmp_path, *options)
    assert other != source  # the layout did change (docstrings too, with the indent)
    before, after = anchors(source), anchors(other)
    assert len(before) > 10
    assert before == after


def test_the_lines_as_written_the_keys_before_anchors_do_not_survive(tmp_path: Path) -> None:
    source = (REPOSITORY / "bridge/loading/case.py").read_text(encoding="utf-8")
    other = reformatted(source, tmp_path, "--line-length", "40")

    def written(text: str) -> list[str]:
        lines = text.splitlines()
        return [lines[line - 1].strip() for _, line, _, _ in mutants_of(text)]

    assert written(source) != written(other)
    assert anchors(source) == anchors(other)


def test_comments_and_blank_lines_do_not_move_an_anchor() -> None:
    plain = "def f(a, b):\n    if a < b:\n        return 1\n    return 2\n"
    noisy = (
        "# a comment\n\n\ndef f(a, b):  # why\n"
        "    # before the test\n    if (a <\n            b):\n        return 1\n\n    return 2\n"
    )
    assert anchors(plain) == anchors(noisy)


def test_the_anchor_is_the_innermost_statement_its_header_and_its_scope() -> None:
    source = (
        "class Box:\n"
        "    def take(self, items):\n"
        "        def inner(x):\n"
        "            return x > 3\n"
        "        for item in items:\n"
        "            if item < 2:\n"
        "                break\n"
        "        try:\n"
        "            pass\n"
        "        except ValueError:\n"
        "            return 0\n"
    )
    found = {(kind, scope, statement) for kind, scope, statement, _ in anchors(source)}
    assert ("Compare", "Box.take.inner", "return x > 3") in found
    assert ("Constant", "Box.take.inner", "return x > 3") in found
    assert ("Compare", "Box.take", "if item < 2:\n    ...") in found
    assert ("Constant", "Box.take", "return 0") in found
    mutated = {
        changed for _, _, statement, changed in anchors(source) if statement.startswith("if")
    }
    assert mutated == {"if item <= 2:\n    ...", "if item < 3:\n    ..."}
    handler = source.replace("except ValueError", "except KeyError")
    where = anchor(source, handler, 10, 15)
    assert (where.scope, where.statement, where.mutated) == (
        "Box.take",
        "except ValueError:\n    ...",
        "except KeyError:\n    ...",
    )


def test_a_removed_decorator_is_anchored_on_its_function() -> None:
    source = "class A:\n    @property\n    def size(self):\n        return 1\n"
    mutated = "class A:\n    def size(self):\n        return 1\n"
    where = anchor(source, mutated, 2, 4)
    assert where.scope == "A"
    assert where.statement == "@property\ndef size(self):\n    ..."
    assert where.mutated == "def size(self):\n    ..."


def test_a_change_that_is_not_python_is_a_value_error() -> None:
    with pytest.raises(ValueError, match="not Python"):
        anchor("x = 1\n", "x = = 1\n", 1, 4)


def test_identical_changes_are_told_apart_by_occurrence_in_file_order() -> None:
    def made(line: int) -> Mutant:
        return Mutant(
            harness="python",
            file="m.py",
            line=line,
            operator="NumberReplacer",
            original="x = 1",
            mutated="x = 2",
            content=b"",
            scope="f",
            statement="x = 1",
            mutated_statement="x = 2",
        )

    keys = [m.key for m in numbered([made(3), made(9)])]
    assert [k[-1] for k in keys] == [0, 1]
    assert keys[0][:-1] == keys[1][:-1]


def test_every_recorded_python_equivalent_is_keyed_in_normal_form() -> None:
    """A key written as ast.unparse writes it, with its bodies as `...`, is
    what anchor() gives for any layout of the statement."""
    data = tomllib.loads(harness.EQUIVALENT_FILE.read_text(encoding="utf-8"))
    assert data["python"]
    for entry in data["python"]:
        for text in (entry["statement"], entry["mutant"]):
            tree = ast.parse(text)
            assert ast.unparse(tree) == text, entry
        assert set(entry) <= {"file", "scope", "operator", "statement", "mutant"} | {
            "occurrence",
            "reason",
        }
        assert (REPOSITORY / entry["file"]).is_file()
    keys = harness.equivalent_mutants()
    assert len(keys) == len(data["python"]) + len(data["kb"])  # no two entries share a key
