"""Which criterion an explanation item cites when several criteria read its fact.

A fact's clauses (clause/2) are the criteria that ask for it. When the fact
has one, an explanation resting on it cites that one (or its cites/4, for the
value). When several read it, the item cites the first of its candidates
(its clauses in the policy's order, the value's cites/4 criterion first when
it is one of them) that is best by, in turn:

1. it decides the verdict through the fact: the criteria it is a part of, up
   to one that is a part of nothing (along one chain, for a part of several),
   stand on the explanation's facts alone as the verdict needs (met, and not
   an exclusion, for covered; not met, or an exclusion met, for not covered;
   a part as the criteria it makes up), and with the fact unknown (the
   explanation's other facts as given) none of them already stands (for not
   covered: an indication it is part of already fails, or does not apply);
   when a prerequisite or an exclusion blocks on the explanation's facts,
   the chain does not end in an indication (another indication may be met,
   so no failed one decides); the criterion itself stands too, or, a part,
   is left open by the explanation (a group met by either of two parts, each
   on facts the explanation leaves out). A requirement of a route the case
   does not take (who may order a test of another kind) stands on the fact
   too, but that route fails without it (not covered) or is not met at all
   (covered): it decides nothing;
2. its heading covers the case: its status on the case's known facts is not
   "not applicable" (the high-risk frequency, not the average-risk one, for
   a case at high risk, even where both fail on the explanation's record);
3. it stands on the explanation's facts itself (a requirement that is a part
   of nothing, a definition other criteria's rules read, stands met or not
   met), so that the explanation alone shows why it holds;
4. it turns on the fact in the case: with the fact unknown and every other
   fact as the case gives it, it would not stand (a criterion already met,
   or already failed on another condition, whatever the fact, is not what
   the fact speaks to).

A candidate that neither decides the verdict (1) nor stands (3) is never
cited: when no candidate does, the item keeps the fact's static citation
(cites/4, else its first clause). Frame items (a reference date that alone
decides) keep the criterion they decide.

Statuses are the exact three-valued ones over every completion (`StatusesOf`):
the evaluator and the compiled circuits give the same, so the two paths cite
alike.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace

from policykb.bridge.model.policy import Policy, Role, Value
from policykb.bridge.model.result import ExplanationItem, Status, Verdict, stands_for

StatusesOf = Callable[[Mapping[str, Value]], Mapping[str, Status]]
"""Each criterion's status with these facts known and every other unknown."""


def candidates(policy: Policy, fact: str, value: Value) -> list[str]:
    """The criteria an item of `fact` may cite: the fact's clauses in the
    policy's order (the text's), the cites/4 criterion of `value` first when
    it is one of them."""
    declared = policy.facts[fact]
    clauses = {c for c in declared.clauses if c in policy.criteria}
    cited = declared.citations.get(value)
    if cited is None and declared.type.typed:
        cited = declared.citations.get(str(value))
    first = None if cited is None else cited.criterion
    return sorted((c for c in policy.criteria if c in clauses), key=lambda c: c != first)


def shared(policy: Policy, item: ExplanationItem) -> bool:
    """Whether more than one criterion may be cited for the item's fact (a
    reference date standing as the frame keeps the criterion it decides)."""
    return item.frame is None and len(candidates(policy, item.fact, item.value)) > 1


def counts_as_exclusion(policy: Policy, criterion: str) -> bool:
    """Whether the criterion blocks when met: an exclusion, or a part of one
    only (a part stands as the criteria it makes up do)."""
    seen: set[str] = set()
    tops: set[Role] = set()
    stack = [criterion]
    while stack:
        current = stack.pop()
        if current in seen:
            continue
        seen.add(current)
        declared = policy.criteria[current]
        if declared.parents:
            stack += [p for p in declared.parents if p in policy.criteria]
        else:
            tops.add(declared.role)
    return tops == {Role.EXCLUSION}


