"""Change impact (`diff`): where two versions of a policy decide differently.

Symbolic, like check: the old version becomes a renamed copy sharing the
scenario with the new one, and kb/meta/diff.lp marks the scenarios whose
verdict changes. Each region of change is a minimal condition, found by the
same hitting-set search as explanations.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

from clingo import Function, Symbol

from policykb.bridge.analysis.placements import runs
from policykb.bridge.analysis.policy_rules import policy_rules
from policykb.bridge.analysis.regions import (
    DateTests,
    Offset,
    example,
    merge,
    region_assumptions,
    shown,
    widened,
)
from policykb.bridge.analysis.witness import case_value, stated_operands
from policykb.bridge.compile.conditions import ConditionCircuits, condition_circuits
from policykb.bridge.compile.prepared import Undecided
from policykb.bridge.loading.files import meta_file
from policykb.bridge.loading.region_facts import (
    fact_statements,
    passes,
    region_symbols,
    with_regions,
)
from policykb.bridge.model.errors import PolicyError
from policykb.bridge.model.policy import Policy, Span, Value
from policykb.bridge.model.result import Verdict, json_value, value_words
from policykb.bridge.model.typed import Interval
from policykb.bridge.model.version import PolicyVersion
from policykb.bridge.solving.evaluator import Evaluator
from policykb.bridge.solving.query import QueryProgram
from policykb.bridge.solving.transform import renamed_copy

OLD = "kb_old_"
MAX_REGIONS = 200


@dataclass(frozen=True)
class VerdictChange:
    """A region of scenarios whose verdict changes, as a minimal condition."""

    conditions: Mapping[str, Value | Span]
    old: Verdict
    new: Verdict
    witness: Mapping[str, Value]
    region: Mapping[str, object] = dataclasses.field(default_factory=dict, compare=False)
    """The condition over the facts' scenario values (regions for typed facts)."""

    @property
    def summary(self) -> str:
        condition = " and ".join(f"{f}={value_words(v)}" for f, v in self.conditions.items())
        return f"{condition or 'every scenario'}: {self.old.value} -> {self.new.value}"

    def to_dict(self) -> dict[str, Any]:
        conditions = {
            f: {v.key: v.data} if isinstance(v, Span) else json_value(v)
            for f, v in self.conditions.items()
        }
        return {
            "summary": self.summary,
            "conditions": conditions,
            "old": self.old.value,
            "new": self.new.value,
            "witness": {"facts": {f: json_value(v) for f, v in self.witness.items()}},
        }


@dataclass(frozen=True)
class CriterionChange:
    id: str
    change: str
    detail: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "change": self.change, "detail": self.detail}


@dataclass(frozen=True)
class DiffReport:
    old: str
    new: str
    changes: tuple[VerdictChange, ...]
    criteria: tuple[CriterionChange, ...]
    facts: tuple[CriterionChange, ...] = ()
    capped: bool = False
    old_version: PolicyVersion | None = None
    new_version: PolicyVersion | None = None
    policy: Policy | None = dataclasses.field(default=None, compare=False)
    """Both versions' facts over one set of regions (what `region` values are in)."""

    @property
    def empty(self) -> bool:
        return not (self.changes or self.criteria or self.facts)

    def to_dict(self) -> dict[str, Any]:
        return {
            "old": self.old,
            "new": self.new,
            "old_version": self.old_version.to_dict() if self.old_version else None,
            "new_version": self.new_version.to_dict() if self.new_version else None,
            "changes": [c.to_dict() for c in self.changes],
            "criteria": [c.to_dict() for c in self.criteria],
            "facts": [c.to_dict() for c in self.facts],
            "capped": self.capped,
        }


def _rules_by_criterion(evaluator: Evaluator) -> dict[str, set[str]]:
    grouped: dict[str, set[str]] = {}
    for rule in policy_rules(evaluator):
        if rule.criterion is not None:
            text = str(rule.statement)
            grouped.setdefault(rule.criterion, set()).add(text)
    return grouped


