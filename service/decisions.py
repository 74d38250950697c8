"""One coverage decision: a policy's facts -> verdict, reasons and an assertion id.

Every channel (CRD, PAS, the JSON API) decides through `Decisions.decide`,
which also writes the audit entry, so a decision is recorded whatever asked
for it.
"""

from __future__ import annotations

import dataclasses
import hashlib
import threading
from collections.abc import Mapping
from concurrent.futures import Future
from dataclasses import dataclass
from datetime import date
from itertools import groupby

from policykb.bridge import KnowledgeBase
from policykb.bridge.loading.case import check_value
from policykb.bridge.model.case import Case
from policykb.bridge.model.errors import CaseError, PolicyError
from policykb.bridge.model.policy import Policy
from policykb.bridge.model.result import Evaluation, Verdict, json_value
from policykb.bridge.model.version import SERVICE_DATE
from policykb.service.audit import TRACE_SEPARATOR, AuditLog, assertion_id, facts_digest
from policykb.service.fhir_facts import FactMapping, load_mapping
from policykb.service.request_resources import Resources
from policykb.service.routing import Route, Router, route_holds


def facts_json(case: Case) -> dict[str, object]:
    return {name: json_value(value) for name, value in sorted(case.facts.items())}


@dataclass(frozen=True)
class Decision:
    """A decided case, with what identifies it."""

    policy: Policy
    version: str
    case: Case
    evaluation: Evaluation
    facts_hash: str
    assertion_id: str
    from_record: frozenset[str] = frozenset()
    """Facts read from FHIR resources (the rest came from answers or the caller)."""

    @property
    def service_date(self) -> date:
        """The day whose policy version decided (for an undated case, the day
        of the decision): what replay decides under."""
        assert self.case.as_of is not None  # decide() dates every case
        return self.case.as_of

    @property
    def verdict(self) -> Verdict:
        return self.evaluation.verdict

    @property
    def cited(self) -> list[str]:
        """The criteria the minimal explanation cites, in order."""
        return list(dict.fromkeys(item.criterion for item in self.evaluation.explanation))

    def reasons(self) -> list[str]:
        """Each cited criterion with its quoted sentence."""
        criteria = self.policy.criteria
        reasons = []
        for criterion in self.cited:
            text = criteria[criterion].text if criterion in criteria else ""
            if not text:
                text = next(i.text for i in self.evaluation.explanation if i.criterion == criterion)
            reasons.append(f"{criterion}: {text}")
        return reasons


