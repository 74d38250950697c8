"""Compile: a policy as prime implicants, for batch speed.

A compiled policy evaluates a case with bit operations and equals the
Evaluator on every case (tested); a policy too large to compile in time
falls back to the Evaluator.

May import: solving, loading, model.
"""
