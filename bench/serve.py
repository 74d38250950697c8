"""Load on `policykb serve` over loopback: CRD order-sign under concurrency.

32 concurrent clients (keep-alive connections) send CRD order-sign requests
for 30 s, each request a bariatric order with a record of its own (age, BMI
history, pregnancy, diagnoses drawn at random, so decisions vary); the
service decides each and appends it to its audit log (fsync'd). Reported:
throughput, p50/p99 latency, errors, the server's CPU per request (Linux: its
and its workers' user and system time over the load, from /proc; steadier
than latency on a shared machine), and as a baseline in the same run the
same clients against GET /healthz (the server and client cost of a request
without a decision).

Targets (issue: the service): p99 <= 100 ms and zero errors; Da Vinci's own
target is 5 s for 90% of calls.

The CRD load runs twice on fresh servers, in the same run: first with one
policy served (`--policy bariatric-surgery`, the policy the orders route
to), then with every bundled policy loaded (the catalogue: each policy's
codes routed, each compiled); the last line compares their p99 (issue 30:
the catalogue keeps the one-policy figure).

Then, on the catalogue's server, one large CRD request (about 1 MB: 20 orders and
3,500 BMI Observations, within the service's per-request budget) while one
client polls GET /healthz: reported are the large request's time and the
longest and median /healthz wait while it ran (target: under 100 ms, issue 26:
the event loop never decides).

Then the added latency of fetching from the EHR (CRD found-5): one client
sends the same order-sign request 200 times with its record prefetched, and
200 times with no prefetch but a fhirServer (the FHIR test double of
tests/fhir_server.py on loopback, serving the same record): medians and p99
of both, and the difference.

    python bench/serve.py [--clients 32] [--seconds 30] [--workers 1 2] [--large-only]
                          [--ehr-only] [--baseline PYTHON [--rounds 3]]

With --baseline, only the CRD load with every policy loaded, against this
checkout's `policykb serve` and, alternating with it round by round, against
the `policykb serve` of another installation: PYTHON is the interpreter of
that installation's virtual environment (its `policykb` beside it). Reported:
the medians over rounds of each server's p99, requests/s and server CPU per
request, and this checkout's figures as ratios of the baseline's. A figure
taken on a shared machine means something only against a baseline measured
in the same run. To make a baseline installation of an earlier commit:

    git worktree add --detach ../policykb-baseline COMMIT
    make -C ../policykb-baseline .venv/.installed
    python bench/serve.py --workers 2 --baseline ../policykb-baseline/.venv/bin/python

The load client runs on the same machine and takes part of its two cores.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import policykb
from tests.fhir_records import BARIATRIC_CODES, Record

DIAGNOSES = ["E11.9", "E08.0", "M17.11", "M16.0", "I10", "G93.2", "J45.909"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def bodies(count: int, seed: int = 7) -> list[bytes]:
    """Distinct order-sign requests, each with its own record."""
    rng = random.Random(seed)
    made = []
    for index in range(count):
        record = Record(
            code=rng.choice(list(BARIATRIC_CODES.values())),
            birth_date=f"{rng.randint(1940, 2010)}-{rng.randint(1, 12):02d}-15",
            bmis=[
                (f"2026-0{m}-01", round(rng.uniform(25, 55), 1))
                for m in range(1, rng.randint(1, 5))
            ],
            pregnant=rng.choice([None, False, True]),
            diagnoses=rng.sample(DIAGNOSES, rng.randint(0, 3)),
            order_id=f"order-{index}",
        )
        made.append(json.dumps(record.hook()).encode())
    return made


async def client(
    port: int,
    path: str,
    payloads: list[bytes] | None,
    until: float,
    latencies: list[float],
    errors: list[str],
) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    rng = random.Random()
    try:
        while time.perf_counter() < until:
            if payloads is None:
                request = f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n".encode()
            else:
                body = rng.choice(payloads)
                head = (
                    f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                    f"Content-Length: {len(body)}\r\n\r\n"
                )
                request = head.encode() + body
            start = time.perf_counter()
            writer.write(request)
            await writer.drain()
            status_line = await reader.readline()
            length = 0
            while True:
                line = await reader.readline()
                if line in (b"\r\n", b""):
                    break
                name, _, value = line.decode("latin-1").partition(":")
                if name.lower() == "content-length":
                    length = int(value)
            await reader.readexactly(length)
            latencies.append(time.perf_counter() - start)
            if not status_line.startswith(b"HTTP/1.1 200"):
                errors.append(status_line.decode("latin-1").strip())
    except (OSError, asyncio.IncompleteReadError) as error:
        errors.append(repr(error))
    finally:
        writer.close()


async def load(
    port: int, path: str, payloads: list[bytes] | None, clients: int, seconds: float
) -> dict[str, float]:
    latencies: list[float] = []
    errors: list[str] = []
    start = time.perf_counter()
    until = start + seconds
    await asyncio.gather(
        *(client(port, path, payloads, until, latencies, errors) for _ in range(clients))
    )
    wall = time.perf_counter() - start
    latencies.sort()
    return {
        "requests": len(latencies),
        "per_second": len(latencies) / wall,
        "p50_ms": 1000 * statistics.median(latencies) if latencies else float("nan"),
        "p99_ms": 1000 * latencies[int(0.99 * (len(latencies) - 1))] if latencies else float("nan"),
        "errors": len(errors),
    }


def large_body(orders: int = 20, size: int = 1_000_000) -> bytes:
    """One order-sign request of about `size` bytes (under the service's 1 MiB
    --max-body): many orders, a long BMI history sized to fit."""

    def made(observations: int) -> bytes:
        rng = random.Random(11)
        record = Record(
            code=BARIATRIC_CODES["sleeve_gastrectomy"],
            bmis=[
                (
                    f"20{rng.randint(10, 25)}-{rng.randint(1, 12):02d}-01",
                    round(rng.uniform(25, 55), 1),
                )
                for _ in range(observations)
            ],
            diagnoses=["E11.9"],
        )
        hook = record.hook()
        base = hook["context"]["draftOrders"]["entry"][0]["resource"]
        hook["context"]["draftOrders"]["entry"] = [
            {"resource": {**base, "id": f"order-{index}"}} for index in range(orders)
        ]
        return json.dumps(hook).encode()

    # The size of one Observation's entry changes with the record builder:
    # measure it rather than fix a count.
    small, large = made(100), made(1100)
    per_observation = (len(large) - len(small)) / 1000
    return made(max(1, int((size - len(small)) / per_observation) + 100))


async def healthz_under_large_request(port: int, body: bytes) -> dict[str, float]:
    """/healthz latencies, one after another, while one large CRD request runs."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    head = (
        "POST /cds-services/policykb-order-sign HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
    )
    start = time.perf_counter()
    writer.write(head.encode() + body)
    await writer.drain()
    large = asyncio.ensure_future(reader.readline())
    waits: list[float] = []
    probe_reader, probe_writer = await asyncio.open_connection("127.0.0.1", port)
    while not large.done():
        sent = time.perf_counter()
        probe_writer.write(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        await probe_writer.drain()
        length = 0
        await probe_reader.readline()
        while (line := await probe_reader.readline()) not in (b"\r\n", b""):
            name, _, value = line.decode("latin-1").partition(":")
            if name.lower() == "content-length":
                length = int(value)
        await probe_reader.readexactly(length)
        waits.append(time.perf_counter() - sent)
    status = await large
    took = time.perf_counter() - start
    probe_writer.close()
    writer.close()
    waits.sort()
    return {
        "status": float(status.split()[1]) if len(status.split()) > 1 else float("nan"),
        "seconds": took,
        "probes": len(waits),
        "max_ms": 1000 * waits[-1] if waits else float("nan"),
        "p50_ms": 1000 * statistics.median(waits) if waits else float("nan"),
    }


def server_cpu(pid: int) -> float | None:
    """CPU seconds (user and system) of the server and its workers so far;
    None where /proc does not tell (not Linux). On a shared machine the
    server's CPU per request is steadier than its latency."""
    proc = Path("/proc")
    if not (proc / str(pid) / "stat").is_file():
        return None
    ticks = os.sysconf("SC_CLK_TCK")
    total = 0.0
    for stat in proc.glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue  # ended meanwhile
        if stat.parent.name == str(pid) or fields[1] == str(pid):  # the server or a worker
            total += (int(fields[11]) + int(fields[12])) / ticks
    return total


def wait_ready(port: int, process: subprocess.Popen[bytes], seconds: float = 120) -> None:
    deadline = time.time() + seconds
    while time.time() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"policykb serve exited with {process.returncode}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.2)
    raise SystemExit("policykb serve did not start")


def ehr_fetch(port: int, count: int = 200) -> dict[str, float]:
    """Latency of order-sign with the record prefetched, against the same
    record fetched from a FHIR server on loopback (one client, in turn)."""
    import httpx

    from tests.fhir_server import TOKEN, categorized, fhir_server

    record = Record(bmis=[("2026-05-01", 41.0)], pregnant=False, diagnoses=["E11.9"])
    observations = [
        categorized(o, "vital-signs" if o["id"].startswith("bmi") else "social-history")
        for o in record.observations()
    ]
    held = [record.patient(), record.coverage_resource(), *record.conditions(), *observations]
    url = f"http://127.0.0.1:{port}/cds-services/policykb-order-sign"
    timings: dict[str, list[float]] = {"prefetch": [], "fetch": []}
    with fhir_server(held) as server, httpx.Client(timeout=30) as http:
        fetching = record.hook()
        del fetching["prefetch"]
        fetching["fhirServer"] = server.base
        fetching["fhirAuthorization"] = {"access_token": TOKEN, "token_type": "Bearer"}
        for _ in range(count):
            for name, body in (("prefetch", record.hook()), ("fetch", fetching)):
                sent = time.perf_counter()
                answer = http.post(url, json=body)
                timings[name].append(time.perf_counter() - sent)
                covered = answer.json()["systemActions"][0]["resource"]["extension"][-1]
                assert answer.status_code == 200 and "indeterminate" not in str(covered)
    found = {}
    for name, values in timings.items():
        values.sort()
        found[f"{name}_p50_ms"] = 1000 * statistics.median(values)
        found[f"{name}_p99_ms"] = 1000 * values[int(0.99 * (len(values) - 1))]
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--clients", type=int, default=32)
    parser.add_argument("--seconds", type=float, default=30)
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    parser.add_argument(
        "--large-only", action="store_true", help="Only the large request's /healthz delay."
    )
    parser.add_argument("--ehr-only", action="store_true", help="Only the EHR fetch's latency.")
    parser.add_argument(
        "--baseline",
        metavar="PYTHON",
        type=Path,
        help="Compare with the policykb serve of the installation of this interpreter "
        "(the CRD load with every policy, in alternating rounds).",
    )
    parser.add_argument(
        "--rounds", type=int, default=3, help="Rounds of each server, with --baseline."
    )
    args = parser.parse_args()
    if args.baseline is not None:
        baseline = installed_policykb(args.baseline)
        for workers in args.workers:
            compare(baseline, args.clients, args.seconds, workers, args.rounds)
        return
    for workers in args.workers:
        if args.ehr_only:
            run(args.clients, args.seconds, workers, large=False, ehr_only=True)
            continue
        if args.large_only:
            run(args.clients, args.seconds, workers, large_only=True)
            continue
        one = run(args.clients, args.seconds, workers, served=[ONE_POLICY], large=False)
        every = run(args.clients, args.seconds, workers)
        print(
            f"catalogue, {workers} worker(s), {args.clients} clients: CRD p99 "
            f"{every['p99_ms']:.1f} ms with every bundled policy ({every['policies']:.0f}) "
            f"vs {one['p99_ms']:.1f} ms with {ONE_POLICY} alone "
            f"({every['p99_ms'] / one['p99_ms']:.2f}x); throughput "
            f"{every['per_second']:,.0f} vs {one['per_second']:,.0f} requests/s"
            + (
                f"; server CPU per request {every['cpu_ms']:.2f} vs {one['cpu_ms']:.2f} ms"
                if "cpu_ms" in every and "cpu_ms" in one
                else ""
            )
        )


def installed_policykb(python: Path) -> list[str]:
    """The policykb command of the installation whose interpreter is `python`
    (SystemExit naming what is wrong when there is none)."""
    if not python.is_file():
        raise SystemExit(f"--baseline {python}: no such interpreter")
    command = policykb(str(python))
    found = subprocess.run([*command, "--version"], capture_output=True, check=False)
    if found.returncode != 0:
        raise SystemExit(f"--baseline {python}: its installation has no policykb command")
    return command


COMPARED = (("p99_ms", "p99 "), ("per_second", "requests/s "), ("cpu_ms", "server CPU "))
"""The figures compared with --baseline, and their labels."""


def compare(baseline: list[str], clients: int, seconds: float, workers: int, rounds: int) -> None:
    """The CRD load with every policy loaded, against this checkout's server and
    the baseline's in turn (the order swapped each round), `rounds` times each;
    the medians of both and their ratios."""
    servers = {"this checkout": policykb(), "baseline": baseline}
    measured: dict[str, list[dict[str, float]]] = {name: [] for name in servers}
    for index in range(rounds):
        order = list(servers) if index % 2 == 0 else list(servers)[::-1]
        for name in order:
            print(f"round {index + 1} of {rounds}, {name}:")
            found = run(clients, seconds, workers, large=False, policykb_command=servers[name])
            measured[name].append(found)
    medians = {
        name: {
            key: statistics.median(r[key] for r in runs)
            for key in ("p99_ms", "per_second", "cpu_ms", "policies", "healthz_per_second")
            if all(key in r for r in runs)
        }
        for name, runs in measured.items()
    }
    print(
        f"CRD order-sign, {workers} worker(s), {clients} clients, every policy of each "
        f"installation; medians of {rounds} alternating rounds:"
    )
    for name, found in medians.items():
        print(
            f"  {name:<14} p99 {found['p99_ms']:.1f} ms, {found['per_second']:,.0f} requests/s"
            + (f", server CPU {found['cpu_ms']:.2f} ms per request" if "cpu_ms" in found else "")
            + f" ({found['policies']:.0f} policies; GET /healthz "
            f"{found['healthz_per_second']:,.0f} requests/s)"
        )
    ours, theirs = medians["this checkout"], medians["baseline"]
    ratios = [
        f"{label}{ours[key] / theirs[key]:.2f}x"
        for key, label in COMPARED
        if key in ours and key in theirs
    ]
    print(f"  this checkout / baseline: {', '.join(ratios)}")


ONE_POLICY = "bariatric-surgery"
"""The policy the benchmark's orders route to (tests/fhir_records.BARIATRIC_CODES)."""


def run(
    clients: int,
    seconds: float,
    workers: int,
    large_only: bool = False,
    served: list[str] | None = None,
    large: bool = True,
    ehr_only: bool = False,
    policykb_command: list[str] | None = None,
) -> dict[str, float]:
    """One server's figures; `served`: serve only these policies (None: all);
    with `large`, also the EHR fetch's added latency; `policykb_command`: the
    policykb command to serve with (None: this checkout's)."""
    port = free_port()
    with tempfile.TemporaryDirectory() as folder:
        audit = Path(folder) / "audit.jsonl"
        command = [
            *(policykb_command or policykb()),
            "serve",
            "--port",
            str(port),
            "--audit",
            str(audit),
            "--workers",
            str(workers),
            *(argument for name in served or () for argument in ("--policy", name)),
        ]
        process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            wait_ready(port, process)
            payloads = bodies(2000)
            asyncio.run(
                load(port, "/cds-services/policykb-order-sign", payloads[:50], 4, 3)
            )  # warm up
            if ehr_only:
                ehr = ehr_fetch(port)
            elif not large_only:
                baseline = asyncio.run(load(port, "/healthz", None, clients, min(10, seconds)))
                before = server_cpu(process.pid)
                crd = asyncio.run(
                    load(port, "/cds-services/policykb-order-sign", payloads, clients, seconds)
                )
                after = server_cpu(process.pid)
                if before is not None and after is not None and crd["requests"]:
                    crd["cpu_ms"] = 1000 * (after - before) / crd["requests"]
            if large:
                body = large_body()
                measured = asyncio.run(healthz_under_large_request(port, body))
                ehr = ehr_fetch(port)
            policies = len(served) if served else count_policies(port)
        finally:
            process.terminate()
            process.wait(timeout=30)
        audited = sum(1 for _ in audit.open("rb"))
    loaded = ", ".join(served) if served else f"every bundled policy ({policies})"
    print(
        f"policykb serve, {workers} worker(s), {clients} concurrent clients on loopback, "
        f"serving {loaded}"
    )
    if large or ehr_only:
        print(
            f"  order-sign, one client: prefetched p50 {ehr['prefetch_p50_ms']:.1f} ms "
            f"(p99 {ehr['prefetch_p99_ms']:.1f}); fetched from a loopback FHIR server p50 "
            f"{ehr['fetch_p50_ms']:.1f} ms (p99 {ehr['fetch_p99_ms']:.1f}): the fetch adds "
            f"{ehr['fetch_p50_ms'] - ehr['prefetch_p50_ms']:.1f} ms at the median"
        )
    if ehr_only:
        return {"policies": policies}
    if not large_only:
        print(f"  baseline GET /healthz: {figures(baseline)}")
        print(f"  CRD order-sign ({seconds:.0f} s, distinct records): {figures(crd)}")
        print("    (target p99 <= 100 ms, 0 errors)")
        if "cpu_ms" in crd:
            print(f"    server CPU per request: {crd['cpu_ms']:.2f} ms (server and workers)")
        ratio = crd["per_second"] / baseline["per_second"]
        print(f"  {ratio:.2f}x the baseline's throughput; audit entries: {audited:,}")
    if not large:
        return {**crd, "policies": policies, "healthz_per_second": baseline["per_second"]}
    large_figures(body, measured)
    return {**(crd if not large_only else {}), "policies": policies}


def count_policies(port: int) -> int:
    """How many policies the server loaded (GET /v1/policies)."""
    import urllib.request

    with urllib.request.urlopen(f"http://127.0.0.1:{port}/v1/policies", timeout=10) as answer:
        return len(json.loads(answer.read())["policies"])


def large_figures(body: bytes, large: dict[str, float]) -> None:
    print(
        f"  one {len(body) / 1e6:.2f} MB CRD request (status {large['status']:.0f}, "
        f"{large['seconds']:.2f} s): /healthz waited at most {large['max_ms']:.1f} ms "
        f"(median {large['p50_ms']:.1f} ms, {large['probes']:.0f} probes; target < 100 ms)"
    )
    if large["status"] != 200:
        print("  (the large request was not decided: the /healthz figure above measures a refusal)")


def figures(measured: dict[str, float]) -> str:
    return (
        f"{measured['per_second']:,.0f} requests/s, p50 {measured['p50_ms']:.1f} ms, "
        f"p99 {measured['p99_ms']:.1f} ms, {measured['errors']:.0f} errors"
    )


if __name__ == "__main__":
    main()
