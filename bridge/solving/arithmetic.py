"""Products and ratios in the searches: what the case's operand values
exclude, as the closest-counterexample program reads it (kb/meta/closest.lp).

The solver assumptions (literals.py) exclude the derived fact's regions that
the operands *pinned* in a query cannot reach. A closest counterexample may
instead give a stated operand another value (kb_arith_moved/1); the
kb_arith_off/3 externals say which regions each stated part of the operands
excludes, so that a counterexample keeping an operand's value respects what
that value excludes, and one that needs such a region must count the operand
as a disagreement (a minimum correction set names it).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping

import clingo
from clingo import Function

from policykb.bridge.model.arithmetic import excluded_regions, flip_pairs
from policykb.bridge.model.policy import Policy
from policykb.bridge.solving.literals import ValueLiterals


def excluded_parts(
    policy: Policy,
    symbols: Mapping[str, Mapping[object, clingo.Symbol]],
    known: Mapping[str, object],
) -> Iterator[clingo.Symbol]:
    """kb_arith_off(Fact, Region, Part) for each region of each derived fact
    that the stated operands of Part (left, right or both) alone exclude."""
    for use in policy.arithmetic:
        parts = {"left": (use.left,), "right": (use.right,), "both": use.operands}
        for part, operands in parts.items():
            if not all(name in known for name in operands):
                continue
            values = {name: known[name] for name in operands}
            for region in excluded_regions(policy, use, values):
                symbol = symbols[use.fact].get(region)
                if symbol is not None:
                    yield Function("kb_arith_off", [Function(use.fact), symbol, Function(part)])


def set_flip_pairs(
    twin: clingo.Control,
    policy: Policy,
    literals: ValueLiterals,
    known: Mapping[str, object],
    previous: frozenset[clingo.Symbol],
) -> frozenset[clingo.Symbol]:
    """Set the twin program's kb_arith_pair/4 externals (kb/meta/twin.lp) for
    the case `known`: the moves of each derived fact that changing one of its
    unknown operands alone can make. Returns the externals now true."""
    wanted: set[clingo.Symbol] = set()
    for use in policy.arithmetic:
        symbols = literals.symbol[use.fact]
        for operand in use.operands:
            if operand in known:
                continue
            for low, high in flip_pairs(policy, use, operand, known):
                if low in symbols and high in symbols:
                    wanted.add(
                        Function(
                            "kb_arith_pair",
                            [Function(use.fact), symbols[low], symbols[high], Function(operand)],
                        )
                    )
    for symbol in previous - wanted:
        twin.assign_external(symbol, False)
    for symbol in wanted - previous:
        twin.assign_external(symbol, True)
    return frozenset(wanted)
