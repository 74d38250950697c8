"""CRD's configuration options: advertised in discovery, honoured per call.

A service lists its options in discovery (`davinci-crd.configuration-options`,
dev-4: code, type, name, description, default) and a client sets them on a
call (`extension["davinci-crd.configuration"]`, an object of code to value).
There is one option per response type the service returns (dev-5), with the
CRD Response Types code (dev-7): `coverage-info` (the coverage-information
system actions) and `instructions` (the card listing what is still to be
answered). An option the service does not know, or a value of the wrong type,
is ignored (dev-17, dev-6); no option is required (dev-15).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

CONFIGURATION = "davinci-crd.configuration"
OPTIONS_EXTENSION = "davinci-crd.configuration-options"
VERSION_EXTENSION = "davinci-crd.version"
REQUESTED_VERSION = "davinci-crd.requestedVersion"
CRD_VERSIONS = ("2.2",)
"""The CRD versions served (dev-1): 2.2 (the 2.2.1 technical correction);
discovery names versions as the IG's own example does, major.minor."""

OPTIONS: tuple[dict[str, Any], ...] = (
    {
        "code": "coverage-info",
        "type": "boolean",
        "name": "Coverage Information",
        "description": (
            "Whether each order a coverage policy decides is returned with CRD's "
            "coverage-information extension (covered, prior authorization, "
            "documentation needed, the criteria cited) in a system action."
        ),
        "default": True,
    },
    {
        "code": "instructions",
        "type": "boolean",
        "name": "Instructions",
        "description": (
            "On order-sign, a card listing the questions the policy still needs "
            "answered before it can decide, and the questionnaire that asks them."
        ),
        "default": True,
    },
)


@dataclass(frozen=True)
class Configuration:
    """The options a call set, over their defaults."""

    coverage_info: bool = True
    instructions: bool = True

    @classmethod
    def of(cls, extension: object) -> Configuration:
        """The configuration of a call's `extension` object (anything else: the defaults)."""
        chosen = extension.get(CONFIGURATION) if isinstance(extension, Mapping) else None
        if not isinstance(chosen, Mapping):
            return cls()

        def flag(code: str) -> bool:
            value = chosen.get(code)
            return value if isinstance(value, bool) else True

        return cls(coverage_info=flag("coverage-info"), instructions=flag("instructions"))


def discovery_extension() -> dict[str, Any]:
    """The extension object of each service in discovery."""
    return {
        VERSION_EXTENSION: list(CRD_VERSIONS),
        OPTIONS_EXTENSION: [dict(option) for option in OPTIONS],
    }


def unserved_version(extension: object) -> str | None:
    """The CRD version a call asks for, when it names one it is not served
    (the request-version extension: the service SHALL return an error)."""
    asked = extension.get(REQUESTED_VERSION) if isinstance(extension, Mapping) else None
    if asked is None:
        return None
    if not isinstance(asked, str) or not any(
        asked == version or asked.startswith(f"{version}.") for version in CRD_VERSIONS
    ):
        return str(asked)[:40]
    return None
