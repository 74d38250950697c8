"""A policy's vocabulary and criteria, as the rest of the library sees them.

Everything here is declared in the policy's own `.lp` files (fact/2,
option/2, default/2, question/2, criterion/3, role/2, ...) and read by
loading/declarations.py, so a new policy needs no Python.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, TypeAlias

from policykb.bridge.model.version import PolicyVersion

# Typed facts (model/typed.py) are imported where they are used: a policy
# without them, the common case, starts without that module.
if TYPE_CHECKING:
    from datetime import date
    from decimal import Decimal

    from policykb.bridge.model.arithmetic import ArithmeticUse
    from policykb.bridge.model.history import History
    from policykb.bridge.model.typed import CodeCell, CodeSet, Interval, Number

    Region: TypeAlias = Interval | CodeCell
    """A set of values of a typed fact on which every comparison of the policy agrees."""

Value: TypeAlias = "bool | str | frozenset[str] | int | Decimal | date"
"""A fact's value: bool, an enum option or string, a set of list options or of
codes, a whole or decimal number, or a date."""


class FactType(StrEnum):
    BOOL = "bool"
    ENUM = "enum"
    LIST = "list"
    STRING = "string"
    INT = "int"
    DECIMAL = "decimal"
    DATE = "date"
    CODE = "code"
    CODE_LIST = "code_list"

    @property
    def typed(self) -> bool:
        """Numbers, dates and codes: their values are divided into regions."""
        return self in TYPED

    @property
    def numeric(self) -> bool:
        """Values on a line (numbers and dates), divided into intervals."""
        return self in (FactType.INT, FactType.DECIMAL, FactType.DATE)

    @property
    def many(self) -> bool:
        """A fact whose value is a set (list options, or codes)."""
        return self in (FactType.LIST, FactType.CODE_LIST)


TYPED = frozenset(
    {FactType.INT, FactType.DECIMAL, FactType.DATE, FactType.CODE, FactType.CODE_LIST}
)


class Role(StrEnum):
    INDICATION = "indication"
    EXCLUSION = "exclusion"
    PREREQUISITE = "prerequisite"
    REQUIREMENT = "requirement"


NEUTRAL_DAY = 730120
"""2000-01-01 as an ordinal: the example of a date whose interval has no end to start from."""
MAX_DAY = 3652059
"""9999-12-31 as an ordinal, the last day a date can name."""


@dataclass(frozen=True)
class Citation:
    """The criterion (and its words) an explanation cites for a fact's value."""

    criterion: str
    text: str


