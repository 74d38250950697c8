"""`python -m tools.mutation`: run the KB and Python mutation harnesses, print the scores."""

from __future__ import annotations

import argparse
import json
import queue
import sys
import tempfile
import time
import tomllib
from collections import Counter
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass
from pathlib import Path

from tools.mutation.kb_mutants import kb_mutants
from tools.mutation.mutant import Mutant, numbered
from tools.mutation.python_mutants import MODULES, function_body_lines, python_mutants
from tools.mutation.workspace import TEST_ORDER, Workspace

EQUIVALENT_FILE = Path(__file__).with_name("equivalent.toml")
RESULTS_FILE = Path(__file__).resolve().parents[2] / ".mutation" / "results.json"
FINAL = ("killed", "timeout", "invalid")
TARGETS = {"kb": 98.0, "python": 90.0}


@dataclass(frozen=True)
class Outcome:
    mutant: Mutant
    status: str  # killed, timeout, survived, invalid, equivalent, uncovered, error
    seconds: float
    detail: str = ""


Key = tuple[str, str, str, str, str, str, int]
KEY_LENGTH = 7


def equivalent_mutants(path: Path = EQUIVALENT_FILE) -> dict[Key, str]:
    """Recorded equivalent mutants: key -> the reason they change no behaviour.

    A KB entry names the rule and its mutant as written in one normal form; a
    Python entry names the enclosing function (scope), the statement and its
    mutant as unparsed ASTs (see anchor.py), so a reformat keeps every key."""
    data = tomllib.loads(path.read_text(encoding="utf-8"))
    found: dict[Key, str] = {}
    for entry in data.get("kb", []):
        key: Key = (
            "kb",
            entry["file"],
            "",
            entry["operator"],
            entry["rule"],
            entry["mutant"],
            entry.get("occurrence", 0),
        )
        found[key] = entry["reason"]
    for entry in data.get("python", []):
        key = (
            "python",
            entry["file"],
            entry["scope"],
            entry["operator"],
            entry["statement"],
            entry["mutant"],
            entry.get("occurrence", 0),
        )
        found[key] = entry["reason"]
    return found


def _order(node_id: str) -> tuple[int, str]:
    for rank, prefix in enumerate(TEST_ORDER):
        if node_id.startswith(prefix):
            return rank, node_id
    return len(TEST_ORDER), node_id


def invalid_program(workspace: Workspace, mutant: Mutant) -> str:
    """Why the mutated KB is not a program clingo accepts ("" when it is)."""
    import clingo

    core = sorted(workspace.path("kb/core").glob("*.lp"))
    if mutant.file.startswith("kb/policies/"):
        entries = [workspace.path(str(Path(mutant.file).parent / "policy.lp"))]
    else:
        entries = sorted(workspace.path("kb/policies").glob("*/policy.lp"))
    messages: list[str] = []
    for entry in entries:
        messages.clear()
        ctl = clingo.Control(logger=lambda _code, text: messages.append(text), message_limit=5)
        try:
            extra = [workspace.path(mutant.file)] if mutant.file.startswith("kb/meta/") else []
            for path in [*core, entry, *extra]:
                ctl.load(str(path))
            ctl.ground([("base", [])])
        except RuntimeError:
            return " ".join(" ".join(messages).split())[:200]
    return ""


def test_durations(report: Path) -> dict[str, float]:
    """Seconds each test took in the baseline run, by node id (from pytest's JUnit XML)."""
    import xml.etree.ElementTree as ElementTree

    durations: dict[str, float] = {}
    for case in ElementTree.parse(report).iter("testcase"):
        classname, name = case.get("classname", ""), case.get("name", "")
        for suffix in (".yaml", ""):  # YAML case items, Python test functions
            if classname.endswith(suffix):
                path = classname.removesuffix(suffix).replace(".", "/") + (suffix or ".py")
                break
        durations[f"{path}::{name}"] = float(case.get("time", "0"))
    return durations


