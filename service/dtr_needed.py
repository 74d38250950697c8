"""The questions a partly answered case still needs, exactly (DTR spec-17).

Fact F is needed given the answers A when F is unanswered and F is a
missing fact of the case A makes with F itself left unknown: some way of
filling in the other unknowns makes the verdict turn on F (the bridge's
missing facts, solving/missing.py; for a case leaving a reference date
unknown, over the days of that date, solving/unknown_dates.py). Answers of
any type and in any combination count, numbers and dates by the regions the
policy compares them with, because the bridge decides relevance, not a
table of single answers.

An unanswered fact with a default is known as its default for the other
questions (as a decision reads it) and is needed when, with its default
removed, it is missing: the clinician may answer it otherwise.

A case the bridge refuses to decide while a reference date is unknown (two
unknown dates, one of which a history window moves from; or the date's own
relevance left undecided over a partial history, solving/date_product.py)
needs those dates alone until they are answered. A history window moved from
the one unknown date is otherwise answered over its days.

Invariants:
- a fact the answers already give is never needed;
- needed facts only shrink as answers are added (missing facts do), except
  that answering a defaulted fact can make others needed, as it can change
  the verdict;
- a fact the policy computes from others (a product or ratio) is never
  asked; its operands are.
"""

from __future__ import annotations

from collections.abc import Mapping

from policykb.bridge.model.case import Case, StatedHistory
from policykb.bridge.model.errors import CaseError
from policykb.bridge.model.policy import FactType, Policy, Value
from policykb.bridge.solving.day_classes import unknown_references
from policykb.bridge.solving.evaluator import Evaluator


def missing_given(
    evaluator: Evaluator,
    known: Mapping[str, Value],
    histories: Mapping[str, StatedHistory] | None = None,
) -> frozenset[str]:
    """The bridge's missing facts of the known facts (defaults already in),
    `histories` the case's stated records. A case the bridge refuses to
    decide with a reference date unknown (two unknown dates one of which a
    history window moves from; a partial history whose window moves from
    the date, where the date's own relevance is not decided) needs those
    dates first, and nothing else yet."""
    with evaluator.lock:
        unstated = unknown_references(evaluator, known) if evaluator.needs_anchors else []
        if unstated:
            try:
                over_days = evaluator.unknown_date(dict(known), histories)
                return frozenset(over_days.missing_facts(dict(known)))
            except CaseError:
                return frozenset(unstated)
        anchored = evaluator.for_known(known)
    with anchored.lock:
        return frozenset(anchored.missing_facts(dict(known)))


def needed(evaluator: Evaluator, case: Case) -> list[str]:
    """The facts still needed given the case's stated facts, in the order
    the Questionnaire asks them (vocabulary rank). `evaluator` is the one of
    the version that decides the case."""
    policy: Policy = evaluator.policy
    with evaluator.lock:
        known, assumed = evaluator.known_facts(case)
    asked = set(missing_given(evaluator, known, case.histories))
    for name in assumed:
        without = {fact: value for fact, value in known.items() if fact != name}
        if name in missing_given(evaluator, without, case.histories):
            asked.add(name)
    computed = {use.fact for use in policy.arithmetic}
    ranked = sorted(policy.facts.values(), key=lambda fact: fact.rank)
    return [
        fact.name
        for fact in ranked
        if fact.name in asked and fact.name not in computed and fact.name not in case.facts
    ]


def needed_options(evaluator: Evaluator, case: Case, asked: list[str]) -> dict[str, list[str]]:
    """For each asked list fact, the options whose membership the verdict
    can still turn on given the case's stated facts (the bridge's
    relevant_options, the fact's own default removed as `needed` does).
    Another option cannot change the verdict however the rest is answered,
    alone or with others, so the form need not offer it (DTR spec-17:
    answer choices). A single-choice fact's options are never narrowed:
    the scenario space is a product of the facts' domains, so each option is
    some patient's true answer, and a needed choice has two that differ.
    A case leaving a reference date unknown gets no narrowing (absent):
    its days would each need their own grounding."""
    policy: Policy = evaluator.policy
    lists = [name for name in asked if policy.facts[name].type is FactType.LIST]
    if not lists:
        return {}
    with evaluator.lock:
        known, _ = evaluator.known_facts(case)
        if evaluator.needs_anchors and unknown_references(evaluator, known):
            return {}
        anchored = evaluator.for_known(known)
    options = {}
    for name in lists:
        without = {fact: value for fact, value in known.items() if fact != name}
        with anchored.lock:
            options[name] = anchored.relevant_options(without, name)
    return options
