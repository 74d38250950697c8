"""Compile: a policy as decision circuits, for batch speed.

A compiled policy evaluates a case in one pass over the circuit nodes it
reaches and equals the Evaluator on every case (tested); a policy outside
what compiling covers, or too large to compile in time, is evaluated case
by case. Its answers to a case come from the policy model alone
(answering.py), so a policy's snapshot (snapshot.py: the prepared circuit
and the model, stored on disk) answers `evaluate --format json` without
clingo; snapshot.py and what it imports never import solving or clingo.

May import: solving, loading, model.
"""
