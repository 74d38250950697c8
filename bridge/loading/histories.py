"""Reading a policy's histories (kb/core/history.lp) and what the rules ask of them.

The declarations are read from the grounded scenario program
(loading/history_declarations.py); the uses (exists/2, none/2,
count_at_least/3, count_at_most/3, distinct_at_least/4, ...) from the parsed
rules (loading/history_uses.py). A wrong declaration or use is refused with
its file and line. Each history then gets its record classes
(model/history.py), one boolean fact per class and level up to its cap, and
the program facts and rules that link them to the core
(loading/history_links.py), built as clingo AST from symbols: nothing here
reads case data. Per case, history_symbols gives the classes possible at the
case's reference dates.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace

import clingo
from clingo import Function, Number, ast

from policykb.bridge.loading.declaration_atoms import declared_at
from policykb.bridge.loading.files import core_files
from policykb.bridge.loading.history_declarations import DeclarationRefusal, declared_histories
from policykb.bridge.loading.history_links import link_statements
from policykb.bridge.loading.history_orders import tied_symbols, with_order_facts
from policykb.bridge.loading.history_pairs import pair_symbols, with_pair_facts
from policykb.bridge.loading.history_runs import run_symbols, with_run_facts
from policykb.bridge.loading.history_sums import with_sum_facts
from policykb.bridge.loading.history_uses import Uses, read_uses
from policykb.bridge.loading.rules import location
from policykb.bridge.model.errors import PolicyError
from policykb.bridge.model.history import History
from policykb.bridge.model.history_class import RecordClass
from policykb.bridge.model.history_condition import Condition
from policykb.bridge.model.policy import Fact, FactType, Policy, PolicySource


def _declared_line(source: PolicySource, atom: str) -> str | None:
    """FILE:LINE of the fact whose head is `atom` (parsed again: only an error needs it)."""
    from policykb.bridge.loading.parsing import policy_statements

    for statement in policy_statements(source):
        if statement.ast_type != ast.ASTType.Rule or statement.body:
            continue
        if str(statement.head).rstrip(".") == atom:
            return location(statement)
    return None


def _written_tests(parsed: Sequence[ast.AST]) -> list[tuple[clingo.Symbol, ...]]:
    """The condition_test/3 facts of the policy's own files as rewritten by
    written_durations: a combined duration (months(-12) + month_end) is a
    sum clingo leaves undefined, so the grounded program lacks that fact."""
    core = {str(path) for path in core_files()}
    found = []
    for statement in parsed:
        if (
            statement.ast_type != ast.ASTType.Rule
            or statement.body
            or statement.location.begin.filename in core
            or statement.head.ast_type != ast.ASTType.Literal
            or statement.head.atom.ast_type != ast.ASTType.SymbolicAtom
        ):
            continue
        symbol = statement.head.atom.symbol
        if symbol.ast_type != ast.ASTType.Function or symbol.name != "condition_test":
            continue
        try:
            term = clingo.parse_term(str(symbol))
        except RuntimeError:  # not ground: left to the grounded program
            continue
        if len(term.arguments) == 3:
            found.append(tuple(term.arguments))
    return found


def read_histories(
    source: PolicySource, ctl: clingo.Control, policy: Policy, parsed: Sequence[ast.AST]
) -> tuple[Policy, list[ast.AST]]:
    """The policy with its histories and their boolean facts, and the program
    statements that link them to kb/core/history.lp. PolicyError with file and
    line for a wrong declaration or use."""
    try:
        histories = declared_histories(ctl, policy, _written_tests(parsed))
    except DeclarationRefusal as refusal:
        where = (_declared_line(source, refusal.atom) if refusal.atom else None) or declared_at(
            source, *refusal.where
        )
        raise PolicyError(f"{where}: {refusal}" if where else str(refusal)) from None
    uses = read_uses(parsed, histories)
    built = {name: _with_classes(history, uses) for name, history in histories.items()}
    facts = dict(policy.facts)
    rank = max((f.rank for f in facts.values()), default=0)
    for history in built.values():
        for record_class, level, name in history.level_facts():
            if name in facts:
                raise PolicyError(
                    f"history {history.name}: its fact {name} is also declared by fact/2"
                )
            rank += 1
            facts[name] = Fact(
                name=name,
                type=FactType.BOOL,
                rank=rank,
                question=history.level_question(record_class, level),
                meaning=f"{history.meaning or history.name}: "
                + history.level_words(record_class, level),
                clauses=history.class_clauses(record_class),
            )
        for use in history.derived:
            if use.fact in facts:
                raise PolicyError(
                    f"history {history.name}: its fact {use.fact} is also declared by fact/2"
                )
            rank += 1
            what = history.meaning or f"the {history.name.replace('_', ' ')}"
            facts[use.fact] = Fact(
                name=use.fact,
                type=FactType.BOOL,
                rank=rank,
                question=use.question(what, history.conditions),
                meaning=f"{what}: {use.words(history.conditions, True)}",
                clauses=use.clauses or history.clauses,
            )
    updated = replace(policy, facts=facts, histories=built)
    return updated, link_statements(built.values())


def _with_orders(history: History, orders: set[tuple[str, str, str]]) -> History:
    """The history with a made condition for each end of each window that
    latest_within or earliest_within reads: records past that end."""
    conditions = dict(history.conditions)
    beyond: list[tuple[str, str, str]] = []
    for window, direction in sorted({(w, d) for _, w, d in orders}):
        declared = history.conditions[window]
        for number, test in enumerate(declared.tests, 1):
            past = test.past(direction == "latest")
            if past is None:
                continue
            made = f"kb_{direction}_{window}_{number}"
            side = "later" if direction == "latest" else "earlier"
            conditions[made] = Condition(
                made, history.name, f"{side} than {declared.text}", (past,)
            )
            beyond.append((window, direction, made))
    return replace(
        history, conditions=conditions, orders=tuple(sorted(orders)), beyond=tuple(beyond)
    )


def _with_classes(history: History, uses: Uses) -> History:
    """The history with its cap, fields counted distinct and record classes."""
    history = _with_orders(history, uses.orders.get(history.name, set()))
    counts = [n for _, n in uses.counts.get(history.name, ())]
    distinct = tuple(sorted({f for _, f, _ in uses.distinct.get(history.name, ())}))
    cap = max([1, *counts])
    shaped = replace(
        history,
        cap=cap,
        distinct=distinct,
        thresholds=tuple(sorted(uses.counts.get(history.name, ()))),
        distinct_counts=tuple(sorted(uses.distinct.get(history.name, ()))),
        clauses=tuple(sorted(uses.clauses.get(history.name, ()))),
        condition_clauses={
            m: tuple(sorted(uses.condition_clauses.get((history.name, m), ())))
            for m in history.conditions
        },
    )
    keys = sorted(shaped.keys({}), key=lambda k: (sorted(k[0]), k[1]))
    classes = tuple(RecordClass(i, meets, options) for i, (meets, options) in enumerate(keys, 1))
    ordered = with_order_facts(
        replace(shaped, classes=classes), uses.meets.get(history.name, set())
    )
    summed = with_sum_facts(ordered, uses.sums.get(history.name, set()))
    paired = with_pair_facts(summed, uses.pairs.get(history.name, set()))
    return with_run_facts(paired, uses.runs.get(history.name, set()))


def history_symbols(policy: Policy, anchors: Mapping[str, int]) -> list[clingo.Symbol]:
    """kb_history_possible/2: the classes some record falls in at `anchors`
    (every class a record may fall in at some day, when `anchors` lack a
    reference date the history's tests move from)."""
    return [
        Function("kb_history_possible", [Function(h.name), Number(c.index)])
        for h in policy.histories.values()
        for c in h.possible(anchors)
    ] + [
        s
        for h in policy.histories.values()
        for s in (*tied_symbols(h, anchors), *pair_symbols(h, anchors), *run_symbols(h, anchors))
    ]


def history_references(policy: Policy) -> dict[str, list[str]]:
    """Each reference date the histories' tests move from, and the histories."""
    found: dict[str, list[str]] = {}
    for history in policy.histories.values():
        for reference in history.references:
            found.setdefault(reference, []).append(history.name)
    return found
