"""Python mutants: cosmic-ray's operators on the engine, compiler and case validation.

cosmic-ray finds every place an operator applies (`cosmic-ray init`) and
writes each mutation (`cosmic_ray.mutating.mutate_code`); this harness runs
the tests. Of cosmic-ray's operators it keeps those that model a real slip:
each comparison turned into its neighbour or opposite, + and - (and | and &)
swapped, a `not` added or removed, a number off by one, a boolean constant,
break/continue, a loop that never runs, a decorator or an exception handler
lost. Replacing `+` by `**` or `<<` is left out: it tests nothing the
neighbouring operators do not.

No mutant is made inside a type annotation: the modules import annotations
from __future__, so annotations are never evaluated and such a mutant could
not change behaviour.

Each mutant carries its anchor (anchor.py): the enclosing function and the
statement changed, as unparsed ASTs, which key it in equivalent.toml.

Which tests run against a mutant: those that executed its line, read from a
coverage run with one context per test. A line that only runs at import runs
the whole suite.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from collections.abc import Iterable
from pathlib import Path

from tools.mutation.anchor import anchor
from tools.mutation.mutant import Mutant

MODULES = (
    "bridge/solving/evaluator.py",
    "bridge/solving/grounding.py",
    "bridge/solving/anchoring.py",
    "bridge/solving/missing.py",
    "bridge/solving/explanations.py",
    "bridge/solving/changes.py",
    "bridge/solving/list_edits.py",
    "bridge/solving/answers.py",
    "bridge/solving/display.py",
    "bridge/solving/forcing.py",
    "bridge/solving/limits.py",
    "bridge/solving/query.py",
    "bridge/solving/hitting_sets.py",
    "bridge/solving/literals.py",
    "bridge/compile/circuit.py",
    "bridge/compile/compiled.py",
    "bridge/compile/run.py",
    "bridge/compile/prepared.py",
    "bridge/compile/program.py",
    "bridge/compile/conditions.py",
    "bridge/loading/case.py",
    "bridge/loading/comparisons.py",
    "bridge/loading/durations.py",
    "bridge/loading/region_facts.py",
    "bridge/model/version.py",
    "bridge/batch/impact.py",
    "bridge/analysis/check.py",
    "bridge/analysis/checker.py",
    "bridge/analysis/findings.py",
    "bridge/analysis/vocabulary.py",
    "bridge/analysis/clauses.py",
    "bridge/analysis/range_gaps.py",
    "bridge/analysis/versions.py",
    "bridge/analysis/diff.py",
    "bridge/analysis/placements.py",
    "bridge/analysis/regions.py",
    "bridge/batch/arrow.py",
    "bridge/prolog/translate.py",
    "service/fhirpath.py",
    "service/fhir_facts.py",
    "service/request_resources.py",
    "service/routing.py",
    "service/crd.py",
    "service/crd_discovery.py",
    "service/crd_request.py",
    "service/request_budget.py",
    "service/pas.py",
    "service/dtr.py",
    "service/units.py",
    "service/fhir_time.py",
    "service/audit.py",
    "service/auth.py",
    "service/jti_store.py",
)

KEPT_OPERATORS = re.compile(
    r"core/("
    r"ReplaceComparisonOperator_(Eq_NotEq|NotEq_Eq|Lt_LtE|LtE_Lt|Gt_GtE|GtE_Gt"
    r"|Lt_GtE|GtE_Lt|Gt_LtE|LtE_Gt|Is_IsNot|IsNot_Is)"
    r"|ReplaceBinaryOperator_(Add_Sub|Sub_Add|BitOr_BitAnd|BitAnd_BitOr|Mul_Div|Div_Mul)"
    r"|ReplaceUnaryOperator_(Delete_Not|USub_UAdd|Delete_USub)"
    r"|AddNot|NumberReplacer|ReplaceTrueWithFalse|ReplaceFalseWithTrue"
    r"|ReplaceAndWithOr|ReplaceOrWithAnd|ReplaceBreakWithContinue|ReplaceContinueWithBreak"
    r"|ZeroIterationForLoop|RemoveDecorator|ExceptionReplacer"
    r")$"
)


def _annotation_spans(source: str) -> list[tuple[tuple[int, int], tuple[int, int]]]:
    """Where the type annotations are, in a module whose annotations are never
    evaluated (it imports annotations from __future__; otherwise: nowhere).
    A mutant there changes nothing that runs, so none is generated."""
    import ast

    tree = ast.parse(source)
    lazy = any(
        isinstance(node, ast.ImportFrom)
        and node.module == "__future__"
        and any(alias.name == "annotations" for alias in node.names)
        for node in tree.body
    )
    if not lazy:
        return []
    spans = []
    for node in ast.walk(tree):
        found: list[ast.expr | None] = []
        if isinstance(node, ast.arg):
            found.append(node.annotation)
        elif isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            found.append(node.returns)
        elif isinstance(node, ast.AnnAssign):
            found.append(node.annotation)
        for annotation in found:
            if annotation is not None and annotation.end_lineno is not None:
                spans.append(
                    (
                        (annotation.lineno, annotation.col_offset),
                        (annotation.end_lineno, annotation.end_col_offset or 0),
                    )
                )
    return spans


def _short(operator: str) -> str:
    return operator.removeprefix("core/")


def python_mutants(root: Path, modules: Iterable[str] = MODULES) -> list[Mutant]:
    """Every kept cosmic-ray mutant of `modules` (paths relative to `root`)."""
    from cosmic_ray.mutating import mutate_code
    from cosmic_ray.plugins import get_operator

    config = root / ".mutation-cosmic-ray.toml"
    session = root / ".mutation-cosmic-ray.sqlite"
    module_list = ", ".join(json.dumps(m) for m in modules)
    config.write_text(
        "[cosmic-ray]\n"
        f"module-path = [{module_list}]\n"
        'timeout = 600.0\nexcluded-modules = []\ntest-command = "false"\n'
        '[cosmic-ray.distributor]\nname = "local"\n'
    )
    tool = Path(sys.executable).parent / "cosmic-ray"
    subprocess.run([str(tool), "init", config.name, session.name], cwd=root, check=True)
    dump = subprocess.run(
        [str(tool), "dump", session.name], cwd=root, check=True, capture_output=True, text=True
    ).stdout
    sources: dict[str, str] = {}
    annotations: dict[str, list[tuple[tuple[int, int], tuple[int, int]]]] = {}
    mutants: list[Mutant] = []
    for line in dump.splitlines():
        job, _result = json.loads(line)
        for mutation in job["mutations"]:
            name = mutation["operator_name"]
            if not KEPT_OPERATORS.match(name):
                continue
            module = mutation["module_path"]
            if module not in sources:
                sources[module] = (root / module).read_text(encoding="utf-8")
                annotations[module] = _annotation_spans(sources[module])
            source = sources[module]
            start = tuple(mutation["start_pos"])
            if any(begin <= start < end for begin, end in annotations[module]):
                continue
            operator = get_operator(name)(**mutation["operator_args"])
            try:
                mutated = mutate_code(source, operator, mutation["occurrence"])
            except AttributeError:
                # cosmic-ray's ExceptionReplacer cannot rewrite a dotted
                # exception name in a tuple (`except (pa.ArrowInvalid, OSError)`).
                continue
            if mutated is None:
                continue
            line_number, column = mutation["start_pos"]
            source_lines = source.splitlines()
            mutated_lines = mutated.splitlines()
            original_line = source_lines[line_number - 1]
            changed = next(
                (new for old, new in zip(source_lines, mutated_lines, strict=False) if old != new),
                "",
            )
            where = anchor(source, mutated, line_number, column)
            mutants.append(
                Mutant(
                    harness="python",
                    file=module,
                    line=line_number,
                    operator=_short(name),
                    original=original_line.strip(),
                    mutated=changed.strip(),
                    content=mutated.encode(),
                    column=column,
                    scope=where.scope,
                    statement=where.statement,
                    mutated_statement=where.mutated,
                )
            )
    config.unlink()
    session.unlink()
    mutants.sort(key=lambda m: (m.file, m.line, m.column, m.operator))
    return mutants


def coverage_map(workspace_root: Path) -> dict[tuple[str, int], set[str]]:
    """(file, line) -> the test node ids that execute it, from a recorded coverage run."""
    from coverage import CoverageData

    data = CoverageData(basename=str(workspace_root / ".coverage"))
    data.read()
    found: dict[tuple[str, int], set[str]] = {}
    for measured in data.measured_files():
        relative = Path(measured).resolve().relative_to(workspace_root.resolve()).as_posix()
        for line, contexts in data.contexts_by_lineno(measured).items():
            tests = {c.rsplit("|", 1)[0] for c in contexts if c}
            found[(relative, line)] = tests
    return found


def function_body_lines(path: Path) -> set[int]:
    """The lines inside function bodies: run when called. Every other line
    (module and class level, decorators, signatures) runs at import, which may
    happen before coverage starts (pytest plugins import the library early)."""
    import ast

    lines: set[int] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and node.body:
            first = node.body[0]
            start = first.lineno
            if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant):
                start = first.end_lineno or start  # a docstring runs at import too
            lines.update(range(start, (node.end_lineno or start) + 1))
    return lines
