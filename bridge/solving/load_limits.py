"""The limits on grounding a policy of one's own, set by the global options
(`--load-timeout`, `--load-memory`). Apart from control.py, which applies
them, so that setting them does not import clingo.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class LoadLimits:
    """How long, and in how much memory, a policy of one's own may take to ground.

    A policy outside the bundled KB is first grounded in a child process under
    these limits, so a rule that never stops grounding (p(X+1) :- p(X).) ends
    in a clear error, and Ctrl-C is answered while it runs.
    """

    seconds: float = 30.0
    memory_mib: int = 4096


LIMITS = LoadLimits()
