"""The model: what the rest of the library passes around.

A policy's vocabulary and criteria (policy.py), a validated case (case.py),
results (result.py), the errors users see (errors.py) and the formats
commands read and write (formats.py): frozen dataclasses and enums.

May import: the standard library only (an import-linter contract).
"""
