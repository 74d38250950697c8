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

from policykb.bridge.knowledge_base import KnowledgeBase
from policykb.bridge.model.case import Case
from policykb.bridge.model.errors import CaseError, EngineError, PolicyError, PolicyKBError
from policykb.bridge.model.policy import Criterion, Fact, FactType, Policy, Role, Value
from policykb.bridge.model.result import (
    Evaluation,
    ExplanationItem,
    MissingFact,
    Note,
    Status,
    Verdict,
)

__all__ = [
    "Case",
    "CaseError",
    "Criterion",
    "EngineError",
    "Evaluation",
    "ExplanationItem",
    "Fact",
    "FactType",
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
