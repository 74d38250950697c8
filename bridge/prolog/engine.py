"""The second engine: the policy's rules, translated to Prolog, run in SWI-Prolog.

It gives goal-directed proof trees (with negation-as-failure nodes and proofs
by cases on unknown facts) and an independent verdict to check clingo's.

pyswip starts Prolog when it is imported, so it is imported only here, on
first use. Prolog is one global engine and pyswip is not thread-safe, so every
call into Prolog runs on one thread of its own (`on_prolog_thread`): a
PrologEngine may be used from any thread. Case data reaches Prolog only as values of
the policy's own vocabulary (a string fact's value outside its options is
passed as other_value), each quoted safely; the case id never does.
"""

from __future__ import annotations

import atexit
import itertools
import json
import queue
import tempfile
import threading
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import Future
from importlib.resources import as_file, files
from pathlib import Path
from typing import Any, TypeVar

from policykb.bridge.model.errors import EngineError, PrologUnavailable
from policykb.bridge.model.policy import Value
from policykb.bridge.model.result import Verdict
from policykb.bridge.prolog.translate import prolog_atom, prolog_symbol, translate
from policykb.bridge.solving.evaluator import Evaluator

_modules = itertools.count(1)
INSTALL_HINT = "install it with: apt-get install swi-prolog-nox (Debian) and pip install pyswip"
T = TypeVar("T")


class _PrologThread:
    """The one thread that talks to SWI-Prolog: it starts Prolog and runs every call.

    A daemon thread of its own (not a pool) so that it still runs while the
    interpreter exits, and SWI-Prolog is shut down from the thread that
    started it, as it requires.
    """

    def __init__(self) -> None:
        self._work: queue.Queue[tuple[Callable[..., Any], tuple[Any, ...], Future[Any]]] = (
            queue.Queue()
        )
        self._thread: threading.Thread | None = None
        self._start = threading.Lock()

    def run(self, work: Callable[..., T], *args: Any) -> T:
        with self._start:
            if self._thread is None:
                self._thread = threading.Thread(target=self._serve, name="swi-prolog", daemon=True)
                self._thread.start()
        if threading.current_thread() is self._thread:
            return work(*args)
        done: Future[T] = Future()
        self._work.put((work, args, done))
        return done.result()

    def _serve(self) -> None:
        while True:
            work, args, done = self._work.get()
            try:
                done.set_result(work(*args))
            except BaseException as error:  # handed to the caller
                done.set_exception(error)


_prolog_thread = _PrologThread()


def on_prolog_thread(work: Callable[..., T], *args: Any) -> T:
    """Run `work` on the one thread that talks to SWI-Prolog, and wait for it."""
    return _prolog_thread.run(work, *args)


def _shut_down_prolog() -> None:
    from pyswip import core

    if core.PL_is_initialised(None, None):
        core.PL_cleanup(0)


def _prolog() -> Any:
    """The pyswip Prolog class, imported on first use (on the Prolog thread)."""
    try:
        from pyswip import Prolog
    except Exception as error:  # ImportError, or pyswip's own error when libswipl is missing
        detail = " ".join(str(error).split())[:200]
        raise PrologUnavailable(
            f"SWI-Prolog is not available ({type(error).__name__}: {detail}); {INSTALL_HINT}"
        ) from None
    # Registered after pyswip's own exit hook, so it runs first (atexit is last
    # in, first out): Prolog is cleaned up on its own thread and pyswip's hook,
    # which would do it from the main thread with a warning, finds nothing to do.
    atexit.register(lambda: on_prolog_thread(_shut_down_prolog))
    return Prolog


class PrologEngine:
    """One policy loaded into SWI-Prolog as a module of its own."""

    def __init__(self, evaluator: Evaluator) -> None:
        self.evaluator = evaluator
        self.policy = evaluator.policy
        self.module = f"kb_policy_{next(_modules)}"
        self._prolog = on_prolog_thread(_prolog)
        on_prolog_thread(self._consult, evaluator)

    def _consult(self, evaluator: Evaluator) -> None:
        with as_file(files("policykb.bridge.prolog").joinpath("prove.pl")) as prover:
            text = translate(evaluator.statements, evaluator.rules, self.module, str(prover))
            with tempfile.TemporaryDirectory() as folder:
                program = Path(folder) / f"{self.module}.pl"
                program.write_text(text, encoding="utf-8")
                self._prolog.consult(str(program))

    # -- terms ---------------------------------------------------------------

    def _value_terms(self, fact: str, value: object) -> str:
        symbols = self.evaluator.value_symbols(fact)
        key = self.evaluator.value_key(fact, value)
        if isinstance(key, frozenset):
            chosen = sorted(prolog_symbol(symbols[option]) for option in key)
        else:
            chosen = [prolog_symbol(symbols[key])]
        return "[" + ", ".join(chosen) + "]"

    def _pairs(self, known: Mapping[str, object]) -> str:
        return (
            "["
            + ", ".join(
                f"{prolog_atom(fact)}-{self._value_terms(fact, value)}"
                for fact, value in known.items()
            )
            + "]"
        )

    def _query(self, goal: str, variable: str) -> Any:
        return on_prolog_thread(self._query_here, goal, variable)

    def _query_here(self, goal: str, variable: str) -> Any:
        answers = list(self._prolog.query(f"{self.module}:{goal}", maxresult=1))
        if not answers:
            raise EngineError(f"Prolog found no answer to {goal.split('(')[0]}")
        result = answers[0][variable]
        return result.decode() if isinstance(result, bytes) else result

    # -- verdicts and proofs ---------------------------------------------------

    def prove(self, known: Mapping[str, Value]) -> tuple[Verdict, dict[str, Any]]:
        """The verdict on these known facts (others unknown) and its proof tree."""
        pairs = self._pairs(known)
        if self.policy.arithmetic:
            from policykb.bridge.model.arithmetic import allowed

            # Each product or ratio narrowed to the regions its stated operands
            # reach (kb/core/arithmetic.lp): Fact-among([Region, ...]).
            symbols = self.evaluator.value_symbols
            narrowed = [
                f"{prolog_atom(fact)}-among(["
                + ", ".join(prolog_symbol(symbols(fact)[r]) for r in regions)
                + "])"
                for fact, regions in allowed(self.policy, known).items()
            ]
            pairs = "[" + ", ".join([p for p in [pairs[1:-1]] if p] + narrowed) + "]"
        answer = json.loads(self._query(f"verdict_json({pairs}, Json)", "Json"))
        return Verdict(answer["verdict"]), answer["root"]

    def scenario_choices(self, fact: str) -> list[object]:
        """Every value `fact` can take in a complete scenario."""
        declared = self.policy.facts[fact]
        if declared.type.many:
            return list(self.evaluator.candidate_values(fact))
        return list(self.evaluator.value_symbols(fact))

    def covered_scenarios(self, facts: Sequence[str]) -> set[int]:
        """Codes (mixed radix over `facts`) of every covered complete scenario."""
        domains = ", ".join(
            f"{prolog_atom(fact)}-["
            + ", ".join(self._value_terms(fact, v) for v in self.scenario_choices(fact))
            + "]"
            for fact in facts
        )
        codes = self._query(f"covered_codes([{domains}], Codes)", "Codes")
        return set(codes)
