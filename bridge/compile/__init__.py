"""Compile: a policy as decision circuits, for batch speed.

A compiled policy evaluates a case in one pass over the circuit nodes it
reaches and equals the Evaluator on every case (tested); a policy outside
what compiling covers, or too large to compile in time, is evaluated case
by case.

May import: solving, loading, model.
"""
