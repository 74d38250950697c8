"""Proof trees from the Prolog engine, in the published shape.

The prover returns a raw tree of rule instances, negations, case facts and
splits by cases. Here it becomes the published shape

    {"engine": "swi-prolog", "root": {"goal", "rule", "text", "truth", "children"}}

where `rule` is a criterion ID (or "case", "verdict", "heading", "cases") and
`text` the policy's words. Core helper predicates (holds/1, fails/1 and the
private kb_* ones) are folded into their children, so every node a reader sees
is a criterion, the verdict, a heading or a fact of the case.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from policykb.bridge.loading.rules import TYPED_TESTS
from policykb.bridge.model.errors import EngineError
from policykb.bridge.model.policy import Policy, Value
from policykb.bridge.model.result import value_words

ENGINE = "swi-prolog"
COMPARISON_SIGNS = {
    "at_least": ">=",
    "at_most": "<=",
    "above": ">",
    "below": "<",
    "on_or_after": ">=",
    "on_or_before": "<=",
    "after": ">",
    "before": "<",
}
FOLDED = {"holds", "fails", "domain", "kb_in_section"}
COUNT_WORDS = {
    ">=": "at least",
    ">": "more than",
    "=<": "at most",
    "<": "fewer than",
    "=": "exactly",
    "\\=": "other than",
}
ITEM_STATES = {"true": "holds", "false": "fails", "unknown": "unknown"}
CRITERION_PREDICATES = {"met", "applies", "indicated", "blocked"}
NEGATED_TEXT = {"kb_blocked": "No applicable criterion blocks coverage."}
"""What a core helper's negation says (its own text says the opposite)."""
CORE_TEXT = {
    "covered": "Covered when an applicable indication is met and no criterion blocks it.",
    "kb_blocked": "Some applicable criterion blocks coverage.",
    "decided": "Some rule speaks to the case.",
}


@dataclass
class ProofNode:
    goal: str
    rule: str
    text: str
    truth: str
    children: list[ProofNode] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "goal": self.goal,
            "rule": self.rule,
            "text": self.text,
            "truth": self.truth,
            "children": [child.to_dict() for child in self.children],
        }


# Private helper predicates as a reader knows them.
READABLE_GOALS = {"kb_blocked": "blocked(_)"}


def _goal(pred: str, args: list[str]) -> str:
    if pred in READABLE_GOALS:
        return READABLE_GOALS[pred]
    if not args:
        return pred
    return f"{pred}({', '.join(args)})"


def _item_words(tuple_text: str) -> str:
    """A counted element as a reader names it: holds(tinnitus) is tinnitus,
    fails(adult) is not adult, met("A1") is A1."""
    name, _, inner = tuple_text.partition("(")
    inner = inner.removesuffix(")").strip('"')
    if name in ("holds", "met") and inner:
        return inner
    if name == "fails" and inner:
        return f"not {inner}"
    return tuple_text.strip('"')


def _truth(raw: object) -> str:
    # JSON turns the Prolog atoms true and false into booleans.
    return value_words(raw) if isinstance(raw, bool) else str(raw)


VERDICT_TRUTH = {"covered": "true", "not_covered": "false", "needs_information": "unknown"}
"""A verdict as the truth of the node that proves it."""


