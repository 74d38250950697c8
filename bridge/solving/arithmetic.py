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

from policykb.bridge.model.arithmetic import excluded_regions
from policykb.bridge.model.policy import Policy


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
