"""The errors policykb reports to its users, each a clear one-line message.

The CLI maps them to exit codes; none of them should ever surface as a
traceback.
"""

from __future__ import annotations


class PolicyKBError(Exception):
    """Base class of every error that is the user's to fix."""


class CaseError(PolicyKBError):
    """A case file or record is malformed, or its facts do not fit the vocabulary."""


class PolicyError(PolicyKBError):
    """A policy is unknown, or its knowledge base is invalid."""


class EngineError(PolicyKBError):
    """The solver answered something the semantics rule out (a KB defect)."""


class PrologUnavailable(PolicyKBError):
    """The second engine (SWI-Prolog) is not installed or cannot start."""


class OutputError(PolicyKBError):
    """An output file or folder could not be written (or would destroy data)."""


class LimitError(PolicyKBError):
    """A stated limit was reached: input size or nesting, grounding time or memory."""