class Harness:
    def __init__(
        self,
        workspaces: list[Workspace],
        durations: dict[str, float],
        cover: dict[tuple[str, int], set[str]],
        suite: tuple[str, ...] = TEST_ORDER,
    ):
        self.free: queue.Queue[Workspace] = queue.Queue()
        for workspace in workspaces:
            self.free.put(workspace)
        self.durations = durations
        self.suite_seconds = sum(durations.values()) or 600.0
        self.cover = cover
        self.suite = list(suite)
        root = workspaces[0].root
        self.bodies = {module: function_body_lines(root / module) for module in MODULES}
        # The tests that run any line of a module: what a change of its
        # module-level code (a constant, a default, a class body) can reach.
        self.users: dict[str, set[str]] = {}
        for (module, _line), tests in cover.items():
            self.users.setdefault(module, set()).update(tests)

    def time_limit(self, selection: list[str]) -> float:
        """60 s for start-up plus three times what the selected tests took in the
        baseline (a test the report does not name counts 10 s)."""
        if selection == self.suite:
            seconds = self.suite_seconds
        else:
            seconds = sum(self.durations.get(test, 10.0) for test in selection)
        return 60.0 + 3.0 * seconds

    def selection(self, mutant: Mutant) -> list[str] | None:
        """The tests to run against a mutant (None: no test executes its line)."""
        if mutant.harness == "kb":
            return self.suite
        tests = self.cover.get((mutant.file, mutant.line))
        if mutant.line not in self.bodies.get(mutant.file, set()) and not tests:
            # Module-level code runs at import, perhaps before coverage started:
            # the tests that use the module (all of them if none is known).
            users = self.users.get(mutant.file)
            return sorted(users, key=_order) if users else self.suite
        if not tests:
            return None
        return sorted(tests, key=_order)

    def run(self, mutant: Mutant) -> Outcome:
        selection = self.selection(mutant)
        if selection is None:
            return Outcome(mutant, "uncovered", 0.0, "no test executes this line")
        workspace = self.free.get()
        target = workspace.path(mutant.file)
        original = target.read_bytes()
        try:
            target.write_bytes(mutant.content)
            if mutant.harness == "kb":
                why = invalid_program(workspace, mutant)
                if why:
                    return Outcome(mutant, "invalid", 0.0, why)
            result = workspace.pytest(selection, self.time_limit(selection))
        finally:
            target.write_bytes(original)
            self.free.put(workspace)
        if result.timed_out:
            return Outcome(mutant, "timeout", result.seconds)
        if result.returncode in (1, 2):
            return Outcome(mutant, "killed", result.seconds)
        if result.returncode == 4 and "found no collectors" in result.output:
            # The baseline collected these very tests: the mutant breaks their import.
            return Outcome(mutant, "killed", result.seconds, "the tests no longer import")
        if result.returncode == 0:
            return Outcome(mutant, "survived", result.seconds)
        tail = " ".join(result.output.strip().splitlines()[-3:])
        return Outcome(mutant, "error", result.seconds, f"pytest exit {result.returncode}: {tail}")


def save_results(outcomes: list[Outcome], mutants: list[Mutant]) -> None:
    """Writes this run's outcomes; the last run's records of mutants this run
    did not generate stay (a run of one file or some lines keeps the others)."""
    RESULTS_FILE.parent.mkdir(exist_ok=True)
    generated = {list_key(m.key) for m in mutants}
    kept = []
    if RESULTS_FILE.is_file():
        earlier = json.loads(RESULTS_FILE.read_text(encoding="utf-8"))
        kept = [r for r in earlier if list_key(r["key"]) not in generated]
    records = kept + [
        {"key": list(o.mutant.key), "status": o.status, "seconds": round(o.seconds, 1)}
        for o in outcomes
    ]
    RESULTS_FILE.write_text(json.dumps(records, indent=1) + "\n", encoding="utf-8")


def list_key(key: Sequence[object]) -> str:
    """A mutant's key as JSON, comparable between runs."""
    return json.dumps(list(key))


def earlier_results() -> dict[tuple[object, ...], str]:
    """The final statuses (killed, timeout, invalid) of the last run, by mutant
    key (records keyed as before keys were anchored are not read)."""
    if not RESULTS_FILE.is_file():
        return {}
    records = json.loads(RESULTS_FILE.read_text(encoding="utf-8"))
    return {
        tuple(record["key"]): record["status"]
        for record in records
        if len(record["key"]) == KEY_LENGTH and record["status"] in FINAL
    }


