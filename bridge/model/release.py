"""The release of policykb that is installed: one version, from package metadata.

pyproject.toml is the one place the version is written; the CLI's --version,
`policykb.__version__` and the service's OpenAPI document read it from the
installed distribution's metadata, so they cannot disagree.
"""

from __future__ import annotations

DISTRIBUTION = "policykb"


def version() -> str:
    """The installed distribution's version (for example "0.1.0").

    Raises importlib.metadata.PackageNotFoundError when policykb is imported
    from a source tree that was never installed: there is no version to state."""
    from importlib.metadata import version as installed_version

    return installed_version(DISTRIBUTION)
