"""The errors policykb reports to its users: one class per meaning, each a
clear one-line message and one exit code of the CLI (README, Exit codes).
None of them should ever surface as a traceback.
"""

from __future__ import annotations


class PolicyKBError(Exception):
    """Base class of every error that is the user's to fix."""


class CaseError(PolicyKBError):
    """Invalid input (exit 1): a case, record, suite or input file is
    malformed, missing, or its facts do not fit the vocabulary."""


class PolicyError(PolicyKBError):
    """An invalid or unknown policy (exit 1; 2 for check and diff): the
    message names the file and line of a wrong rule or declaration."""


class EngineError(PolicyKBError):
    """The engines disagree, or an engine answered what the semantics rule
    out (exit 3)."""


class PrologUnavailable(PolicyKBError):
    """The second engine is unavailable (exit 4): SWI-Prolog or pyswip is
    missing or cannot start."""


class ProofUnsupported(PolicyKBError):
    """The second engine cannot prove this policy (exit 7): one of its rules
    uses a construct with no Prolog translation (`policykb check` lists it).
    clingo's verdicts stand; only proofs and cross-checks are refused."""


class OutputError(PolicyKBError):
    """An output could not be written, or would destroy data (exit 5)."""


class LimitError(PolicyKBError):
    """A stated limit was reached (exit 6): input size or nesting, grounding
    time or memory."""


class ExtraMissing(PolicyKBError):
    """A command needs an optional part of policykb that is not installed
    (exit 8): the message names the extra and the pip command that adds it."""