def _criteria_changes(old: Evaluator, new: Evaluator) -> list[CriterionChange]:
    changes: list[CriterionChange] = []
    before, after = old.policy.criteria, new.policy.criteria
    old_rules, new_rules = _rules_by_criterion(old), _rules_by_criterion(new)
    for ident in [*before, *(i for i in after if i not in before)]:
        if ident not in after:
            changes.append(CriterionChange(ident, "removed", before[ident].text))
        elif ident not in before:
            changes.append(CriterionChange(ident, "added", after[ident].text))
        else:
            details = [
                f"{name} changed"
                for name in (
                    "text",
                    "place",
                    "role",
                    "section",
                    "parents",
                    "parts",
                    "combines",
                    "needed",
                )
                if getattr(before[ident], name) != getattr(after[ident], name)
            ]
            if old_rules.get(ident, set()) != new_rules.get(ident, set()):
                details.append("its rules changed")
            if details:
                changes.append(CriterionChange(ident, "changed", "; ".join(details)))
    return changes


def _fact_changes(old: Policy, new: Policy) -> list[CriterionChange]:
    changes = [CriterionChange(f, "removed") for f in old.facts if f not in new.facts]
    changes += [CriterionChange(f, "added") for f in new.facts if f not in old.facts]
    for name in old.facts.keys() & new.facts.keys():
        a, b = old.facts[name], new.facts[name]
        details = [
            f"{attr} changed"
            for attr in ("type", "options", "default")
            if getattr(a, attr) != getattr(b, attr)
        ]
        if details:
            changes.append(CriterionChange(name, "changed", "; ".join(details)))
    return changes


def diff_policies(old: Evaluator, new: Evaluator, as_of: date | None = None) -> DiffReport:
    """The scenarios whose verdict changes between two versions, as minimal
    conditions, and the criteria and facts added, removed or changed.

    Two versions that compare dates with two reference dates are compared as
    of `as_of` (the first reference date on that day), over every placement
    of the second relative to it (placements.py): each region then states
    where the second reference date stands from the first, and each date
    compared with a reference date by the comparisons it passes and fails,
    so it holds on a case by the case's own dates."""
    several = several_references(old, new)
    if (
        as_of is not None
        and not (old.anchors or new.anchors)
        and (old.references or new.references)
    ):
        if len(several) > 2:
            raise PolicyError(
                f"{new.policy.name} compares dates with {len(several)} reference dates "
                f"({', '.join(several)}): diff relates two at most"
            )
        return _diff_placed(old, new, as_of)
    if several:
        raise PolicyError(
            f"{new.policy.name} compares dates with {len(several)} reference dates "
            f"({', '.join(several)}): diff compares two of them as of a day (--as-of), "
            "not grounded on one day, and not three or more"
        )
    changes, capped, merged = _diff_at(old, new)
    return _report(old, new, changes, capped, merged)


def _report(
    old: Evaluator,
    new: Evaluator,
    changes: Sequence[VerdictChange],
    capped: bool,
    merged: Policy,
) -> DiffReport:
    return DiffReport(
        old=str(old.source.entry),
        new=str(new.source.entry),
        changes=tuple(changes),
        criteria=tuple(_criteria_changes(old, new)),
        facts=tuple(_fact_changes(old.policy, new.policy)),
        capped=capped,
        old_version=old.policy.version,
        new_version=new.policy.version,
        policy=merged,
    )


