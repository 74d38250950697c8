"""Solving: exact answers from a policy's grounded scenario program.

Infrastructure: the clingo Control factory and grounding limits (control.py;
the limits' values in load_limits.py, set without importing clingo),
the literal of each fact value (literals.py), the one implicit hitting-set
driver (hitting_sets.py), the query program with the closest-counterexample
meta-program (query.py), renamed copies and the twin program (transform.py).
The meta-programs are files in kb/meta/; no ASP rule text is written here.

The Evaluator (evaluator.py) answers every question about a case, one
module per question over the grounded program (grounding.py: consequences,
verdict, statuses, notes): which grounding answers a case (anchoring.py),
missing facts (missing.py), minimal explanations (explanations.py),
smallest change sets (changes.py) and list edits (list_edits.py), answers
to missing facts (answers.py), values in the analyst's terms (display.py),
minimal forcing parts and the compiled policy's protocol (forcing.py). Its
limits are one frozen value (limits.py).

May import: loading, model. Never compile (above it): the compiled policy
arrives as a function passed in (forcing.CompiledTests).
"""
