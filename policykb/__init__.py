"""policykb: coverage policies as logic programs, evaluated exactly.

The import package. Its subpackages are the repository's top-level folders
(bridge/, cli/, explain/, kb/, service/), committed here as relative links,
so that the installed wheel, an editable install and tools run from the
repository (mypy, pyright, import-linter) all see the same `policykb.*`
modules at the same files.

`policykb.__version__` is the installed distribution's version, read from its
metadata (pyproject.toml is the one place it is written). It is read on first
use: importing importlib.metadata would cost every command's start-up.
"""

from __future__ import annotations


def __getattr__(name: str) -> str:
    if name == "__version__":
        from policykb.bridge.model.release import version

        return version()
    raise AttributeError(f"module 'policykb' has no attribute {name!r}")
