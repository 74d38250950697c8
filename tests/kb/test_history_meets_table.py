"""latest_meets/3 and earliest_meets/3 of kb/core/history.lp, clintest style.

Each row states what the bridge supplies for one scenario (which record
classes the history reaches, which conditions each class meets, whether the
use's order fact holds and whether the window ties every record) and runs
history.lp alone through clingo. The rows follow the predicates' documented
meaning: the latest (earliest) record meeting Condition meets Test, false when
no record meets Condition and Test together, whatever the order fact says
(the bridge leaves that fact free where the rules do not read it).
"""

from __future__ import annotations

from pathlib import Path

import clingo
import pytest
from clingo.symbol import Function, Number

HISTORY_LP = Path(__file__).resolve().parents[2] / "kb" / "core" / "history.lp"

# name, classes (index -> conditions it meets), order fact holds, tied, holds
ROWS = [
    ("only a record meeting both", {1: ("m", "t")}, False, False, True),
    ("only a record failing Test, order fact free and true", {1: ("m",)}, True, False, False),
    ("only a record failing Test, order fact false", {1: ("m",)}, False, False, False),
    ("both kinds, the order fact puts Test's last", {1: ("m", "t"), 2: ("m",)}, True, False, True),
    (
        "both kinds, the order fact puts the other last",
        {1: ("m", "t"), 2: ("m",)},
        False,
        False,
        False,
    ),
    ("both kinds on one day: ties count against", {1: ("m", "t"), 2: ("m",)}, True, True, False),
    ("no record meets Condition", {1: ("t",)}, True, False, False),
    ("no record at all", {}, True, False, False),
]

H, M, T, F = Function("h"), Function("m"), Function("t"), Function("f")


def _holds(
    direction: str, classes: dict[int, tuple[str, ...]], order_fact: bool, tied: bool
) -> bool:
    control = clingo.Control(["--warn=none"])
    control.load(str(HISTORY_LP))
    d = Function(direction)
    facts = [
        Function("kb_history_ordered", [H, M, T, d]),
        Function("kb_history_pair", [H, M, T]),
        Function("kb_history_order_fact", [H, M, T, d, F]),
    ]
    for index, meets in classes.items():
        facts.append(Function("kb_history_has", [H, Number(index), Number(1)]))
        facts += [Function("kb_history_matches", [H, Number(index), Function(c)]) for c in meets]
    if order_fact:
        facts.append(Function("kb_history_derived", [F]))
    if tied:
        facts.append(Function("kb_history_tied", [H, M, T, d]))
    with control.backend() as backend:
        for symbol in facts:
            backend.add_rule([backend.add_atom(symbol)])
    control.ground([("base", [])])
    predicate = f"{direction}_meets"
    target = Function(predicate, [H, M, T])
    atom = control.symbolic_atoms[target]
    return atom is not None and atom.is_fact


@pytest.mark.parametrize("direction", ["latest", "earliest"])
@pytest.mark.parametrize(
    ("classes", "order_fact", "tied", "expected"),
    [row[1:] for row in ROWS],
    ids=[row[0] for row in ROWS],
)
def test_meets_follows_its_documented_meaning(
    direction: str,
    classes: dict[int, tuple[str, ...]],
    order_fact: bool,
    tied: bool,
    expected: bool,
) -> None:
    assert _holds(direction, classes, order_fact, tied) is expected
