"""The policykb library: load policies, validate cases, evaluate them exactly.

    from policykb.bridge import KnowledgeBase
    kb = KnowledgeBase()
    evaluation = kb.evaluate({"facts": {"medicare_member": False}})
    print(evaluation.verdict, [item.fact for item in evaluation.explanation])

The CLI is a thin layer over this module. KnowledgeBase (knowledge_base.py)
is the one entry point; below it, one subpackage per concern, each importing
only the ones below it (import-linter contracts in pyproject.toml):

    batch | testing                 many cases; analysts' YAML suites
    knowledge_base                  the entry point
    analysis | prolog               check and diff; the second engine
    compile                         batch speed: policies compiled to circuits
    solving                         exact answers from the grounded program
    loading                         files, declarations, cases
    model                           dataclasses and errors (standard library only)
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from policykb.bridge.knowledge_base import KnowledgeBase
    from policykb.bridge.model.case import Case
    from policykb.bridge.model.errors import CaseError, EngineError, PolicyError, PolicyKBError
    from policykb.bridge.model.policy import Criterion, Fact, FactType, Policy, Role, Value
    from policykb.bridge.model.result import (
        Evaluation,
        ExplanationItem,
        FrameReason,
        MissingFact,
        Note,
        Status,
        Verdict,
    )

# Where each public name is defined. They are imported on first use (PEP 562):
# importing any module of the package runs this file, and the model's errors
# and formats should not cost the import of the solver (clingo, the evaluator).
_HOMES = {
    "KnowledgeBase": "knowledge_base",
    "Case": "model.case",
    "CaseError": "model.errors",
    "EngineError": "model.errors",
    "PolicyError": "model.errors",
    "PolicyKBError": "model.errors",
    "Criterion": "model.policy",
    "Fact": "model.policy",
    "FactType": "model.policy",
    "Policy": "model.policy",
    "Role": "model.policy",
    "Value": "model.policy",
    "Evaluation": "model.result",
    "ExplanationItem": "model.result",
    "FrameReason": "model.result",
    "MissingFact": "model.result",
    "Note": "model.result",
    "Status": "model.result",
    "Verdict": "model.result",
}


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(import_module(f"{__name__}.{home}"), name)
    globals()[name] = value  # asked once
    return value


__all__ = [
    "Case",
    "CaseError",
    "Criterion",
    "EngineError",
    "Evaluation",
    "ExplanationItem",
    "Fact",
    "FactType",
    "FrameReason",
    "KnowledgeBase",
    "MissingFact",
    "Note",
    "Policy",
    "PolicyError",
    "PolicyKBError",
    "Role",
    "Status",
    "Value",
    "Verdict",
]
