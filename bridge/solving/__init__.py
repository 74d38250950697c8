"""Solving: exact answers from a policy's grounded scenario program.

The clingo Control factory and grounding limits (control.py), the literal of
each fact value (literals.py), the one implicit hitting-set driver
(hitting_sets.py), the query program with the closest-counterexample
meta-program (query.py), renamed copies and the twin program (transform.py),
and the Evaluator: verdicts, criteria, notes, minimal explanations, missing
facts and smallest changes (evaluator.py). The meta-programs are files in
kb/meta/; no ASP rule text is written here.

May import: loading, model.
"""
