"""Value display: a value a change or an answer gives a fact, in the
analyst's terms (a region's span, a list's edits with an example value).

The wording of list edits ("add any one of: ...") is the JSON contract's
"words" field, which every client shows alike.
"""

from __future__ import annotations

from collections.abc import Callable

from policykb.bridge.model.policy import FactType, Span, Value
from policykb.bridge.solving.grounding import Grounding
from policykb.bridge.solving.list_edits import ListEdits


class ValueDisplay:
    """Shows scenario values of one grounding's policy as case values and spans."""

    def __init__(self, grounding: Grounding) -> None:
        self.grounding = grounding
        self._history_spans: dict[tuple[str, bool], Span] = {}
        """A history fact's span, held or not, by fact: the grounding's
        anchors are fixed, and working out a class's date ranges took 40% of
        `why` on cases with histories (bench/histories.py)."""

    def option_words(self, fact: str, option: object) -> str:
        """A list option by its name; a code list's cell by its code sets."""
        declared = self.grounding.policy.facts[fact]
        if declared.type is FactType.CODE_LIST:
            return declared.span(frozenset({option})).words  # type: ignore[arg-type]
        return str(option)

    def edited(
        self, fact: str, edits: ListEdits, add: frozenset[object], remove: frozenset[object]
    ) -> Value:
        """The case's list value with one edit made, as a case states it: for a
        code list, the case's own codes outside the removed cells, with a
        sample code for each added cell (a cell the case already touches
        keeps its codes)."""
        declared = self.grounding.policy.facts[fact]
        if declared.type is not FactType.CODE_LIST or edits.given is None:
            return self.grounding.concrete(fact, (edits.base - remove) | add)
        kept = frozenset(
            code
            for code in edits.given
            if not (declared.cells_of(frozenset({code})) & remove)  # type: ignore[arg-type]
        )
        touched = declared.cells_of(kept)  # type: ignore[arg-type]
        added = frozenset(
            declared.example(cell)  # type: ignore[arg-type]
            for cell in add
            if cell not in touched
        )
        return kept | added  # type: ignore[return-value]

    def shown(self, fact: str, value: object) -> Value | Span:
        """A value a change or an answer gives `fact`, in the analyst's terms."""
        declared = self.grounding.policy.facts[fact]
        if isinstance(value, ListEdits):
            return edits_span(
                value,
                lambda option: self.option_words(fact, option),
                lambda add, remove: self.edited(fact, value, add, remove),
            )
        if declared.type.typed:
            return declared.span(value)  # type: ignore[arg-type]
        history = (
            self.grounding.policy.history_of(fact) if self.grounding.policy.histories else None
        )
        if history is not None and isinstance(value, bool):
            span = self._history_spans.get((fact, value))
            if span is None:
                span = history.span(fact, value, self.grounding.anchors)
                self._history_spans[fact, value] = span
            return span
        assert isinstance(value, bool | str | frozenset)
        return value


def edits_span(
    edits: ListEdits,
    words: Callable[[object], str],
    example: Callable[[frozenset[object], frozenset[object]], Value],
) -> Span:
    """{"edits": {"from": [...], "any_of": [{"add": [...], "remove": [...]}]}};
    `example(add, remove)` is the case's value with the first edit made."""

    def named(options: frozenset[object]) -> list[str]:
        return sorted(words(o) for o in options)

    alternatives = sorted(
        (
            {key: named(part) for key, part in (("add", add), ("remove", remove)) if part}
            for add, remove in edits.edits
        ),
        key=lambda edit: (edit.get("add", []), edit.get("remove", [])),
    )
    if not edits.edits:
        text = "no edit of the list helps"
    elif edits.answers:
        text = "smallest answers: " + "; ".join(
            ", ".join(named(add)) or "none" for add, _ in edits.edits
        )
    elif all(len(add) == 1 and not remove for add, remove in edits.edits):
        text = "add any one of: " + ", ".join(sorted(words(next(iter(a))) for a, _ in edits.edits))
    elif all(len(remove) == 1 and not add for add, remove in edits.edits):
        text = "remove any one of: " + ", ".join(
            sorted(words(next(iter(r))) for _, r in edits.edits)
        )
    else:
        text = "any one of: " + "; ".join(
            " and ".join(f"{verb} {', '.join(items)}" for verb, items in alternative.items())
            or "as it is"
            for alternative in alternatives
        )
    first: tuple[frozenset[object], frozenset[object]] = (frozenset(), frozenset())
    if edits.edits:
        first = edits.edits[0]
    shown = named(edits.base) if edits.given is None else sorted(str(item) for item in edits.given)
    return Span("edits", {"from": shown, "any_of": alternatives}, text, example(*first))