def _diff_at(old: Evaluator, new: Evaluator) -> tuple[list[VerdictChange], bool, Policy]:
    """The regions of change of two versions, each grounded once."""
    shared = set(old.policy.facts) & set(new.policy.facts)
    if not shared:
        raise PolicyError(
            f"{old.policy.name} and {new.policy.name} share no fact: "
            "they are not two versions of one policy"
        )
    for name in sorted(shared):
        was, now = old.policy.facts[name], new.policy.facts[name]
        if was.type is not now.type:
            raise PolicyError(
                f"fact {name!r} is {was.type_label} in {old.policy.name} but "
                f"{now.type_label} in {new.policy.name}: rename it in one version"
            )
    facts = {**old.policy.facts, **new.policy.facts}
    merged = dataclasses.replace(new.policy, facts=facts)
    if merged.typed:
        merged, statements = _typed_programs(old, new, merged)
    else:
        statements = [*new.statements, *renamed_copy(old.statements, OLD)]
    program = QueryProgram(merged, statements, [meta_file("diff")], "diff program")
    changes_of = {
        (before, after): Function("kb_change", [Function(before.value), Function(after.value)])
        for before, after in (
            (Verdict.COVERED, Verdict.NOT_COVERED),
            (Verdict.NOT_COVERED, Verdict.COVERED),
        )
    }
    # The changes as circuits, where both versions compile (with reference
    # dates: once they are fixed, as for compiling).
    unanchored = any(e.references and not e.anchors for e in (old, new))
    circuits = (
        None
        if unanchored
        else condition_circuits(
            merged, statements, "the diff circuits", [meta_file("diff")], changes_of.values()
        )
    )
    decision = [f for f in facts if f in set(old.decision_facts) | set(new.decision_facts)]
    found: list[tuple[dict[str, object], tuple[Verdict, Verdict]]] = []
    capped = False
    for (before, after), symbol in changes_of.items():
        if not program.has(symbol):
            continue
        changed = program.literal(symbol)
        outside: list[int] = []
        while True:
            scenario = program.scenario([changed, *(-r for r in outside)], decision)
            if scenario is None:
                break
            if len(found) >= MAX_REGIONS:
                capped = True
                break
            known = {f: v for f, v in scenario.items() if v is not None}
            smallest = _smallest(program, circuits, symbol, changed, known)
            region = widened(program, merged, {f: known[f] for f in smallest}, -changed)
            found.append((region, (before, after)))
            with program.ctl.backend() as backend:
                atom = backend.add_atom()
                backend.add_rule([atom], region_assumptions(program, region))
            outside.append(atom)
    anchors = {**old.anchor_values(), **new.anchor_values()}
    changes = [
        VerdictChange(
            {f: shown(merged, f, v) for f, v in region.items()},
            before,
            after,
            {
                **anchors,
                **{
                    f: case_value(merged.facts[f], v)
                    for f, v in stated_operands(
                        merged, {f: example(merged, f, v) for f, v in region.items()}
                    ).items()
                },
            },
            region,
        )
        for region, (before, after), _ in merge(merged, found)
    ]
    return changes, capped, merged


def _placed(evaluator: Evaluator, placement: Mapping[str, int]) -> Evaluator:
    """The version grounded at the reference dates it declares."""
    return evaluator.at(
        {f: d for f, d in placement.items() if f in evaluator.policy.facts}, fixed=True
    )


def _relative_shown(
    policy: Policy, fact: str, value: object, witness: Mapping[str, Value]
) -> Value | Span:
    """A region's value in the analyst's terms, relative ones included (with
    the witness's value as their example)."""
    if isinstance(value, DateTests):
        return Span("tests", value.words, value.words, witness[fact])
    if isinstance(value, Offset):
        return Span("offset", value.words, value.words, witness[fact])
    return shown(policy, fact, value)


def several_references(old: Evaluator, new: Evaluator) -> list[str]:
    """The reference dates of both versions when there are more than one."""
    found = list(dict.fromkeys([*old.references, *new.references]))
    return found if len(found) > 1 else []


def _smallest(
    program: QueryProgram,
    circuits: ConditionCircuits | None,
    change: Symbol,
    literal: int,
    scenario: Mapping[str, object],
) -> Sequence[str]:
    """The smallest part of a scenario under which the verdict changes (on
    the circuits where there are some: one pass instead of a search)."""
    if circuits is not None:
        try:
            return circuits.smallest(circuits.node(change), scenario)
        except Undecided:
            pass
    return next(program.implicants(scenario, -literal, smallest_only=True))


