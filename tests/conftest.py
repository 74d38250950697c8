"""Shared fixtures: one knowledge base per test session (grounding is done once)."""

from __future__ import annotations

import os
import tempfile

import pytest
from hypothesis import Phase, settings

from policykb.bridge import KnowledgeBase
from policykb.bridge.solving.evaluator import Evaluator

# Compiled policies are cached in a folder of this test session's own, never
# in the user's cache (and every session compiles afresh at least once).
os.environ["POLICYKB_CACHE_DIR"] = tempfile.mkdtemp(prefix="policykb-cache-")


@pytest.fixture(scope="session")
def kb() -> KnowledgeBase:
    return KnowledgeBase()


@pytest.fixture(scope="session")
def massage(kb: KnowledgeBase) -> Evaluator:
    return kb.evaluator("massage-therapy")


# The mutation harness (tools/mutation) runs the suite once per mutant: the
# same examples every run, no example database carried from one mutant to the
# next, and no shrinking (a mutant is killed by its first failing example;
# shrinking it can take minutes).
settings.register_profile(
    "mutation",
    database=None,
    derandomize=True,
    phases=[Phase.explicit, Phase.reuse, Phase.generate],
)
