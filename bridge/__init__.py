"""The policykb library: load policies, validate cases, evaluate them exactly.

    from policykb.bridge import KnowledgeBase
    kb = KnowledgeBase()
    evaluation = kb.evaluate({"facts": {"medicare_member": False}})
    print(evaluation.verdict, [item.fact for item in evaluation.explanation])

The CLI is a thin layer over this module.
"""

from policykb.bridge.case import Case
from policykb.bridge.errors import CaseError, EngineError, PolicyError, PolicyKBError
from policykb.bridge.knowledge_base import KnowledgeBase
from policykb.bridge.policy import Criterion, Fact, FactType, Policy, Role, Value
from policykb.bridge.result import (
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