def _typed_programs(old: Evaluator, new: Evaluator, merged: Policy) -> tuple[Policy, list[Any]]:
    """The two versions over one set of regions: those of every comparison of
    either version. Their typed facts must be declared alike."""
    for name, now in new.policy.facts.items():
        was = old.policy.facts.get(name)
        if was is None or not now.type.typed:
            continue
        for attribute in ("low", "high", "system", "unit"):
            if getattr(was, attribute) != getattr(now, attribute):
                what = "bounds" if attribute in ("low", "high") else attribute
                raise PolicyError(
                    f"fact {name!r} has other {what} in {old.policy.name} and "
                    f"{new.policy.name}: rename it in one version"
                )
    for set_name in sorted(old.policy.code_sets.keys() & new.policy.code_sets.keys()):
        if old.policy.code_sets[set_name].spans != new.policy.code_sets[set_name].spans:
            raise PolicyError(
                f"code set {set_name} holds other codes in {old.policy.name} and "
                f"{new.policy.name}: rename it in one version"
            )
    sets = {**old.policy.code_sets, **new.policy.code_sets}
    comparisons = list(dict.fromkeys([*old.comparisons, *new.comparisons]))
    anchors = {**old.anchors, **new.anchors}
    merged = with_regions(dataclasses.replace(merged, code_sets=sets), comparisons, anchors)
    assert old.parsed is not None and new.parsed is not None
    new_regions = region_symbols(merged, new.comparisons, anchors)
    old_regions = region_symbols(merged, old.comparisons, anchors)
    new_program = [*new.parsed, *fact_statements(new_regions)]
    old_program = [*old.parsed, *fact_statements(old_regions)]
    return merged, [*new_program, *renamed_copy(old_program, OLD)]


def _diff_placed(old: Evaluator, new: Evaluator, as_of: date) -> DiffReport:
    """diff over the runs of the second reference date (placements.runs),
    the first on `as_of`; regions with equal conditions are listed once."""
    facts = {**old.policy.facts, **new.policy.facts}
    joint = dataclasses.replace(new.policy, facts=facts)
    comparisons = list(dict.fromkeys([*old.comparisons, *new.comparisons]))
    references = list(dict.fromkeys([*old.references, *new.references]))
    first, second, found = runs(joint, comparisons, references, as_of)
    relative = {c.fact for c in comparisons if c.reference is not None and c.fact not in references}
    # The first reference date is the analysis's day: a region states what
    # its own comparisons say of that day, so a case on another day that
    # they answer otherwise lies outside it.
    today = Interval(as_of.toordinal(), True, as_of.toordinal(), True)
    own = DateTests(
        tuple(
            (c, passes(facts[first], today, c, {}))
            for c in comparisons
            if c.fact == first and c.reference is None
        )
    )
    changes: dict[tuple[object, ...], VerdictChange] = {}
    capped = False
    merged = joint
    for run in found:
        placed_old = _placed(old, run.placement)
        placed_new = _placed(new, run.placement)
        at_run, capped_here, merged = _diff_at(placed_old, placed_new)
        capped = capped or capped_here
        stands = (
            None
            if second is None
            else Offset(
                first,
                None if run.low is None else run.low - run.placement[first],
                None if run.high is None else run.high - run.placement[first],
            )
        )
        for change in at_run:
            conditions: dict[str, Value | Span] = {}
            region: dict[str, object] = {}
            for name, value in change.region.items():
                if name in relative:
                    tests = DateTests(
                        tuple(
                            (c, passes(merged.facts[name], value, c, run.placement))  # type: ignore[arg-type]
                            for c in comparisons
                            if c.fact == name
                        )
                    )
                    region[name] = tests
                    conditions[name] = Span("tests", tests.words, tests.words, change.witness[name])
                else:
                    region[name] = value
                    conditions[name] = change.conditions[name]
            if own.tests:
                region[first] = own
                conditions[first] = Span("tests", own.words, own.words, change.witness[first])
            if second is not None and stands is not None:
                region[second] = stands
                conditions[second] = Span(
                    "offset", stands.words, stands.words, change.witness[second]
                )
            key = (change.old, change.new, tuple(sorted((f, str(v)) for f, v in region.items())))
            changes.setdefault(
                key,
                VerdictChange(conditions, change.old, change.new, change.witness, region),
            )
    # Neighbouring runs where the same change holds alike make one region.
    found_changes = list(changes.values())
    merged_regions = merge(merged, [(dict(c.region), (c.old, c.new)) for c in found_changes])
    listed = []
    for region, _, members in merged_regions:
        # The first change merged in: its witness lies in the merged region.
        change = found_changes[members[0]]
        conditions = {f: _relative_shown(merged, f, v, change.witness) for f, v in region.items()}
        listed.append(dataclasses.replace(change, conditions=conditions, region=region))
    return _report(old, new, listed, capped, merged)
