"""The optional parts of policykb (pyproject.toml's extras) and the modules
each provides, so that a command missing one can say which extra to install.

The base install is the CLI and the library; `serve` adds the service,
`lake` Parquet, Arrow and Dask, `report` the impact report's page and chart.
Invariant: a module is listed under one extra only, and under none when the
base install provides it (its absence is then a defect, not a choice).
"""

from __future__ import annotations

from policykb.bridge.model.errors import ExtraMissing

EXTRAS: dict[str, frozenset[str]] = {
    "serve": frozenset({"fastapi", "starlette", "pydantic", "uvicorn", "fhirpathpy", "jwt"}),
    "lake": frozenset({"pyarrow", "dask", "distributed"}),
    "report": frozenset({"matplotlib", "jinja2", "markupsafe"}),
}
"""Each extra's top-level modules that policykb imports (PyJWT imports as jwt;
httptools and uvloop are left out: uvicorn uses them when they are there;
jinja2 brings markupsafe, which the impact page's filters call too;
ucumvert and pint are the base install's: policies' units are checked by UCUM)."""


def extra_of(module: str) -> str | None:
    """The extra that provides `module` (a dotted name), or None."""
    top = module.partition(".")[0]
    return next((extra for extra, modules in EXTRAS.items() if top in modules), None)


def require_extra(extra: str) -> None:
    """Raise ExtraMissing unless every module of `extra` can be imported.

    For the commands that need an extra as a whole (serve, replay): checked
    before they start, so that no layer below can mistake the missing module
    for an error of its own (a FHIRPath mapping that "does not parse")."""
    from importlib.util import find_spec

    for module in sorted(EXTRAS[extra]):
        try:
            found = find_spec(module) is not None
        except ModuleNotFoundError:
            found = False
        if not found:
            raise _missing(module, extra)


def _missing(module: str, extra: str) -> ExtraMissing:
    return ExtraMissing(
        f"this needs {module!r}, from the extra {extra!r}: pip install 'policykb[{extra}]'"
    )


def missing_extra(error: ModuleNotFoundError) -> ExtraMissing | None:
    """The ExtraMissing that a failed import means, or None when the missing
    module belongs to no extra (a broken install: not the user's choice)."""
    extra = extra_of(error.name or "")
    if extra is None:
        return None
    return _missing(error.name or "", extra)