@dataclass(frozen=True)
class Fact:
    """One fact of a policy's vocabulary."""

    name: str
    type: FactType
    rank: int
    options: tuple[str, ...] = ()
    default: Value | None = None
    question: str = ""
    meaning: str = ""
    clauses: tuple[str, ...] = ()
    citations: Mapping[Value, Citation] = field(default_factory=dict)
    option_texts: Mapping[str, str] = field(default_factory=dict)
    """How a person names each option (option_text/3)."""
    unit: str = ""
    low: Number | None = None
    high: Number | None = None
    system: str = ""
    code_sets: tuple[CodeSet, ...] = ()
    regions: tuple[Region, ...] = ()

    def option_words(self, option: str) -> str:
        """An option as a person reads it: its option_text/3, else its name
        with spaces ("before day 31" for before_day_31)."""
        return self.option_texts.get(option) or option.replace("_", " ")

    @property
    def type_label(self) -> str:
        """The type as a user reads it in an error or a listing."""
        if self.type is FactType.ENUM:
            return "one of " + ", ".join(self.options)
        if self.type is FactType.LIST:
            return "a list of " + ", ".join(self.options)
        if self.type.numeric:
            kind = {"int": "a whole number", "decimal": "a number", "date": "a date YYYY-MM-DD"}
            return kind[self.type.value] + self.bounds_words()
        if self.type in (FactType.BOOL, FactType.STRING):
            return {"bool": "true or false", "string": "a string"}[self.type.value]
        example = self.code_example
        such_as = f" such as {example}" if example is not None else ""
        if self.type is FactType.CODE:
            return f"{self.system_article} {self.system_name} code{such_as}"
        return f"a list of {self.system_name} codes{such_as}"

    @property
    def code_example(self) -> str | None:
        """A code of this fact's system in one of the policy's own code sets:
        the system's usual example when a set holds it, else the first code
        of the first set, as people write it; None when the policy compares
        the fact with no set. Never a code the policy does not name."""
        from policykb.bridge.model.typed import CODE_EXAMPLES, CodeCell, normal_code, shown_code

        usual = CODE_EXAMPLES.get(self.system)
        if usual is not None and any(normal_code(usual) in s for s in self.code_sets):
            return shown_code(self.system, normal_code(usual))
        for region in self.regions:
            if isinstance(region, CodeCell) and region.inside:
                return region.sample
        return None

    @property
    def system_article(self) -> str:
        return "a" if self.system == "cpt" else "an"

    @property
    def system_name(self) -> str:
        return {"icd10cm": "ICD-10-CM", "cpt": "CPT", "hcpcs": "HCPCS"}.get(self.system, "")

    def bounds_words(self) -> str:
        """ " from 0 to 130 years", or "" when the fact is unbounded."""
        unit = f" {self.unit}" if self.unit else ""
        low, high = self.shown(self.low), self.shown(self.high)
        if self.low is not None and self.high is not None:
            return f" from {low} to {high}{unit}"
        if self.low is not None:
            return f" of at least {low}{unit}"
        if self.high is not None:
            return f" of at most {high}{unit}"
        return f" in {self.unit}" if self.unit else ""

    def shown(self, number: Number | None) -> str:
        """A number or day number of this fact as people write it."""
        if number is None:
            return ""
        if self.type is FactType.DATE:
            from datetime import date

            return date.fromordinal(int(number)).isoformat()
        return str(number)

    def region_of(self, value: Value) -> Region:
        """The region a typed value falls in (every value falls in one)."""
        from datetime import date

        from policykb.bridge.model.typed import CodeCell, Interval, normal_code

        if self.type is FactType.DATE and isinstance(value, date):
            value = value.toordinal()
        inside: frozenset[str] | None = None  # the code sets a code is in, found once
        for region in self.regions:
            if isinstance(region, Interval) and value in region:
                return region
            if isinstance(region, CodeCell) and isinstance(value, str):
                if inside is None:
                    code = normal_code(value)
                    inside = frozenset(s.name for s in self.code_sets if code in s)
                if region.inside == inside:
                    return region
        raise ValueError(f"{value!r} is in no region of {self.name}")

    def cells_of(self, codes: frozenset[str]) -> frozenset[Region]:
        """The code cells a list of codes touches (codes in no compared set touch none)."""
        return frozenset(cell for cell in (self.region_of(c) for c in codes) if cell_counts(cell))

    def code_words(self, code: str) -> str:
        from policykb.bridge.model.typed import shown_code

        return shown_code(self.system, code)

    def example(self, region: Region) -> Value:
        """A value inside `region`, as a case states it (a witness's value)."""
        from datetime import date

        from policykb.bridge.model.typed import CodeCell

        if isinstance(region, CodeCell):
            return region.sample
        number = region.representative(whole=self.type is not FactType.DECIMAL)
        if self.type is FactType.DATE:
            day = int(number)
            if not 1 <= day <= date.max.toordinal():
                # Open at both ends (a date with no bounds), the interval's
                # representative is 0, which is no day: any real day lies inside.
                day = NEUTRAL_DAY if NEUTRAL_DAY in region else min(max(day, 1), MAX_DAY)
            return date.fromordinal(day)
        return number

    def span(self, value: Region | frozenset[Region]) -> Span:
        """A region (or, for a code list, a set of cells) in the analyst's terms."""
        from policykb.bridge.model.typed import CodeCell

        if isinstance(value, frozenset):
            cells = sorted(value, key=lambda c: sorted(c.inside) if isinstance(c, CodeCell) else [])
            names = [sorted(c.inside) for c in cells if isinstance(c, CodeCell)]
            words = "; ".join("a code in " + " and ".join(n) for n in names) or "no code in " + (
                ", ".join(s.name for s in self.code_sets) or "any set"
            )
            example = frozenset(c.sample for c in cells if isinstance(c, CodeCell))
            return Span("codes", [{"in": n} for n in names], words, example)
        if isinstance(value, CodeCell):
            outside = sorted(s.name for s in self.code_sets if s.name not in value.inside)
            inside = sorted(value.inside)
            parts = [f"in {' and '.join(inside)}"] if inside else []
            parts += [f"not in {' or '.join(outside)}"] if outside else []
            words = "a code " + ", ".join(parts) if parts else "any code"
            return Span("codes", {"in": inside, "not_in": outside}, words, value.sample)
        return self._interval_span(value)

    def _interval_span(self, interval: Interval) -> Span:
        whole = self.type is not FactType.DECIMAL
        raw: dict[str, Number] = {}
        low, high = interval.low, interval.high
        low_closed, high_closed = interval.low_closed, interval.high_closed
        if whole:
            first, last = interval.whole_ends()
            low, high, low_closed, high_closed = first, last, True, True
        if low is not None and (self.low is None or low > self.low or not low_closed):
            raw["min" if low_closed else "above"] = low
        if high is not None and (self.high is None or high < self.high or not high_closed):
            raw["max" if high_closed else "below"] = high
        unit = f" {self.unit}" if self.unit else ""
        bounds = {key: self._json_number(number) for key, number in raw.items()}
        shown = {key: self.shown(number) for key, number in raw.items()}
        if "min" in shown and "max" in shown:
            words = (
                shown["min"] + unit
                if shown["min"] == shown["max"]
                else f"{shown['min']} to {shown['max']}{unit}"
            )
        else:
            phrases = {
                "min": f"{shown.get('min')} or more",
                "above": f"more than {shown.get('above')}",
                "max": f"{shown.get('max')} or less",
                "below": f"less than {shown.get('below')}",
            }
            if self.type is FactType.DATE:
                phrases = {
                    "min": f"on or after {shown.get('min')}",
                    "above": f"after {shown.get('above')}",
                    "max": f"on or before {shown.get('max')}",
                    "below": f"before {shown.get('below')}",
                }
            words = " and ".join(phrases[key] for key in bounds) or "any value"
            words += unit if bounds and self.type is not FactType.DATE else ""
        return Span("range", bounds, words, self.example(interval))

    def _json_number(self, number: Number) -> object:
        from datetime import date
        from decimal import Decimal

        if self.type is FactType.DATE:
            return date.fromordinal(int(number)).isoformat()
        if isinstance(number, Decimal) and number == number.to_integral_value():
            return int(number)
        return float(number) if isinstance(number, Decimal) else number


