"""Mutation testing: how many deliberate defects does the test suite catch?

`make mutation` (or `python -m tools.mutation`) runs two harnesses against a
private copy of the repository, never the working tree:

- KB mutants (kb_mutants.py): single changes to the rules of kb/core and of
  every bundled policy, generated from clingo's AST.
- Python mutants (python_mutants.py): cosmic-ray's mutation operators applied
  to the engine, the compiler, the query program and case validation.

A mutant is killed when some test fails (or runs past the time limit) with it
in place, and survives when every test passes. Mutants recorded in
equivalent.toml change no behaviour (each entry says why) and are left out of
the score; mutants that are not valid programs are counted apart.
"""
