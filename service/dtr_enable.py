"""DTR spec-17: a Questionnaire item shows only while its answer can still
change the verdict, as standard `enableWhen` conditions on earlier items.

Relevance is the bridge's own: fact F is needed given answers A when F is a
missing fact of A (some way of filling in the other unknowns makes the
verdict turn on F; solving/missing.py). Missing facts only shrink as facts
become known, so F needed given A implies, for every answered g, F needed
given g's answer alone. This module asks the bridge, once per value v of
each boolean or single-choice fact g, which facts are missing given g = v
alone (the policy's reference dates anchored at the day served), and gives
F one condition per value that leaves F not missing:

    {"question": g, "operator": "!=", "answerBoolean"|"answerCoding": v}

all to hold (enableBehavior `all`). FHIR defines `!=` as "True if no answer
has a value that is equal to the enableWhen answer", so an unanswered g
hides nothing. A fact with a default that itself leaves F not missing
(g unanswered counts as the default) gets `=` the one value that keeps F,
when there is exactly one; otherwise g is not used for F.

Invariants:
- sound: an item the verdict still depends on is never disabled; the
  conditions only narrow by answers that alone settle that F cannot matter;
- conditions refer only to items asked earlier (lower rank), so disabling
  is acyclic: FHIR treats a disabled item as unanswered, and a later item
  never hides an earlier one whose answer it depends on;
- exact for one answer at a time; with several answers an item can stay
  enabled though their combination already settles it (enableWhen cannot
  say "g and h together" without nesting items), which the tests measure.

A reference date (the date of service, say) is always enabled: the bridge
anchors a case at it, so a case must state it. Numbers, dates, strings and
lists are not used as conditions: `!=` cannot
say "unanswered or at least t", and a list's answers are a set.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from datetime import date
from typing import Any

from policykb.bridge.knowledge_base import KnowledgeBase
from policykb.bridge.model.policy import Fact, FactType, Policy, Value

Conditions = dict[str, list[dict[str, Any]]]
"""Fact name -> its item's enableWhen list (facts with none left out)."""

KEPT = 64
"""Narrowings kept (one per policy version and anchor day)."""

_kept: dict[tuple[int, str, str, date | None], Conditions] = {}
_keeping = threading.Lock()


def domain(fact: Fact) -> list[Value] | None:
    """The values of a fact usable in enableWhen (None: it is not usable)."""
    if fact.type is FactType.BOOL:
        return [True, False]
    if fact.type is FactType.ENUM:
        return list(fact.options)
    return None


def answer_of(fact: Fact, value: Value) -> dict[str, Any]:
    """An enableWhen answer[x] for the value, as the item's answerOption gives it."""
    if fact.type is FactType.BOOL:
        return {"answerBoolean": value}
    code = str(value)
    return {"answerCoding": {"code": code, "display": fact.option_texts.get(code, code)}}


def conditions(knowledge: KnowledgeBase, name: str, day: date) -> Conditions:
    """The enableWhen lists of the policy's items (the version in force
    today, as the service serves it), its reference dates at `day`."""
    evaluator = knowledge.named_evaluator(name)
    policy = evaluator.policy
    anchored_day = day if evaluator.needs_anchors else None
    key = (id(knowledge), name, policy.version.hash, anchored_day)
    with _keeping:
        found = _kept.get(key)
    if found is not None:
        return found
    anchors: dict[str, Value] = {reference: day for reference in evaluator.references}
    with evaluator.lock:
        anchored = evaluator.for_known(anchors) if evaluator.needs_anchors else evaluator
    needed_given: dict[tuple[str, Value], frozenset[str]] = {}
    for fact in policy.facts.values():
        values = domain(fact)
        if values is None or fact.name in anchors:
            continue
        for value in values:
            with anchored.lock:
                missing = anchored.missing_facts({**anchors, fact.name: value})
            needed_given[fact.name, value] = frozenset(missing)
    built = _conditions(policy, needed_given, frozenset(anchors))
    with _keeping:
        if len(_kept) >= KEPT:
            _kept.pop(next(iter(_kept)))
        _kept[key] = built
    return built


def _conditions(
    policy: Policy,
    needed_given: Mapping[tuple[str, Value], frozenset[str]],
    references: frozenset[str],
) -> Conditions:
    ranked = sorted(policy.facts.values(), key=lambda fact: fact.rank)
    built: Conditions = {}
    for position, fact in enumerate(ranked):
        if fact.name in references:
            continue  # always asked: a case must state its reference dates
        when: list[dict[str, Any]] = []
        for earlier in ranked[:position]:
            values = domain(earlier)
            if values is None or (earlier.name, values[0]) not in needed_given:
                continue
            keeps = [v for v in values if fact.name in needed_given[earlier.name, v]]
            if len(keeps) == len(values):
                continue
            default = earlier.default
            if default is None or default in keeps:
                for value in values:
                    if value not in keeps:
                        condition = {"question": earlier.name, "operator": "!="}
                        when.append(condition | answer_of(earlier, value))
            elif len(keeps) == 1:
                condition = {"question": earlier.name, "operator": "="}
                when.append(condition | answer_of(earlier, keeps[0]))
        if when:
            built[fact.name] = when
    return built


def enable_when(item: dict[str, Any], when: list[dict[str, Any]], asked: set[str]) -> None:
    """Give the item its conditions on the items the Questionnaire asks."""
    kept = [condition for condition in when if condition["question"] in asked]
    if kept:
        item["enableWhen"] = kept
        if len(kept) > 1:
            item["enableBehavior"] = "all"  # que-12: required with more than one