@dataclass(frozen=True)
class Span:
    """A region of a typed fact in the analyst's terms: its JSON form under
    `key` ("range": inclusive min/max, exclusive above/below; "codes": the code
    sets it is in and not in), its words, and one value inside it."""

    key: str
    data: object
    words: str
    example: Value


def cell_counts(region: Region) -> bool:
    """Whether a region can be an element of a code list's value (a cell in some set)."""
    from policykb.bridge.model.typed import CodeCell

    return isinstance(region, CodeCell) and bool(region.inside)


@dataclass(frozen=True)
class Criterion:
    """One criterion of a policy, with the policy's own words."""

    id: str
    place: str
    text: str
    role: Role
    section: str | None = None
    parents: tuple[str, ...] = ()
    parts: tuple[str, ...] = ()
    combines: str | None = None
    """How the parts make it met: "all", "any" or "at_least" (None: its own rules)."""
    needed: int = 0
    """For "at_least": how many parts must be met."""

    @property
    def group_words(self) -> str:
        """ "all of 4", "any of 2", "at least 2 of 3"; empty without combines/2."""
        if self.combines is None:
            return ""
        if self.combines == "at_least":
            return f"at least {self.needed} of {len(self.parts)}"
        return f"{self.combines} of {len(self.parts)}"


@dataclass(frozen=True)
class PolicySource:
    """A policy's name and entry file, before it is loaded."""

    name: str
    entry: Path
    entries: tuple[Path, ...] = ()
    """The entry files of every dated version of the policy, when the source
    is the policy itself (its name or folder) and it has more than one; empty
    when it has one or the source is one version's entry file."""

    @property
    def folder(self) -> Path:
        return self.entry.parent

    @property
    def versions(self) -> tuple[PolicySource, ...]:
        """One source per version (this one alone when there is one)."""
        if not self.entries:
            return (self,)
        return tuple(PolicySource(self.name, entry) for entry in self.entries)