class _Builder:
    def __init__(
        self,
        policy: Policy,
        known: Mapping[str, Value],
        assumed: frozenset[str],
        branch: Mapping[str, str] | None = None,
    ) -> None:
        """`branch`: the facts a proof by cases gave a value, in words."""
        self.policy = policy
        self.known = known
        self.assumed = assumed
        self.branch = dict(branch or {})

    def fact_text(self, fact: str) -> str:
        if fact in self.branch:
            return f"{fact} = {self.branch[fact]} (in this case of the proof)"
        if fact not in self.known:
            return f"{fact} is unknown"
        source = "assumed: the policy's default" if fact in self.assumed else "given in the case"
        return f"{fact} = {value_words(self.known[fact])} ({source})"

    def nodes(self, raw: Mapping[str, Any]) -> list[ProofNode]:
        """The nodes for one raw node (several when it is folded away)."""
        kind = raw["kind"]
        truth = _truth(raw.get("truth", ""))
        if kind == "fact":
            fact = raw["fact"]
            value = self.region_words(fact, str(raw["value"]))
            return [ProofNode(f"value({fact}, {value})", "case", self.fact_text(fact), truth)]
        if kind == "known":
            fact = raw["fact"]
            return [ProofNode(f"known({fact})", "case", self.fact_text(fact), truth)]
        if kind == "count":
            return [self.count(raw, truth)]
        if kind in ("cases", "differ"):
            return [self.split(raw)]
        pred, args = raw["pred"], list(raw.get("args", []))
        if kind == "not":
            if raw["children"][0]["kind"] == "static":
                return []  # a declaration, not a condition of the case
            if pred == "kb_part_unmet":
                return [self.all_parts(raw, args[0], truth)]
            inner = self.nodes(raw["children"][0])
            label = self.describe(pred, args)
            if pred in NEGATED_TEXT:
                label = (label[0], NEGATED_TEXT[pred])
            return [
                ProofNode(
                    f"not {_goal(pred, args)}", label[0], label[1], truth, self._unfold(inner, pred)
                )
            ]
        children = self._pruned(
            [
                n
                for alternative in raw.get("alternatives", [])
                for kid in alternative
                for n in self.nodes(kid)
            ]
        )
        if pred in FOLDED:
            return children
        rule, text = self.describe(pred, args)
        if pred in TYPED_TESTS and args and args[0] in self.policy.facts:
            # The comparison names the case's value: the regions it was not
            # in played no part.
            text = f"{self.comparison(pred, args)}: {truth}"
            return [ProofNode(_goal(pred, args), "comparison", text, truth)]
        return [ProofNode(_goal(pred, args), rule, text, truth, children)]

    def split(self, raw: Mapping[str, Any]) -> ProofNode:
        """A proof by cases on an unknown fact. "cases": every value it can take
        was explored and gives one verdict, the node's truth. "differ": the
        three-valued proof, then the branches that prove that the case needs
        information (one branch that does, or two whose verdicts differ);
        truth unknown. Each branch
        node's truth is its verdict's, and inside it the fact has its value."""
        fact = raw["fact"]
        branches = []
        for branch in raw["branches"]:
            values = branch["values"]
            shown = ", ".join(self.region_words(fact, str(v)) for v in values) or "none"
            inner = _Builder(self.policy, self.known, self.assumed, {**self.branch, fact: shown})
            branches.append(
                ProofNode(
                    f"{fact} = {shown}",
                    "case split",
                    f"if {fact} were {shown}: {branch['verdict']}",
                    VERDICT_TRUTH[branch["verdict"]],
                    inner.nodes(branch["proof"]),
                )
            )
        if raw["kind"] == "cases":
            (verdict,) = {branch["verdict"] for branch in raw["branches"]}
            text = f"{fact} is unknown; every value it can take gives the same verdict, {verdict}"
            return ProofNode(f"cases({fact})", "cases", text, VERDICT_TRUTH[verdict], branches)
        if len(branches) == 1:
            text = f"{fact} is unknown; even with the value shown the case needs information"
        else:
            text = f"{fact} is unknown; the values shown give different verdicts"
        # First the three-valued proof that left the verdict unknown, then the
        # branches that prove it needs information.
        unknown = self.nodes(raw["unknown"])
        return ProofNode(f"cases({fact})", "cases", text, "unknown", [*unknown, *branches])

    def _pruned(self, nodes: list[ProofNode]) -> list[ProofNode]:
        """Rule instances that fail only because the case gives a fact another
        value played no part: the case's value is shown once per fact, not
        once per value it is not (no list of 240 failed value(age, N))."""
        shown: set[str] = set()
        kept = []
        for node in nodes:
            fact = node.goal.removeprefix("value(").partition(",")[0]
            if node.rule == "case" and node.truth == "false" and fact in self.known:
                if fact in shown:
                    continue
                shown.add(fact)
            kept.append(node)
        return kept

    def all_parts(self, raw: Mapping[str, Any], ident: str, truth: str) -> ProofNode:
        """combines(Id, all): every part is met; the parts shown as they stand
        (when some part is not met, that part)."""
        inner = raw["children"][0]
        parts = [
            node
            for alternative in inner.get("alternatives", [])
            for kid in alternative
            if kid["kind"] == "not"
            for node in self.nodes(kid["children"][0])
        ]
        criterion = self.policy.criteria.get(ident)
        words = criterion.group_words if criterion is not None else "all"
        return ProofNode(
            f"all_parts_met({ident})", "all of", f"{words} parts of {ident} met", truth, parts
        )

    def count(self, raw: Mapping[str, Any], truth: str) -> ProofNode:
        """A count aggregate: "at least 2 of 3 needed; holds: tinnitus; fails:
        speech_test; unknown: occupational"."""
        items = raw["items"]
        needed = " and ".join(
            f"{COUNT_WORDS[guard['op']]} {guard['bound']}" for guard in raw["guards"]
        )
        parts = [f"{needed} of {len(items)} needed"]
        for state in ("true", "false", "unknown"):
            named = [_item_words(i["tuple"]) for i in items if _truth(i["truth"]) == state]
            if named:
                parts.append(f"{ITEM_STATES[state]}: {', '.join(named)}")
        children = [
            ProofNode(
                item["tuple"],
                "counted",
                _item_words(item["tuple"]),
                _truth(item["truth"]),
                [n for kid in item["children"] for n in self.nodes(kid)],
            )
            for item in items
        ]
        return ProofNode(f"count({needed})", "count", "; ".join(parts), truth, children)

    def region_words(self, fact: str, value: str) -> str:
        """A scenario value of a typed fact (a region number) as the analyst reads it."""
        declared = self.policy.facts.get(fact)
        if declared is None or not declared.type.typed or not value.isdigit():
            return value
        return declared.span(declared.regions[int(value)]).words

    def comparison(self, pred: str, args: list[str]) -> str:
        """A comparison with the case's value: "bmi 34.9 >= 35"."""
        fact, constants = args[0], [a.strip('"') for a in args[1:]]
        shown = f"{fact} {value_words(self.known[fact])}" if fact in self.known else fact
        if pred == "between":
            return f"{shown} from {constants[0]} through {constants[1]}"
        if pred == "has_code_in":
            return f"{shown} has a code in {constants[0]}"
        if constants[0] in self.policy.facts:
            return f"{shown} {COMPARISON_SIGNS[pred]} {self.moved(*constants)}"
        return f"{shown} {COMPARISON_SIGNS[pred]} {constants[0]}"

    def moved(self, reference: str, duration: str = "days(0)") -> str:
        """A reference date moved by a duration, with the day it gives:
        "date_of_service 2024-08-31 minus 6 months (2024-02-29)"."""
        from datetime import date

        from policykb.bridge.model.typed import Duration

        step = Duration.parse(duration)
        if step is None:
            return f"{reference} {duration}"
        day = self.known.get(reference)
        if not isinstance(day, date):
            return f"{reference} {step.signed}".rstrip()
        if not step.signed:
            return f"{reference} {day.isoformat()}"
        return f"{reference} {day.isoformat()} {step.signed} ({step.after(day).isoformat()})"

    @staticmethod
    def _unfold(nodes: list[ProofNode], pred: str) -> list[ProofNode]:
        # "not kb_blocked" reads better as the blocks that do not hold.
        if pred.startswith("kb_") and len(nodes) == 1:
            return nodes[0].children
        return nodes

    def describe(self, pred: str, args: list[str]) -> tuple[str, str]:
        if pred in CRITERION_PREDICATES and args and args[0] in self.policy.criteria:
            criterion = self.policy.criteria[args[0]]
            return criterion.id, criterion.text
        if pred == "section" and args:
            return "heading", self.policy.headings.get(args[0], args[0])
        if pred in CORE_TEXT:
            return "verdict", CORE_TEXT[pred]
        return pred, ""


def proof_tree(
    policy: Policy,
    known: Mapping[str, Value],
    assumed: frozenset[str],
    raw_root: Mapping[str, Any],
    verdict: str,
) -> dict[str, Any]:
    """The published proof shape for a raw prover tree of `verdict`; its
    root's truth is the verdict's (true, false or unknown)."""
    nodes = _Builder(policy, known, assumed).nodes(raw_root)
    truth = VERDICT_TRUTH[str(verdict)]
    root = nodes[0] if len(nodes) == 1 else ProofNode("verdict", "verdict", "", truth, nodes)
    if root.truth != truth:
        raise EngineError(
            f"the proof's root is {root.truth} but the verdict is {verdict}: the prover disagrees"
        )
    return {"engine": ENGINE, "root": root.to_dict()}