class SharedCitations:
    """The citations of one decided explanation's shared facts."""

    def __init__(
        self,
        policy: Policy,
        verdict: Verdict,
        known: Mapping[str, Value],
        explanation: Sequence[str],
        statuses_of: StatusesOf,
        case_statuses: Mapping[str, Status] | None = None,
    ) -> None:
        self.policy = policy
        self.verdict = verdict
        self.known = known
        self.given = {fact: known[fact] for fact in explanation}
        self.statuses_of = statuses_of
        self._on_explanation: Mapping[str, Status] | None = None
        self._on_case = case_statuses

    def stands(self, statuses: Mapping[str, Status], criterion: str) -> bool:
        """Whether the criterion stands as the verdict needs; a requirement
        that is a part of nothing (a definition other criteria's rules read,
        either way) stands when it is met or not met."""
        status = statuses[criterion]
        declared = self.policy.criteria[criterion]
        if declared.role is Role.REQUIREMENT and not declared.parents:
            return status in (Status.MET, Status.NOT_MET)
        return stands_for(self.verdict, status, counts_as_exclusion(self.policy, criterion))

    def settled(self, statuses: Mapping[str, Status], criterion: str) -> bool:
        """Whether the criterion already stands as the verdict needs; for not
        covered, an indication that does not apply is settled too."""
        if self.stands(statuses, criterion):
            return True
        declared = self.policy.criteria[criterion]
        return (
            self.verdict is Verdict.NOT_COVERED
            and not declared.parents
            and declared.role is Role.INDICATION
            and statuses[criterion] is Status.NOT_APPLICABLE
        )

    def verdict_rests_on(self, criterion: str) -> bool:
        """Whether the verdict may rest on a criterion that is a part of
        nothing: for not covered, when a prerequisite or an exclusion blocks
        on the explanation's facts, not on an indication (another one may be
        met: no failed one matters); otherwise on any."""
        if self.verdict is not Verdict.NOT_COVERED:
            return True
        role = self.policy.criteria[criterion].role
        if role is not Role.INDICATION:  # a blocker, or a definition other rules read
            return True
        return not any(self.blocks(c) for c in self.policy.criteria)

    def blocks(self, criterion: str) -> bool:
        """Whether a criterion that is a part of nothing blocks coverage on
        the explanation's facts: an exclusion met, a prerequisite not met."""
        declared = self.policy.criteria[criterion]
        status = self.on_explanation[criterion]
        if declared.parents:
            return False
        if declared.role is Role.EXCLUSION:
            return status is Status.MET
        return declared.role is Role.PREREQUISITE and status is Status.NOT_MET

    @property
    def on_explanation(self) -> Mapping[str, Status]:
        if self._on_explanation is None:
            self._on_explanation = self.statuses_of(self.given)
        return self._on_explanation

    @property
    def on_case(self) -> Mapping[str, Status]:
        if self._on_case is None:
            self._on_case = self.statuses_of(self.known)
        return self._on_case

    def chosen(self, item: ExplanationItem) -> str | None:
        """The criterion the item cites by the rule (module docstring), or None
        when none of its candidates decides the verdict or stands."""
        policy = self.policy
        pool = [
            c
            for c in candidates(policy, item.fact, item.value)
            if self.stands(self.on_explanation, c)
            or (self.on_explanation[c] is Status.UNKNOWN and policy.criteria[c].parents)
        ]
        if not pool:
            return None
        fact = item.fact
        without: dict[str, Mapping[str, Status]] = {}

        def given_without() -> Mapping[str, Status]:
            if "given" not in without:
                rest = {f: v for f, v in self.given.items() if f != fact}
                without["given"] = self.statuses_of(rest)
            return without["given"]

        def decides_verdict(criterion: str, seen: frozenset[str] = frozenset()) -> bool:
            """Some chain of the criteria it is a part of, up to one that is
            a part of nothing, stands on the explanation and none of it
            without the fact."""
            parents = [p for p in policy.criteria[criterion].parents if p not in seen]
            if not policy.criteria[criterion].parents:
                return self.verdict_rests_on(criterion)
            return any(
                self.stands(self.on_explanation, p)
                and not self.settled(given_without(), p)
                and decides_verdict(p, seen | {criterion})
                for p in parents
            )

        def stands(criterion: str) -> bool:
            return self.stands(self.on_explanation, criterion)

        def applies(criterion: str) -> bool:
            return self.on_case[criterion] is not Status.NOT_APPLICABLE

        def turns_on_fact(criterion: str) -> bool:
            if "case" not in without:
                rest = {f: v for f, v in self.known.items() if f != fact}
                without["case"] = self.statuses_of(rest)
            return self.stands(self.on_case, criterion) and not self.stands(
                without["case"], criterion
            )

        # The first of the best in the candidates' order: each test in turn
        # keeps the candidates that pass it, when any does; the statuses
        # without the fact are found only when a test needs them.
        best = pool
        for test in (decides_verdict, applies, stands, turns_on_fact):
            if len(best) == 1:
                break
            best = [c for c in best if test(c)] or best
        chosen = best[0]
        return chosen if stands(chosen) or decides_verdict(chosen) else None

    def cite(self, items: Sequence[ExplanationItem]) -> tuple[ExplanationItem, ...]:
        """The items, each shared fact's citing the criterion the rule chooses
        (with that criterion's text, or the cites/4 text when it chooses the
        cites/4 criterion)."""
        found = list(items)
        for i, item in enumerate(items):
            if not shared(self.policy, item):
                continue
            criterion = self.chosen(item)
            if criterion is None or criterion == item.criterion:
                continue
            text = self.policy.citation(item.fact, item.value)
            words = (
                text.text if text.criterion == criterion else self.policy.criteria[criterion].text
            )
            found[i] = replace(item, criterion=criterion, text=words)
        return tuple(found)


def cite_shared_facts(
    policy: Policy,
    verdict: Verdict,
    items: Sequence[ExplanationItem],
    known: Mapping[str, Value],
    statuses_of: StatusesOf,
    case_statuses: Mapping[str, Status] | None = None,
) -> tuple[ExplanationItem, ...]:
    """A decided explanation's items with every shared fact citing the
    criterion the rule chooses (module docstring); an undecided verdict's
    items as they are. `case_statuses`: the statuses on `known`, when the
    caller has them already."""
    if verdict is Verdict.NEEDS_INFORMATION or not any(shared(policy, i) for i in items):
        return tuple(items)
    explanation = [item.fact for item in items]
    citations = SharedCitations(policy, verdict, known, explanation, statuses_of, case_statuses)
    return citations.cite(items)
