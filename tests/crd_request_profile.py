"""The orders a CRD service updates, checked against CRD's request profiles
and the US Core profiles they derive from (CRD 2.2.1 resp-47), offline.

No FHIR validator runs here offline (the IG packages come only from the FHIR
package registry, and no Python library validates against profiles), so the
profile chain is walked from the IG sources, kept under
tests/fixtures/crd_profiles with their origin:

    CRD profile (FSH)  ->  US Core 7.0.0 profile (JSON differential)  ->  FHIR R4

The FHIR base is checked by fhir.resources' R4B models (types, base
cardinalities, primitive formats: the project's own validator of returned
resources). Above it, what each differential states:

- cardinalities (min..max) of each element, counted under each instance of
  its parent (`a.b 1..` holds of every `a` present);
- `only` restrictions: which value[x] types may be present, and which
  resource types a Reference may point to (relative, absolute or `#contained`
  references; a reference by identifier alone names no type);
- required bindings to a value set whose codes the sources list;
- invariants (`obeys` in FSH, `constraint` in JSON) by their FHIRPath, run
  with fhirpathpy on the element they are declared on;
- the cardinality of a slice whose membership is decidable without a
  terminology server: discriminated by `value` on a sub-element the slice
  fixes (`type = $v3-ParticipationType#PPRF`) and by `profile` on a
  Reference's target type (CRDAppointmentBase's Patient 1..1 and
  PrimaryPerformer 1..*).

mustSupport is not a constraint on an instance and is not checked. What the
checker does not enforce is not dropped silently: every rule of every profile
is either enforced or listed by `unchecked()` with the reason (other slices:
by code against a value set no mirror expands, or extensions by url and value;
extensible and preferred bindings; required bindings to value sets no mirror
lists). tests/service/test_crd_request_profiles.py holds that list fixed.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

PROFILES = Path(__file__).parent / "fixtures" / "crd_profiles"
US_CORE = "http://hl7.org/fhir/us/core/StructureDefinition/"
CRD_PROFILE_FILES = {
    # CRD profile name: the FSH file that declares it
    "CRDServiceRequest": "ServiceRequest.fsh",
    "CRDMedicationRequest": "MedicationRequest.fsh",
    "CRDDeviceRequest": "DeviceRequest.fsh",
    "CRDAppointmentBase": "Appointment.fsh",
    "CRDAppointmentWithOrder": "Appointment.fsh",
    "CRDAppointmentNoOrder": "Appointment.fsh",
    "CRDEncounter": "Encounter.fsh",
    "CRDNutritionOrder": "NutritionOrder.fsh",
    "CRDCommunicationRequest": "CommunicationRequest.fsh",
    "CRDVisionPrescription": "VisionPrescription.fsh",
}
US_CORE_FILES = {
    # The US Core parents CRD names (`Parent: ...|7.0.0`): their JSON
    "USCoreServiceRequestProfile": "structuredefinition-us-core-servicerequest.json",
    "USCoreMedicationRequestProfile": "StructureDefinition-us-core-medicationrequest.json",
    "USCoreEncounterProfile": "StructureDefinition-us-core-encounter.json",
}
RESOURCE_TYPES = (
    # The resource types a profile named in a Reference(...) or targetProfile
    # may constrain; a profile's type is the first of these its name holds
    # (the longest, where two start at one place: PractitionerRole).
    "AllergyIntolerance",
    "Appointment",
    "CommunicationRequest",
    "Condition",
    "Coverage",
    "Device",
    "DeviceRequest",
    "DiagnosticReport",
    "DocumentReference",
    "Encounter",
    "Group",
    "ImmunizationRecommendation",
    "Location",
    "Medication",
    "MedicationRequest",
    "NutritionOrder",
    "Observation",
    "Organization",
    "Patient",
    "Practitioner",
    "PractitionerRole",
    "Procedure",
    "RelatedPerson",
    "ServiceRequest",
    "VisionPrescription",
)
DATATYPES = {
    # FSH/StructureDefinition type name: the value[x] suffix of the type
    "CRDTiming": "Timing",
}


def profile_of(resource: dict[str, Any]) -> str | None:
    """The CRD request profile an updated `resource` is to comply with. An
    Appointment with `basedOn` is CRDAppointmentWithOrder (which requires
    it), one without is CRDAppointmentNoOrder."""
    kind = resource.get("resourceType")
    if kind == "Appointment":
        return "CRDAppointmentWithOrder" if resource.get("basedOn") else "CRDAppointmentNoOrder"
    name = f"CRD{kind}"
    return name if name in CRD_PROFILE_FILES else None


@dataclass
class Rule:
    """One enforced constraint of a profile on the elements at `path` (below
    the resource; empty: the resource itself)."""

    source: str  # profile name, for the message
    path: tuple[str, ...]
    minimum: int | None = None
    maximum: int | None = None  # None: no upper bound stated
    types: frozenset[str] = frozenset()  # allowed value[x] suffixes (choice paths)
    targets: frozenset[str] = frozenset()  # allowed Reference target types
    codes: frozenset[tuple[str | None, str]] | None = None  # a required binding
    binding: str = ""
    invariant: tuple[str, str] | None = None  # (key, FHIRPath)


@dataclass
class Slice:
    """A slice of a repeating element whose membership the checker can
    decide: each discriminator is `value` on a sub-path the slice fixes to a
    code (or leaves open), or `profile` on `sub-path.resolve()` the slice
    restricts to Reference types (or leaves open). Only its cardinality is
    left to check: what decides membership holds of every member."""

    source: str
    path: tuple[str, ...]  # the sliced element
    name: str
    minimum: int
    maximum: int | None
    discriminators: list[tuple[str, str]]  # (type, path)
    fixed: dict[str, tuple[str, str]] = field(default_factory=dict)  # sub-path: (system, code)
    targets: dict[str, frozenset[str]] = field(default_factory=dict)  # sub-path: types
    counted: dict[str, int] = field(default_factory=dict)  # sub-path: its max in a member


@dataclass
class Profile:
    name: str
    parent: str
    rules: list[Rule] = field(default_factory=list)
    slices: list[Slice] = field(default_factory=list)
    unchecked: list[tuple[str, str]] = field(default_factory=list)  # (rule, why)


def _resource_type(profile: str) -> str:
    """The resource type a named profile (or canonical) constrains."""
    name = profile.rsplit("/", 1)[-1].split("|")[0].replace("-", "").lower()
    held = [t for t in RESOURCE_TYPES if t.lower() in name]
    assert held, f"no resource type for profile {profile}"
    return min(held, key=lambda t: (name.index(t.lower()), -len(t)))


def _type_names(choices: str) -> tuple[set[str], set[str]]:
    """The types and Reference targets of an FSH `only` list."""
    targets: set[str] = set()
    for inner in re.findall(r"Reference\(([^)]*)\)", choices):
        targets |= {_resource_type(t.strip()) for t in inner.split(" or ")}
    rest = re.sub(r"Reference\([^)]*\)", "Reference", choices)
    types = {DATATYPES.get(t.strip(), t.strip()) for t in rest.split(" or ") if t.strip()}
    return types, targets


def _strip_comments(text: str) -> str:
    text = re.sub(r"/\*.*?\*/", "", text, flags=re.S)
    return re.sub(r"^\s*//.*$", "", text, flags=re.M)


@cache
def _fsh_invariants(file: str) -> dict[str, str]:
    text = (PROFILES / file).read_text(encoding="utf-8")
    return {
        m["key"]: m["expression"]
        for m in re.finditer(
            r'^Invariant: (?P<key>\S+)\n(?:.*\n)*?Expression: "(?P<expression>[^"]*)"', text, re.M
        )
    }


@cache
def _fsh_profile(name: str) -> Profile:
    """A CRD profile's rules, read from its FSH. A rule's path is its own
    joined to the paths of the rules it is indented under; a rule inside a
    slice (`[name]`, not `[x]`) is left unchecked."""
    file = CRD_PROFILE_FILES[name]
    text = _strip_comments((PROFILES / file).read_text(encoding="utf-8"))
    block = re.search(
        rf"^Profile: {name}\n(?P<body>(?:.*\n?)*?)(?=^Profile: |^Invariant: |\Z)", text, re.M
    )
    assert block is not None, name
    body = block["body"]
    parent = re.search(r"^Parent: (\S+)", body, re.M)
    assert parent is not None
    profile = Profile(name, parent[1].split("|")[0].lstrip("$"))
    stack: list[tuple[int, tuple[str, ...]]] = []
    discriminators: dict[tuple[str, ...], list[tuple[str, str]]] = {}
    sliced: list[tuple[tuple[str, ...], str, str]] = []  # (path, rule, line)
    for line in body.splitlines():
        rule = re.match(r"^( *)\* (\S+)\s*(.*)$", line)
        if rule is None:
            continue
        indent, head, rest = len(rule[1]), rule[2], rule[3].strip()
        while stack and stack[-1][0] >= indent:
            stack.pop()
        above = stack[-1][1] if stack else ()
        if head.startswith("^"):
            continue  # metadata of the element, not a constraint on instances
        if head == "obeys":
            for key in rest.split(" and "):
                expression = _fsh_invariants(file)[key]
                profile.rules.append(Rule(name, above, invariant=(key, expression)))
            continue
        path = above + tuple(head.split("."))
        stack.append((indent, path))
        slicing = r"\^slicing\.discriminator\[(\+|=)\]\.(type|path) = (.+)"
        discriminator = re.fullmatch(slicing, rest)
        if discriminator:
            found = discriminators.setdefault(path, [])
            if discriminator[1] == "+":
                found.append(("", ""))
            kind, value = found[-1]
            if discriminator[2] == "type":
                found[-1] = (discriminator[3].lstrip("#"), value)
            else:
                found[-1] = (kind, discriminator[3].strip('"'))
            continue
        if rest.startswith("^"):
            continue  # `* path ^meta = ...`: metadata again
        rest = re.sub(r"\s*\bMS\b", "", rest).strip()
        if re.search(r"\[(?!x\])[^\]]+\]", head + "".join(above)) or rest.startswith("contains "):
            sliced.append((path, rest, line.strip()))
            continue
        _read_fsh_rule(profile, path, rest, line.strip())
    _read_slices(profile, discriminators, sliced)
    return profile


def _aliases() -> dict[str, str]:
    text = (PROFILES / "aliases.fsh").read_text(encoding="utf-8")
    return dict(re.findall(r"^Alias: (\S+)\s*= (\S+)", text, re.M))


def _read_slices(
    profile: Profile,
    discriminators: dict[tuple[str, ...], list[tuple[str, str]]],
    rules: list[tuple[tuple[str, ...], str, str]],
) -> None:
    """The slices whose membership is decidable (see Slice); every rule of
    any other slice, or a rule of a slice this cannot read, is unchecked."""
    decidable = {
        path: found
        for path, found in discriminators.items()
        if path[-1] != "extension"
        and all(
            (kind in ("value", "pattern") and where != "$this")
            or (kind == "profile" and where.endswith(".resolve()"))
            for kind, where in found
        )
    }
    slices: dict[tuple[tuple[str, ...], str], Slice] = {}
    for path, rest, _ in rules:
        contains = re.fullmatch(r"contains (.+)", rest)
        if contains and path in decidable:
            for m in re.finditer(r"([\w-]+) (\d+)\.\.(\d+|\*)", contains[1]):
                maximum = None if m[3] == "*" else int(m[3])
                item = Slice(profile.name, path, m[1], int(m[2]), maximum, decidable[path])
                slices[(path, m[1])] = item
    # What decides membership first: a slice's fixed values and Reference
    # types, then the rules that may lean on them.
    for path, rest, line in sorted(rules, key=lambda r: not r[1].startswith(("=", "only "))):
        if not rest or (re.fullmatch(r"contains (.+)", rest) and path in decidable):
            continue  # a path that only opens nested rules; a slicing read above
        owner = next(
            (
                (item, path[index + 1 :])
                for index, step in enumerate(path)
                for (where, name), item in slices.items()
                if step == f"{where[-1]}[{name}]" and path[:index] == where[:-1]
            ),
            None,
        )
        if owner is None:
            profile.unchecked.append((line, "a slice: membership needs its discriminator resolved"))
            continue
        item, below = owner
        sub = ".".join(below)
        fixed = re.fullmatch(r"= (\S+)#(\S+)", rest)
        only = re.fullmatch(r"only (.+)", rest)
        if fixed and any(where == sub for _, where in item.discriminators):
            item.fixed[sub] = (_aliases().get(fixed[1], fixed[1]), fixed[2])
        elif only and any(where == f"{sub}.resolve()" for _, where in item.discriminators):
            item.targets[sub] = frozenset(_type_names(only[1])[1])
        elif rest == "1..1" and sub in item.fixed and not below[-1].endswith("]"):
            # A non-repeating (R4: Appointment.participant.type is 0..*)
            # fixed element: every member has one; more than one is counted.
            item.counted[sub] = 1
        else:
            profile.unchecked.append((line, "a rule inside a slice: not enforced"))
    profile.slices += slices.values()


def _read_fsh_rule(profile: Profile, path: tuple[str, ...], rest: str, line: str) -> None:
    if not rest:
        return  # mustSupport alone, or a path that only opens nested rules
    cardinality = re.fullmatch(r"(\d*)\.\.(\d+|\*)?", rest)
    only = re.fullmatch(r"only (.+)", rest)
    bound = re.fullmatch(r"from\s+(\S+)(?: \((\w+)\))?", rest)
    if cardinality:
        minimum = int(cardinality[1]) if cardinality[1] else None
        maximum = None if cardinality[2] in (None, "*") else int(cardinality[2])
        profile.rules.append(Rule(profile.name, path, minimum=minimum, maximum=maximum))
    elif only:
        types, targets = _type_names(only[1])
        if "CRDTiming" in only[1]:
            profile.unchecked.append((line, "CRDTiming's own constraints (a Timing is checked)"))
        choice = path[-1].endswith("[x]")
        profile.rules.append(
            Rule(
                profile.name,
                path,
                types=frozenset(types) if choice else frozenset(),
                targets=frozenset(targets),
            )
        )
    elif bound:
        strength = bound[2] or "example"  # FSH's default strength
        why = f"{strength} binding" + (
            " to a value set no mirror lists" if strength == "required" else " binds no code"
        )
        profile.unchecked.append((line, why))
    else:
        raise AssertionError(f"{profile.name}: a rule the checker cannot read: {line}")


@cache
def _us_core_profile(name: str) -> Profile:
    """A US Core profile's rules, read from its JSON differential."""
    definition = json.loads((PROFILES / US_CORE_FILES[name]).read_text(encoding="utf-8"))
    profile = Profile(name, definition["baseDefinition"].rsplit("/", 1)[-1])
    for element in definition["differential"]["element"]:
        where = element["id"]
        path = tuple(where.split(".")[1:])
        if ":" in where:
            for key in ("min", "max", "binding", "type", "constraint", "fixedCode"):
                if key in element:
                    profile.unchecked.append((f"{where} {key}", "a slice"))
            continue
        maximum = element.get("max")
        if "min" in element or maximum not in (None, "*"):
            profile.rules.append(
                Rule(
                    name,
                    path,
                    minimum=element.get("min"),
                    maximum=None if maximum in (None, "*") else int(maximum),
                )
            )
        for kind in element.get("type", []):
            if kind["code"] == "Reference" and kind.get("targetProfile"):
                targets = frozenset(_resource_type(t) for t in kind["targetProfile"])
                profile.rules.append(Rule(name, path, targets=targets))
        if path and path[-1].endswith("[x]") and element.get("type"):
            types = frozenset(t["code"] for t in element["type"])
            profile.rules.append(Rule(name, path, types=types))
        binding = element.get("binding")
        if binding is not None:
            why = f"{binding['strength']} binding" + (
                f" to {binding['valueSet']}, which no mirror lists"
                if binding["strength"] == "required"
                else " binds no code"
            )
            profile.unchecked.append((f"{where} binding", why))
        for constraint in element.get("constraint", []):
            invariant = (constraint["key"], constraint["expression"])
            profile.rules.append(Rule(name, path, invariant=invariant))
        for key in element:
            if key.startswith(("fixed", "pattern")):
                raise AssertionError(f"{name}: {where} {key}: not read")  # none in these
    return profile