@dataclass(frozen=True)
class OrderCode:
    """A billing code the policy decides (applicable_code/4). An order for it
    states `fact` = `value`; it is this policy's only when each fact of
    `requires` (applicable_code_when/4) has its value or is not stated."""

    system: str
    code: str
    fact: str
    value: Value
    requires: tuple[tuple[str, Value], ...] = ()


WHOLE_POLICY = "*"
"""The subject of a reading made for the whole policy (reading("*", Text))."""


@dataclass(frozen=True)
class Reading:
    """A reading of the policy's text chosen where it is ambiguous (reading/2):
    its subject is a criterion id, a fact name or WHOLE_POLICY, and its text
    states the reading and, where there is one, the alternative not taken."""

    subject: str
    text: str


@dataclass(frozen=True)
class Policy:
    """A policy's declarations: its document, facts and criteria."""

    name: str
    source: PolicySource
    info: Mapping[str, tuple[str, ...]]
    facts: Mapping[str, Fact]
    criteria: Mapping[str, Criterion]
    headings: Mapping[str, str] = field(default_factory=dict)
    code_sets: Mapping[str, CodeSet] = field(default_factory=dict)
    outer_headings: Mapping[str, str] = field(default_factory=dict)
    """Heading -> the heading it stands in (heading_in/2)."""
    codes: tuple[OrderCode, ...] = ()
    """The billing codes the policy decides, for routing orders to it."""
    version: PolicyVersion = field(default_factory=lambda: PolicyVersion(None, None, ""))
    """Its declared period and content hash: what every answer names."""
    readings: tuple[Reading, ...] = ()
    """The readings chosen, in the order the files declare them."""
    precedence: Mapping[str, str] = field(default_factory=dict)
    """Other policy -> why this one is routed first for the codes both claim (precedence/2)."""
    histories: Mapping[str, History] = field(default_factory=dict)
    """Its history facts (kb/core/history.lp); each stands in the case for the
    boolean facts of its record classes, which `facts` holds."""
    arithmetic: tuple[ArithmeticUse, ...] = ()
    """Its derived number facts (kb/core/arithmetic.lp): products and ratios
    of two number facts."""

    def history_of(self, fact: str) -> History | None:
        """The history whose boolean fact `fact` is (None: an ordinary fact)."""
        for history in self.histories.values():
            if fact in history.fact_names and fact in self.facts:
                return history
        return None

    def heading_path(self, section: str) -> list[str]:
        """The heading and the headings it stands in, outermost first."""
        path = [section]
        while path[0] in self.outer_headings and self.outer_headings[path[0]] not in path:
            path.insert(0, self.outer_headings[path[0]])
        return path

    @property
    def typed(self) -> bool:
        """Whether any fact is a number, date or code (its regions come from the rules)."""
        return any(fact.type.typed for fact in self.facts.values())

    @property
    def title(self) -> str:
        return self.info.get("title", (self.name,))[0]

    @property
    def payer(self) -> str:
        """Who applies the policy (policy(payer, Text)); "" when undeclared."""
        return self.info.get("payer", ("",))[0]

    def readings_of(self, subject: str) -> list[str]:
        """The readings made for a criterion, a fact or (WHOLE_POLICY) the whole policy."""
        return [r.text for r in self.readings if r.subject == subject]

    def fact(self, name: str) -> Fact:
        return self.facts[name]

    def citation(self, fact: str, value: Value) -> Citation:
        """What an explanation cites when it rests on `fact` having `value`."""
        declared = self.facts[fact]
        if value in declared.citations:
            return declared.citations[value]
        # cites/4 of a number or date writes Value as the program writes its
        # constants (1, "25.5", "2024-01-01"), which is read as text.
        if declared.type.typed and str(value) in declared.citations:
            return declared.citations[str(value)]
        for clause in declared.clauses:
            if clause in self.criteria:
                return Citation(clause, self.criteria[clause].text)
        clause = declared.clauses[0] if declared.clauses else ""
        return Citation(clause, declared.meaning)