def report(harness: str, outcomes: list[Outcome]) -> float:
    counts = Counter(o.status for o in outcomes)
    killed = counts["killed"] + counts["timeout"]
    scored = killed + counts["survived"] + counts["uncovered"] + counts["error"]
    score = 100.0 * killed / scored if scored else 100.0
    raw_total = scored + counts["equivalent"]
    raw = 100.0 * killed / raw_total if raw_total else 100.0
    print(f"\n== {harness} mutants: {len(outcomes)} generated ==")
    print(
        f"killed {killed} (timeouts {counts['timeout']}), survived {counts['survived']}, "
        f"uncovered {counts['uncovered']}, errors {counts['error']}, "
        f"equivalent {counts['equivalent']}, not a valid program {counts['invalid']}"
    )
    print(
        f"score: {score:.1f}% of {scored} non-equivalent mutants killed "
        f"(raw {raw:.1f}% of {raw_total}; target {TARGETS[harness]:.0f}%)"
    )
    for outcome in outcomes:
        if outcome.status in ("survived", "uncovered", "error"):
            extra = f"  [{outcome.detail}]" if outcome.detail else ""
            print(f"  {outcome.status.upper()}: {outcome.mutant.describe()}{extra}")
    return score


def line_range(text: str) -> frozenset[int]:
    """FIRST-LAST (both included), or several such ranges and single lines
    joined by commas ("103,118-124"), as a set of line numbers."""
    found: set[int] = set()
    for piece in text.split(","):
        first, dash, last = piece.strip().partition("-")
        try:
            lines = range(int(first), int(last if dash else first) + 1)
        except ValueError:
            raise argparse.ArgumentTypeError(f"not a line range FIRST-LAST: {piece!r}") from None
        if not lines or lines.start < 1:
            raise argparse.ArgumentTypeError(f"not a line range FIRST-LAST: {piece!r}")
        found.update(lines)
    return frozenset(found)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.mutation", description=__doc__)
    parser.add_argument("--harness", choices=("kb", "python", "both"), default="both")
    parser.add_argument(
        "--jobs", type=int, default=2, help="workspaces run in parallel (default 2)"
    )
    parser.add_argument("--file", action="append", default=[], help="only mutants of this file")
    parser.add_argument(
        "--lines",
        type=line_range,
        help="only mutants on these lines of the --file modules (FIRST-LAST[,FIRST-LAST...])",
    )
    parser.add_argument("--list", action="store_true", help="list the mutants and stop")
    parser.add_argument(
        "--tests",
        action="append",
        default=[],
        help="run only these test files (baseline and mutants): a quick run on a few "
        "modules; a mutant only another file kills counts as survived",
    )
    parser.add_argument(
        "--check-equivalents",
        action="store_true",
        help=f"list the mutants of the files {EQUIVALENT_FILE.name} names and report its "
        "entries that match none (exit 1 if any); runs no test",
    )
    parser.add_argument(
        "--resume",
        action="store_true",
        help="keep the last run's killed and invalid mutants; test only the others again",
    )
    options = parser.parse_args(argv)
    unknown = [f for f in options.file if f not in MODULES and not f.startswith("kb/")]
    if unknown:
        parser.error(
            f"not a mutated module: {', '.join(unknown)} (see MODULES in python_mutants.py)"
        )
    if options.lines and not options.file:
        parser.error("--lines needs --file")
    harnesses = ["kb", "python"] if options.harness == "both" else [options.harness]

    with tempfile.TemporaryDirectory(prefix="policykb-mutation-") as parent:
        started = time.monotonic()
        workspaces = [Workspace(Path(parent)) for _ in range(max(1, options.jobs))]
        first = workspaces[0].root
        if options.check_equivalents:
            return check_equivalents(first)
        mutants: list[Mutant] = []
        if "kb" in harnesses:
            mutants += kb_mutants(first)
        if "python" in harnesses:
            # Listing mutants costs seconds a module: list only the files asked for.
            modules = [m for m in MODULES if not options.file or m in options.file]
            mutants += python_mutants(first, modules) if modules else []
        mutants = numbered(mutants)
        if options.file:
            mutants = [m for m in mutants if m.file in options.file]
        if options.lines:
            mutants = [m for m in mutants if m.line in options.lines]
        if options.list:
            for mutant in mutants:
                print(mutant.describe())
            return 0

        print(f"baseline: the whole suite, with coverage per test, in {first} ...", flush=True)
        measure = ["--cov=bridge", "--cov=service", "--cov-context=test", "--cov-report="]
        junit = Path(parent) / "baseline.xml"
        suite = tuple(options.tests) or TEST_ORDER
        baseline = workspaces[0].pytest(
            [*suite, f"--junitxml={junit}", *measure],
            timeout=3600,
            first_failure=False,
        )
        if baseline.returncode != 0:
            print(baseline.output[-3000:])
            print("the suite fails without any mutant: fix it first", file=sys.stderr)
            return 2
        from tools.mutation.python_mutants import coverage_map

        cover = coverage_map(first) if "python" in harnesses else {}
        durations = test_durations(junit)
        print(
            f"baseline passed in {baseline.seconds:.0f} s; a mutant may take 60 s plus three "
            "times what its tests took in the baseline"
        )

        equivalent = equivalent_mutants()
        earlier = earlier_results() if options.resume else {}
        harness = Harness(workspaces, durations, cover, suite)
        outcomes: list[Outcome] = []
        pending = []
        for mutant in mutants:
            if mutant.key in equivalent:
                outcomes.append(Outcome(mutant, "equivalent", 0.0, equivalent[mutant.key]))
            elif mutant.key in earlier:
                outcomes.append(Outcome(mutant, earlier[mutant.key], 0.0, "from the last run"))
            else:
                pending.append(mutant)
        print(
            f"{len(mutants)} mutants, {len(pending)} to test, {len(workspaces)} at a time",
            flush=True,
        )
        with ThreadPoolExecutor(max_workers=len(workspaces)) as pool:
            futures = [pool.submit(harness.run, mutant) for mutant in pending]
            try:
                for done, future in enumerate(as_completed(futures), 1):
                    outcome = future.result()
                    outcomes.append(outcome)
                    if done % 10 == 0:
                        save_results(outcomes, mutants)  # an interrupted run keeps what it learnt
                    if outcome.status in ("survived", "error"):
                        shown = f"{outcome.status}: {outcome.mutant.describe()}"
                        print(f"  [{done}/{len(pending)}] {shown}", flush=True)
                    elif done % 25 == 0:
                        print(
                            f"  [{done}/{len(pending)}] {time.monotonic() - started:.0f} s",
                            flush=True,
                        )
            except BaseException:
                # Stopped (Ctrl-C, SIGTERM): no mutant starts any more, and the
                # test runs in flight end now rather than at their time limit.
                for future in futures:
                    future.cancel()
                for workspace in workspaces:
                    workspace.stop()
                raise

        save_results(outcomes, mutants)
        generated = {m.key for m in mutants}
        stale = [
            key
            for key in equivalent
            if key[0] in harnesses and key not in generated and not options.file
        ]
        failing = []
        for name in harnesses:
            mine = sorted(
                (o for o in outcomes if o.mutant.harness == name),
                key=lambda o: (o.mutant.file, o.mutant.line, o.mutant.operator),
            )
            if report(name, mine) < TARGETS[name]:
                failing.append(name)
        for key in stale:
            print(f"stale entry in {EQUIVALENT_FILE.name} (no such mutant now): {key}")
        print(f"\nmutation testing took {time.monotonic() - started:.0f} s")
        return 1 if failing else 0


def check_equivalents(root: Path, path: Path = EQUIVALENT_FILE) -> int:
    """Reports the recorded equivalents that match no mutant the harnesses
    generate now (0: none, 1: some), listing only the files they name."""
    equivalent = equivalent_mutants(path)
    files = {key[1] for key in equivalent}
    mutants: list[Mutant] = []
    if any(key[0] == "kb" for key in equivalent):
        mutants += kb_mutants(root)
    modules = [m for m in MODULES if m in files]
    mutants += python_mutants(root, modules) if modules else []
    generated = {m.key for m in numbered(mutants)}
    stale = [key for key in equivalent if key not in generated]
    for key in stale:
        print(f"stale entry in {path.name} (no such mutant now): {key}")
    print(f"{len(equivalent) - len(stale)} of {len(equivalent)} entries match a mutant")
    return 1 if stale else 0


def _stop(_signal: int, _frame: object) -> None:
    raise KeyboardInterrupt


if __name__ == "__main__":
    import signal

    signal.signal(signal.SIGTERM, _stop)  # kill or Ctrl-C: the test runs end too
    sys.exit(main())