class Decisions:
    """The knowledge base as the service uses it: policies by name, their
    versions, FHIR mappings and router, compiled policies, and the audit log."""

    def __init__(
        self,
        knowledge: KnowledgeBase,
        audit: AuditLog | None = None,
        *,
        compile_now: bool = True,
        served: tuple[str, ...] = (),
    ) -> None:
        """`served`: the policies to serve by name (empty: every one); a name
        the KB does not hold is a PolicyError."""
        from policykb.bridge.compile.compiled import CompiledPolicies

        self.knowledge = knowledge
        self.audit = audit
        self.names = knowledge.policy_names()
        if served:
            unknown = [name for name in served if name not in self.names]
            if unknown:
                raise PolicyError(
                    f"--policy {unknown[0][:80]!r}: no such policy "
                    f"(known policies: {', '.join(self.names)})"
                )
            self.names = sorted(set(served))
        self.policies = {name: knowledge.policy(name) for name in self.names}
        self.versions = {name: p.version.hash for name, p in self.policies.items()}
        """Each policy's version in force today (a decision names its own)."""
        self.mappings: dict[str, FactMapping] = {
            name: load_mapping(p) for name, p in self.policies.items()
        }
        self.router = Router(self.policies.values())
        self.history_types = frozenset(
            kind
            for mapping in self.mappings.values()
            for history in mapping.histories
            for kind in history.resource_types
        )
        """The resource types some policy's fhir.yaml reads histories from."""
        self._compiled = CompiledPolicies()
        self._compiling = threading.Lock()
        if compile_now:  # a service compiles at start, not on a client's first request
            for name in self.names:
                self._compiled.of(knowledge.named_evaluator(name))

    def route(
        self, concept: object, resources: Resources, today: date
    ) -> tuple[Route, dict[str, object]] | None:
        """The policy that decides an ordered code, with the facts read from
        the record for it; None when no policy decides it.

        Codings are tried in order. A code several policies claim goes to the
        first (in precedence order) whose conditions the record shows to
        hold; when the record shows none, to the first whose conditions it
        does not contradict (for a code one policy claims, that is the rule)."""
        for _, group in groupby(self.router.candidates(concept), key=lambda r: id(r.coding)):
            routes = list(group)
            # Routing reads only the facts the claims' conditions name; the
            # chosen policy's record is read whole (shared facts once per request).
            conditions = [
                self._valid(
                    r.policy,
                    self.mappings[r.policy].read(resources, today, {f for f, _ in r.code.requires}),
                )
                if r.code.requires
                else {}
                for r in routes
            ]
            for strict in (True, False):
                for route, stated in zip(routes, conditions, strict=True):
                    if route_holds(route, stated, stated=strict):
                        read = self._valid(
                            route.policy, self.mappings[route.policy].read(resources, today)
                        )
                        read[route.code.fact] = route.code.value
                        return route, read
        return None

    def _valid(self, policy: str, read: dict[str, object]) -> dict[str, object]:
        """The values read from a record that the policy accepts: one it
        refuses (a BMI of 900, a malformed code) is a record's error, and the
        fact stays unknown so that the questionnaire asks for it."""
        chosen = self.policies[policy]
        facts = chosen.facts
        valid = {}
        for name, raw in read.items():
            if name in chosen.histories:  # its records were checked as read (fhir_histories)
                valid[name] = raw
                continue
            try:
                check_value(facts[name], raw)
            except CaseError:
                continue
            valid[name] = raw
        return valid

    def decide(
        self,
        policy: str,
        facts: Mapping[str, object],
        *,
        channel: str,
        case_id: str = "case",
        from_record: frozenset[str] = frozenset(),
        audit: bool = True,
        pending: list[int] | None = None,
        service_date: date | None = None,
        as_of: date | None = None,
        about: Mapping[str, str] | None = None,
        trace: str | None = None,
    ) -> Decision:
        """Validate the facts (CaseError naming what is wrong), evaluate, audit.
        The audit entry is on disk when this returns, unless `pending` is given:
        then its number is added there for the caller to `settle`. The version
        in force on `as_of` (replay: the entry's date), else the facts'
        date_of_service, else `service_date` (the order's, which becomes the
        date_of_service fact), else today, decides; the decision names that
        day. `about`: the CRD hook instance and order id, for the audit entry.
        `trace`: a value unique to this request and order (CRD): the
        assertion id is then the content's id and the trace, unique per
        request (resp-31/32) yet still checked against its content by replay."""
        given = dict(facts)
        if service_date is not None and given.get(SERVICE_DATE) is None:
            given[SERVICE_DATE] = service_date.isoformat()
        case = self.knowledge.case({"id": case_id, "policy": policy, "facts": given}, as_of=as_of)
        if case.as_of is None:  # undated: today's version decides, and today is recorded
            case = dataclasses.replace(case, as_of=date.today())
        evaluator = self.knowledge.case_evaluator(case)  # the version in force on its date
        chosen = evaluator.policy
        if evaluator.references:
            with evaluator.lock:
                known, _ = evaluator.known_facts(case)
                evaluator = evaluator.for_case(known)
        with self._compiling:
            # A case leaving a reference date unknown is answered over its days
            # by the evaluator itself (bridge/solving/unknown_dates.py).
            compiled = None if evaluator.needs_anchors else self._compiled.of(evaluator)
        with evaluator.lock:
            evaluation = compiled.evaluate(case) if compiled else evaluator.evaluate(case)
        version = chosen.version.hash
        stated = facts_digest(facts_json(case))
        facts_hash = hashlib.sha256(stated).hexdigest()
        assertion = assertion_id(policy, version, stated)
        if trace is not None:
            assertion = f"{assertion}{TRACE_SEPARATOR}{trace}"
        decision = Decision(
            chosen,
            version,
            case,
            evaluation,
            facts_hash,
            assertion,
            from_record & frozenset(case.facts),
        )
        if audit and self.audit is not None:
            entry = self.audit.record(decision, channel, durable=pending is None, about=about)
            if pending is not None:
                pending.append(entry)
        return decision

    def settle(self, pending: list[int]) -> None:
        """Wait until the audit entries in `pending` are on disk."""
        self.durable(pending).result()

    def durable(self, pending: list[int]) -> Future[None]:
        """A Future done once the audit entries in `pending` are on disk
        (failed with AuditUnavailable if they cannot be)."""
        if pending and self.audit is not None:
            return self.audit.durable(max(pending), pending)
        done: Future[None] = Future()
        done.set_result(None)
        return done