def chain(name: str) -> list[Profile]:
    """`name` and each profile it derives from, up to (not including) the
    FHIR base resource, which fhir.resources checks."""
    found: list[Profile] = []
    while name in CRD_PROFILE_FILES or name in US_CORE_FILES:
        profile = _fsh_profile(name) if name in CRD_PROFILE_FILES else _us_core_profile(name)
        found.append(profile)
        name = profile.parent
    return found


def unchecked(name: str) -> list[tuple[str, str, str]]:
    """(profile, rule, why) for each rule of `name`'s chain not enforced."""
    return [(p.name, rule, why) for p in chain(name) for rule, why in p.unchecked]


def _values(node: Any, step: str) -> list[Any]:
    """The values of `step` in one element (lists flattened; `a[x]`: every
    `aType` key)."""
    if not isinstance(node, dict):
        return []
    if step.endswith("[x]"):
        stem = step[:-3]
        found = [v for k, v in node.items() if k.startswith(stem) and k[len(stem) :][:1].isupper()]
    else:
        found = [node[step]] if step in node else []
    flat: list[Any] = []
    for value in found:
        flat += value if isinstance(value, list) else [value]
    return flat


def _nodes(resource: dict[str, Any], path: tuple[str, ...]) -> list[Any]:
    nodes: list[Any] = [resource]
    for step in path:
        nodes = [v for node in nodes for v in _values(node, step)]
    return nodes


