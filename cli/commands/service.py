"""The commands of the HTTP service: serve, and replay of its audit log."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from policykb.bridge import KnowledgeBase
from policykb.bridge.model.errors import CaseError, OutputError
from policykb.bridge.model.extras import require_extra
from policykb.bridge.model.formats import OutputFormat
from policykb.cli import guards
from policykb.cli.answers import write_json
from policykb.cli.errors import report, reports_errors
from policykb.cli.exit_codes import EXIT_FINDINGS, EXIT_USAGE
from policykb.cli.options import FormatOption, KbOption


@reports_errors
def serve(
    host: Annotated[str, typer.Option(help="The address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=1, max=65535, help="The port to listen on.")] = 8080,
    kb: KbOption = None,
    policy: Annotated[
        list[str] | None,
        typer.Option(
            "--policy",
            help="Serve only this policy (repeat for several; default: every policy).",
            show_default=False,
        ),
    ] = None,
    workers: Annotated[
        int, typer.Option(min=1, max=64, help="Worker processes (each loads the policies).")
    ] = 1,
    audit: Annotated[
        Path, typer.Option(help="The audit log: one JSON line per decision, appended.")
    ] = Path("policykb-audit.jsonl"),
    trust: Annotated[
        Path | None,
        typer.Option(
            help="JSON file of trusted JWT issuers and their keys (JWKS): every request "
            "but discovery then needs a bearer token (CDS Hooks 2.0).",
            show_default=False,
        ),
    ] = None,
    no_auth: Annotated[
        bool,
        typer.Option(
            "--no-auth", help="Serve a non-loopback address without authentication (explicit)."
        ),
    ] = False,
    public_url: Annotated[
        str | None,
        typer.Option(
            help="The base URL clients call (behind a proxy): JWT audiences and "
            "questionnaire canonicals; required with --trust off loopback.",
            show_default=False,
        ),
    ] = None,
    max_body: Annotated[
        int, typer.Option(min=1024, help="The largest request body accepted, in bytes.")
    ] = 1 << 20,
    max_orders: Annotated[
        int, typer.Option(min=1, help="Draft orders (CRD) or Claim items (PAS) per request: 413.")
    ] = 100,
    max_resources: Annotated[
        int, typer.Option(min=1, help="FHIR resources read from one request: 413 past it.")
    ] = 10_000,
    max_connections: Annotated[
        int,
        typer.Option(min=1, help="Open connections per worker; one more is answered 503."),
    ] = 256,
    max_header_bytes: Annotated[
        int, typer.Option(min=1024, help="Request line and headers, in bytes: 431 past it.")
    ] = 16 << 10,
    max_headers: Annotated[
        int, typer.Option(min=8, help="Header fields of one request: 431 past it.")
    ] = 100,
    header_timeout: Annotated[
        float,
        typer.Option(min=0.1, help="Seconds for a request's line and headers to arrive: 408."),
    ] = 10.0,
    body_timeout: Annotated[
        float, typer.Option(min=0.1, help="Seconds for a request's body to arrive: 408.")
    ] = 30.0,
    decision_threads: Annotated[
        int,
        typer.Option(min=1, max=64, help="Threads per worker that decide, off the event loop."),
    ] = 4,
    jti_store: Annotated[
        Path | None,
        typer.Option(
            help="SQLite file of used token ids, shared by the workers "
            "(default with --trust: the audit log's path + .jti.sqlite).",
            show_default=False,
        ),
    ] = None,
    pas_store: Annotated[
        Path | None,
        typer.Option(
            help="SQLite file of submitted prior authorizations, kept for $inquire and "
            "Claim updates and shared by the workers (default: the audit log's path "
            "+ .pas.sqlite).",
            show_default=False,
        ),
    ] = None,
    cors_origin: Annotated[
        list[str] | None,
        typer.Option(
            help="A browser origin allowed to call the service (CORS), e.g. "
            "https://sandbox.cds-hooks.org; repeatable; '*' allows any.",
            show_default=False,
        ),
    ] = None,
    ehr_timeout: Annotated[
        float,
        typer.Option(
            min=0.0,
            help="Seconds a CRD call may spend querying the EHR's fhirServer for what it "
            "did not prefetch (0: never query; such answers are indeterminate).",
        ),
    ] = 2.0,
    payer_name: Annotated[
        str | None,
        typer.Option(
            help="The payer's name on CRD cards (default: the Coverage's payor).",
            show_default=False,
        ),
    ] = None,
    hook_log: Annotated[
        Path | None,
        typer.Option(
            help="SQLite file keeping every CDS Hooks call and its answer in full "
            "(CRD found-37; holds PHI) (default: the audit log's path + .hooks.sqlite).",
            show_default=False,
        ),
    ] = None,
    smart_clients: Annotated[
        Path | None,
        typer.Option(
            help="JSON file of SMART Backend Services clients and their keys (JWKS): "
            "/auth/token then issues access tokens, which every /fhir/ route but "
            "metadata requires (DTR spec-120).",
            show_default=False,
        ),
    ] = None,
    ssl_certfile: Annotated[
        Path | None,
        typer.Option(
            help="Serve HTTPS (TLS 1.2 or later) with this PEM certificate chain; "
            "needs --ssl-keyfile.",
            show_default=False,
        ),
    ] = None,
    ssl_keyfile: Annotated[
        Path | None,
        typer.Option(
            help="The PEM private key of --ssl-certfile (unencrypted).", show_default=False
        ),
    ] = None,
) -> None:
    """Serve coverage decisions: Da Vinci CRD (CDS Hooks), DTR, PAS and a JSON API.

    Routes: GET /cds-services, POST /cds-services/{id}, GET /fhir/Questionnaire/{policy},
    POST /fhir/Claim/$submit, POST /fhir/Claim/$inquire, POST /v1/evaluate, /v1/why,
    /v1/check, GET /openapi.json.
    Authentication is required on an address other than loopback: give --trust, or
    --no-auth to serve without it.

    Off loopback, a token's audience is --public-url, which is then required; on
    loopback without it, the address served (http://127.0.0.1:PORT, or localhost).
    The Host header never decides an audience or a URL.

    With --ssl-certfile and --ssl-keyfile the service itself speaks HTTPS (CDS Hooks
    and CRD sec-2); otherwise TLS is terminated in front of it.

    Exit codes: 0 stopped, 1 invalid policy or trust file, a conflict between the
    policies (check --all names each) or an unknown --policy, 2 usage error (a
    certificate or key that cannot be loaded included), 5 the audit
    log cannot be written, or the jti or PAS store or the hook log cannot be opened.
    """
    require_extra("serve")
    from urllib.parse import urlsplit

    from policykb.service.settings import ServiceSettings, is_loopback

    if not is_loopback(host) and trust is None and not no_auth:
        report(
            f"serving {host} needs --trust FILE (the JWT issuers to accept) or, "
            "explicitly, --no-auth"
        )
        raise typer.Exit(EXIT_USAGE)
    if not is_loopback(host) and trust is not None and not public_url:
        report(
            f"serving {host} with --trust needs --public-url URL (the base URL clients "
            "call: tokens must name it as their audience)"
        )
        raise typer.Exit(EXIT_USAGE)
    if public_url is not None:
        parts = urlsplit(public_url)
        if parts.scheme not in ("http", "https") or not parts.netloc or parts.query:
            report(f"--public-url {public_url[:80]!r} must be an http(s) URL without a query")
            raise typer.Exit(EXIT_USAGE)
    for origin in cors_origin or ():
        parts = urlsplit(origin)
        if origin != "*" and (
            parts.scheme not in ("http", "https") or not parts.netloc or parts.path or parts.query
        ):
            report(f"--cors-origin {origin[:80]!r} must be an origin (scheme://host[:port]) or '*'")
            raise typer.Exit(EXIT_USAGE)
    tls = _tls_files(ssl_certfile, ssl_keyfile)
    store = jti_store or (Path(f"{audit}.jti.sqlite") if trust else None)
    guard = guards.outputs((trust, smart_clients, ssl_certfile, ssl_keyfile), kb=kb)
    # appending to an input would corrupt it; so would the jti store's SQLite pages
    authorizations = pas_store or Path(f"{audit}.pas.sqlite")
    tokens = Path(f"{audit}.tokens.sqlite") if smart_clients else None
    hooks = hook_log or Path(f"{audit}.hooks.sqlite")
    for name, written in (
        ("audit log", audit),
        ("jti store", store),
        ("PAS store", authorizations),
        ("SMART token store", tokens),
        ("hook log", hooks),
    ):
        try:
            if written is not None:
                guard.check(written)
        except OutputError as error:
            raise OutputError(f"{name} {error}") from None
    settings = ServiceSettings(
        kb_dirs=tuple(str(d) for d in kb or ()),
        policies=tuple(policy or ()),
        audit=str(audit),
        trust=str(trust) if trust else None,
        public_url=public_url,
        max_body=max_body,
        max_orders=max_orders,
        max_resources=max_resources,
        max_connections=max_connections,
        max_header_bytes=max_header_bytes,
        max_headers=max_headers,
        header_timeout=header_timeout,
        body_timeout=body_timeout,
        decision_threads=decision_threads,
        jti_store=str(store) if store else None,
        pas_store=str(authorizations),
        cors_origins=tuple(cors_origin or ()),
        hook_log=str(hooks),
        smart_clients=str(smart_clients) if smart_clients else None,
        smart_tokens=str(tokens) if tokens else None,
        ehr_timeout=ehr_timeout,
        payer_name=payer_name,
    )
    from policykb.service.serve import run_service

    run_service(settings, host, port, workers, tls)


def _tls_files(certfile: Path | None, keyfile: Path | None) -> tuple[str, str] | None:
    """The certificate and key to serve HTTPS with, checked by loading them
    as the server will (a usage error naming the file otherwise)."""
    if certfile is None and keyfile is None:
        return None
    if keyfile is None:
        report("--ssl-certfile needs --ssl-keyfile as well")
        raise typer.Exit(EXIT_USAGE)
    if certfile is None:
        report("--ssl-keyfile needs --ssl-certfile as well")
        raise typer.Exit(EXIT_USAGE)
    import ssl

    try:
        ssl.create_default_context(ssl.Purpose.CLIENT_AUTH).load_cert_chain(certfile, keyfile)
    except (OSError, ssl.SSLError) as error:
        reason = getattr(error, "reason", None) or error.strerror or type(error).__name__
        report(
            f"--ssl-certfile {str(certfile)[:80]!r} with --ssl-keyfile {str(keyfile)[:80]!r} "
            f"cannot be loaded ({reason})"
        )
        raise typer.Exit(EXIT_USAGE) from None
    return str(certfile), str(keyfile)


@reports_errors
def replay(
    log: Annotated[Path, typer.Argument(help="An audit log written by policykb serve.")],
    output_format: FormatOption = OutputFormat.TEXT,
    kb: KbOption = None,
) -> None:
    """Check an audit log's hash chain and hashes, decide every entry again,
    and report the entries that are bad or differ now.

    An entry is bad when the chain breaks at it (its prev_hash does not name
    the line before: an entry edited, removed or inserted), when its
    facts_hash or coverage_assertion_id does not match its content, or when it
    cannot be read or decided; each is reported with its line and the replay
    goes on. An entry differs when its verdict or cited criteria changed (the
    report says whether the policy's content hash changed too). The last line
    gives the chain's head hash: keep it elsewhere to detect a rewrite of the
    log's end.

    Exit codes: 0 every entry is sound and decides as it did, 1 some entry is
    bad or differs (or the log cannot be read).
    """
    require_extra("serve")
    from policykb.explain.escape import terminal_safe
    from policykb.service.audit_replay import Chain
    from policykb.service.audit_replay import replay as replay_log
    from policykb.service.decisions import Decisions

    if not log.exists():
        raise CaseError(f"{log}: no such audit log")
    if log.is_dir():
        raise CaseError(f"{log}: is a folder, not an audit log")
    decisions = Decisions(KnowledgeBase(kb or ()), compile_now=False)
    chain = Chain()
    total, bad, changed, differing = 0, 0, 0, []
    for entry in replay_log(log, decisions, chain):
        total += 1
        bad += entry.bad
        changed += entry.changed
        if entry.differs:
            differing.append(entry)
    if output_format is OutputFormat.JSON:
        write_json(
            {
                "entries": total,
                "bad": bad,
                "chain_head": chain.head,
                "differ": [entry.to_dict() for entry in differing],
            }
        )
    else:
        lines = [f"{total} entries replayed, {bad} bad, {changed} differ\n"]
        for entry in differing:
            where = f"{log.name}:{entry.line}"
            if entry.bad:
                lines.append(f"{where}: bad: {entry.problem}\n")
            if entry.changed:
                since = " (the policy changed since)" if entry.policy_changed else ""
                lines.append(
                    f"{where}: {entry.assertion_id} {entry.policy}: {entry.before} -> "
                    f"{entry.after}, criteria {entry.criteria_before} -> "
                    f"{entry.criteria_after}{since}\n"
                )
        lines.append(f"chain head sha256:{chain.head}\n")
        # Everything above may come from the log: no raw escape reaches the terminal.
        sys.stdout.write("".join(terminal_safe(line.rstrip("\n")) + "\n" for line in lines))
    if differing:
        raise typer.Exit(EXIT_FINDINGS)
