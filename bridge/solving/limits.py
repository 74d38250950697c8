"""The limits of the evaluator's searches, in one place.

A frozen value passed to the Evaluator (and by the KnowledgeBase to every
evaluator it grounds), so that a test or a caller changes a limit for the
evaluators it makes without touching a class shared by every other one.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class SolvingLimits:
    """How far the evaluator's searches go. Every field is a positive count,
    except `forcing_from` (0: always use the compiled policy) and
    `parts_kept` (0: keep none), which may be 0."""

    anchored_kept: int = 32
    """How many days of a policy's reference dates keep their grounded program."""

    max_edits: int = 50
    """How many smallest edits of one list fact a change or an answer lists."""

    count_bound: int = 100
    """How many smallest change sets past --max-changes are counted."""

    parts_kept: int = 2_000
    """How many parts of counterexamples (partial scenarios that force a
    verdict) one grounding keeps per verdict, so that a later change search
    starts from them rather than finding them again; 0 keeps none."""

    forcing_from: int = 40
    """From how many facts why's questions about partial scenarios (a
    counterexample's minimal part, a missing fact's answers) go to the
    compiled policy rather than to clingo."""

    def __post_init__(self) -> None:
        for name in ("anchored_kept", "max_edits", "count_bound"):
            if getattr(self, name) < 1:
                raise ValueError(f"SolvingLimits.{name} must be at least 1")
        for name in ("forcing_from", "parts_kept"):
            if getattr(self, name) < 0:
                raise ValueError(f"SolvingLimits.{name} must not be negative")