def _where(path: tuple[str, ...]) -> str:
    return ".".join(path) or "(the resource)"


def _target_type(resource: dict[str, Any], reference: Any) -> str | None:
    """The resource type a Reference points to, where the reference says."""
    if not isinstance(reference, dict):
        return None
    target = reference.get("reference")
    if not isinstance(target, str):
        return reference.get("type") if isinstance(reference.get("type"), str) else None
    if target.startswith("#"):
        contained = [c for c in resource.get("contained", []) if c.get("id") == target[1:]]
        return contained[0].get("resourceType") if contained else None
    steps = target.split("?")[0].split("/")
    if len(steps) >= 4 and steps[-2] == "_history":
        steps = steps[:-2]
    return steps[-2] if len(steps) >= 2 else None


def _rule_problems(resource: dict[str, Any], rule: Rule) -> list[str]:
    found: list[str] = []
    where = f"{rule.source}: {_where(rule.path)}"
    if rule.minimum is not None or rule.maximum is not None:
        for parent in _nodes(resource, rule.path[:-1]):
            count = len(_values(parent, rule.path[-1]))
            low = rule.minimum or 0
            if count < low or (rule.maximum is not None and count > rule.maximum):
                high = "*" if rule.maximum is None else rule.maximum
                found.append(f"{where}: {count} present, cardinality {low}..{high}")
    if rule.types:
        stem = rule.path[-1][:-3]
        for parent in _nodes(resource, rule.path[:-1]):
            if not isinstance(parent, dict):
                continue
            for key in parent:
                suffix = key[len(stem) :]
                if key.startswith(stem) and suffix[:1].isupper():
                    allowed = {t[0].upper() + t[1:] for t in rule.types}
                    if suffix not in allowed:
                        found.append(f"{where}: {key} is not among {sorted(allowed)}")
    if rule.targets:
        path = rule.path
        if path[-1].endswith("[x]"):
            path = (*path[:-1], path[-1][:-3] + "Reference")
        for reference in _nodes(resource, path):
            kind = _target_type(resource, reference)
            if kind is not None and kind not in rule.targets:
                found.append(f"{where}: a reference to a {kind}, not {sorted(rule.targets)}")
    if rule.invariant is not None:
        import fhirpathpy
        from fhirpathpy.models import models

        key, expression = rule.invariant
        for node in _nodes(resource, rule.path):
            if fhirpathpy.evaluate(node, expression, model=models["r4"]) != [True]:
                found.append(f"{where}: invariant {key} ({expression}) does not hold")
    return found


