"""One filling of a history's records, as of two days of an unknown date.

Whether the verdict turns on an unknown reference date B asks for one
filling of the unknowns under which two days of B give two verdicts
(date_product.py). A history whose windows move from B is, for the program,
a count per record class as of each day, and a record added to a partial
(or unstated) history falls in one class as of the first day and in one,
perhaps another, as of the second: its *joint class* (a, b). One filling of
records is thus one count per joint class, at least the stated records' and
exactly theirs for a complete history; as of the first day the count of a
class a is the sum over the joint classes (a, _), as of the second over
(_, b). A count above the larger cap of a and b changes no level either day
(each level reads the count cut at its class's cap), so the counts run from
the stated one to that cap more.

`joint_facts` gives the joint classes a record can fall in (one sample per
piece the two days' boundaries cut each tested field into, as
History._outcomes_of samples one day) with the stated records' counts, as
facts; `joint_rules` the rules, per copy of the product program, that tie
the two copies' level facts to one choice of counts. Every count vector is
realised by records (a sample record per joint class, repeated), and every
filling of records gives one: the product then finds two verdicts exactly
when a filling of records does.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from itertools import product
from typing import TYPE_CHECKING

from clingo import Function, Number

from policykb.bridge.model.policy import FactType

if TYPE_CHECKING:
    import clingo
    from clingo import ast

    from policykb.bridge.model.case import StatedHistory
    from policykb.bridge.model.history import History

NONE = Function("none")
"""The class of a record that meets no condition (no rule reads it)."""


def _samples(history: History, name: str, days: Sequence[Mapping[str, int]]) -> list[object]:
    """One value of field `name` in each piece the tests of both days cut it into."""
    declared = history.fields[name]
    tests = history.tests_of(name)
    kind = declared.type
    if kind is FactType.ENUM:
        return list(declared.options)
    if kind is FactType.BOOL:
        return [False, True]
    if kind is FactType.CODE:
        from policykb.bridge.model.typed import code_cells, normal_code

        names = sorted({str(t.constants[0]) for t in tests})
        cells = code_cells(declared.system, [history.code_sets[n] for n in names])
        return [normal_code(cell.sample) for cell in cells]
    from policykb.bridge.model.typed import Cut, intervals

    cuts = {
        Cut(at, closed)
        for anchors in days
        for test in tests
        for at, closed in test.cut_points(anchors) or []
    }
    whole = kind is not FactType.DECIMAL
    return [p.representative(whole) for p in intervals(declared.low, declared.high, cuts, whole)]


def joint_classes(
    history: History, first: Mapping[str, int], second: Mapping[str, int]
) -> set[tuple[int | None, int | None]]:
    """Every (class as of `first`, class as of `second`) some record falls in
    (None: no class that day)."""
    read = [name for name in history.fields if history.tests_of(name) or name in history.distinct]
    pieces = [_samples(history, name, (first, second)) for name in read]
    found: set[tuple[int | None, int | None]] = set()
    for values in product(*pieces):
        record = dict(zip(read, values, strict=True))
        a = history.class_of(record, first)
        b = history.class_of(record, second)
        found.add((None if a is None else a.index, None if b is None else b.index))
    return found


def joint_facts(
    copy: int,
    histories: Mapping[str, History],
    stated: Mapping[str, StatedHistory],
    first: Mapping[str, int],
    second: Mapping[str, int],
) -> list[clingo.Symbol]:
    """The facts of copy `copy`'s joint classes (module docstring):
    kb_joint(Copy, Id, History, A, B, Stated), kb_joint_max(Copy, Id, Max),
    kb_joint_open(Copy, History) for a history records may be added to, and
    kb_level(History, Class, Level, Fact) for every level fact."""
    symbols: list[clingo.Symbol] = []
    j = Number(copy)
    for name, history in histories.items():
        h = Function(name)
        given = stated.get(name)
        counts: dict[tuple[int | None, int | None], int] = {}
        for record in given.records if given is not None else ():
            then = history.class_of(record, first)
            now = history.class_of(record, second)
            key = (None if then is None else then.index, None if now is None else now.index)
            counts[key] = counts.get(key, 0) + 1
        caps = {c.index: history.class_cap(c) for c in history.classes}
        joint = joint_classes(history, first, second) | set(counts)
        for number, (a, b) in enumerate(sorted(joint, key=str), 1):
            if a is None and b is None:
                continue
            most = max(
                caps.get(a, 0) if a is not None else 0, caps.get(b, 0) if b is not None else 0
            )
            stated_count = min(counts.get((a, b), 0), most)
            side_a = NONE if a is None else Number(a)
            side_b = NONE if b is None else Number(b)
            symbols.append(
                Function("kb_joint", [j, Number(number), h, side_a, side_b, Number(stated_count)])
            )
            symbols.append(Function("kb_joint_max", [j, Number(number), Number(most)]))
        if given is None or not given.complete:
            symbols.append(Function("kb_joint_open", [j, h]))
        if copy == 1:
            symbols += [
                Function("kb_level", [h, Number(c.index), Number(k), Function(fact)])
                for c, k, fact in history.level_facts()
            ]
    return symbols


def joint_rules(copy: int, prefix: str) -> list[ast.AST]:
    """The rules that tie copy 0's and copy `copy`'s (predicates prefixed
    `prefix`) level facts to one choice of joint counts. The text is this
    module's own (a copy number and prefix): no case data."""
    from clingo import ast

    text = f"""
    {{ kb_extra({copy}, I, N) : N = 1..M }} 1 :-
        kb_joint({copy}, I, H, _, _, _), kb_joint_open({copy}, H), kb_joint_max({copy}, I, M).
    kb_side({copy}, 0, H, A) :- kb_joint({copy}, _, H, A, _, _), A != none.
    kb_side({copy}, 1, H, B) :- kb_joint({copy}, _, H, _, B, _), B != none.
    kb_total({copy}, 0, H, A, T) :- kb_side({copy}, 0, H, A),
        T = #sum {{ S, I, stated : kb_joint({copy}, I, H, A, _, S);
                   N, I, added : kb_extra({copy}, I, N), kb_joint({copy}, I, H, A, _, _) }}.
    kb_total({copy}, 1, H, B, T) :- kb_side({copy}, 1, H, B),
        T = #sum {{ S, I, stated : kb_joint({copy}, I, H, _, B, S);
                   N, I, added : kb_extra({copy}, I, N), kb_joint({copy}, I, H, _, B, _) }}.
    :- kb_level(H, A, K, L), kb_total({copy}, 0, H, A, T), T >= K, not value(L, true).
    :- kb_level(H, A, K, L), kb_total({copy}, 0, H, A, T), T < K, value(L, true).
    :- kb_level(H, B, K, L), kb_total({copy}, 1, H, B, T), T >= K, not {prefix}value(L, true).
    :- kb_level(H, B, K, L), kb_total({copy}, 1, H, B, T), T < K, {prefix}value(L, true).
    """
    found: list[ast.AST] = []
    ast.parse_string(text, found.append)
    return [s for s in found if s.ast_type != ast.ASTType.Program]
