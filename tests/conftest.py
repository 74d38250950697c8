"""Shared fixtures: one knowledge base per test session (grounding is done once)."""

from __future__ import annotations

import pytest

from policykb.bridge import KnowledgeBase
from policykb.bridge.engine import Evaluator


@pytest.fixture(scope="session")
def kb() -> KnowledgeBase:
    return KnowledgeBase()


@pytest.fixture(scope="session")
def massage(kb: KnowledgeBase) -> Evaluator:
    return kb.evaluator("massage-therapy")