def _member(resource: dict[str, Any], element: Any, item: Slice) -> bool:
    for kind, where in item.discriminators:
        sub = where.removesuffix(".resolve()")
        values = _nodes(element, tuple(sub.split("."))) if isinstance(element, dict) else []
        if kind == "profile" and sub in item.targets:
            if not any(_target_type(resource, v) in item.targets[sub] for v in values):
                return False
        elif kind != "profile" and sub in item.fixed:
            system, code = item.fixed[sub]
            codings = [c for v in values if isinstance(v, dict) for c in v.get("coding", [v])]
            if not any(c.get("system") == system and c.get("code") == code for c in codings):
                return False
    return True


def _slice_problems(resource: dict[str, Any], item: Slice) -> list[str]:
    found: list[str] = []
    for parent in _nodes(resource, item.path[:-1]):
        members = [e for e in _values(parent, item.path[-1]) if _member(resource, e, item)]
        for index, member in enumerate(members):
            for sub, most in item.counted.items():
                present = len(_nodes(member, tuple(sub.split("."))))
                if present > most:
                    where = f"{item.source}: {_where(item.path)}[{item.name}]"
                    found.append(f"{where} #{index}: {sub}: {present} present, at most {most}")
        count = len(members)
        if count < item.minimum or (item.maximum is not None and count > item.maximum):
            high = "*" if item.maximum is None else item.maximum
            where = f"{item.source}: {_where(item.path)}[{item.name}]"
            found.append(f"{where}: {count} present, cardinality {item.minimum}..{high}")
    return found


def _base_problems(resource: dict[str, Any]) -> list[str]:
    """FHIR R4's own definition of the resource type (fhir.resources, R4B)."""
    from fhir.resources.R4B import get_fhir_model_class
    from pydantic import ValidationError

    try:
        get_fhir_model_class(resource["resourceType"]).model_validate(resource)
    except ValidationError as error:
        return [
            f"FHIR {resource['resourceType']}: {'.'.join(map(str, e['loc']))}: {e['msg']}"
            for e in error.errors()
        ]
    return []


def problems(resource: dict[str, Any]) -> list[str]:
    """Every way `resource` departs from its CRD request profile, the US Core
    profile under it and FHIR R4 (empty: conforms, as far as `unchecked`
    says). A resource of no CRD request type is one problem."""
    name = profile_of(resource)
    if name is None:
        return [f"{resource.get('resourceType')!r} is not a type CRD has a request profile for"]
    found = _base_problems(resource)
    for profile in chain(name):
        for rule in profile.rules:
            found += _rule_problems(resource, rule)
        for item in profile.slices:
            found += _slice_problems(resource, item)
    return found
