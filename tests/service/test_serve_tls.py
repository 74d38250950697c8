"""`policykb serve --ssl-certfile --ssl-keyfile`: the service's own listener
speaks TLS (CDS Hooks and CRD sec-2), with a self-signed certificate made
here for 127.0.0.1 (cryptography), and refuses a certificate it cannot load
with a one-line usage error. The server runs two workers, so the handshakes
go through the workers' balanced accepting (service/balanced_accept.py),
failed ones included."""

from __future__ import annotations

import datetime
import ipaddress
import json
import signal
import socket
import ssl
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from typer.testing import CliRunner

from policykb.cli.main import app as cli
from tests.service.test_service_hardening import free_port, read_all, wait_until


@pytest.fixture(scope="module")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1 and its key, as PEM files."""
    folder = tmp_path_factory.mktemp("tls")
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .sign(key, hashes.SHA256())
    )
    certfile, keyfile = folder / "cert.pem", folder / "key.pem"
    certfile.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    keyfile.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return certfile, keyfile


def https_get(port: int, path: str, trusted: Path) -> tuple[bytes, str | None]:
    """A GET over TLS that verifies the server against `trusted`: the raw
    answer and the TLS version negotiated."""
    context = ssl.create_default_context(cafile=str(trusted))
    with (
        socket.create_connection(("127.0.0.1", port), timeout=10) as raw,
        context.wrap_socket(raw, server_hostname="127.0.0.1") as client,
    ):
        request = f"GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
        client.sendall(request.encode())
        return read_all(client), client.version()


def answers_https(port: int, trusted: Path) -> bool:
    try:
        return https_get(port, "/healthz", trusted)[0].startswith(b"HTTP/1.1 200")
    except OSError:
        return False


@pytest.fixture(scope="module")
def https_server(
    certificate: tuple[Path, Path], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[int]:
    certfile, keyfile = certificate
    port = free_port()
    audit = tmp_path_factory.mktemp("audit") / "audit.jsonl"
    command = [sys.executable, "-m", "policykb.cli.main", "serve", "--port", str(port)]
    command += ["--audit", str(audit), "--policy", "massage-therapy", "--workers", "2"]
    command += ["--ssl-certfile", str(certfile), "--ssl-keyfile", str(keyfile)]
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        wait_until(
            lambda: process.poll() is None and answers_https(port, certfile),
            120,
            "the HTTPS server to start",
        )
        yield port
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.communicate()


def test_the_service_answers_over_tls_with_its_https_base(
    https_server: int, certificate: tuple[Path, Path]
) -> None:
    """Discovery over a verified TLS 1.2+ connection; the CapabilityStatement
    names the https base the request reached."""
    answer, version = https_get(https_server, "/cds-services", certificate[0])
    assert answer.startswith(b"HTTP/1.1 200")
    assert version in ("TLSv1.2", "TLSv1.3")
    assert b"policykb-order-sign" in answer
    answer, _ = https_get(https_server, "/fhir/metadata", certificate[0])
    statement = json.loads(answer.split(b"\r\n\r\n", 1)[1])
    assert statement["url"] == f"https://127.0.0.1:{https_server}/fhir/metadata"


def test_plain_http_is_not_answered_on_the_tls_port(https_server: int) -> None:
    with socket.create_connection(("127.0.0.1", https_server), timeout=10) as client:
        client.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        assert not read_all(client).startswith(b"HTTP/1.1 200")


@pytest.mark.filterwarnings("ignore:ssl.TLSVersion.TLSv1:DeprecationWarning")
def test_tls_older_than_1_2_is_refused(https_server: int, certificate: tuple[Path, Path]) -> None:
    """A client that offers only TLS 1.0 and 1.1 (OpenSSL's security level
    lowered so that it can) is refused (CRD sec-3, HRex). The control: the
    same client completes a TLS 1.1 handshake with a server that allows it."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname, context.verify_mode = False, ssl.CERT_NONE
    context.set_ciphers("DEFAULT:@SECLEVEL=0")
    context.minimum_version = ssl.TLSVersion.TLSv1
    context.maximum_version = ssl.TLSVersion.TLSv1_1
    permissive = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    permissive.load_cert_chain(*certificate)
    permissive.set_ciphers("DEFAULT:@SECLEVEL=0")
    permissive.minimum_version = ssl.TLSVersion.TLSv1
    with socket.create_server(("127.0.0.1", 0)) as listener:
        accepted: list[str | None] = []

        def accept() -> None:
            connection, _ = listener.accept()
            with permissive.wrap_socket(connection, server_side=True) as tls:
                accepted.append(tls.version())

        thread = threading.Thread(target=accept)
        thread.start()
        with (
            socket.create_connection(listener.getsockname(), timeout=10) as raw,
            context.wrap_socket(raw) as control,
        ):
            assert control.version() == "TLSv1.1"
        thread.join(timeout=10)
    assert accepted == ["TLSv1.1"]
    with (
        socket.create_connection(("127.0.0.1", https_server), timeout=10) as raw,
        pytest.raises(ssl.SSLError),
    ):
        context.wrap_socket(raw, server_hostname="127.0.0.1")


def test_a_certificate_without_its_key_or_unreadable_is_a_usage_error(
    certificate: tuple[Path, Path], tmp_path: Path
) -> None:
    certfile, keyfile = certificate
    alone = CliRunner().invoke(cli, ["serve", "--ssl-certfile", str(certfile)])
    assert alone.exit_code == 2 and "--ssl-keyfile" in alone.stderr
    assert len(alone.stderr.strip().splitlines()) == 1
    garbage = tmp_path / "garbage.pem"
    garbage.write_text("not a certificate\n")
    bad = CliRunner().invoke(
        cli, ["serve", "--ssl-certfile", str(garbage), "--ssl-keyfile", str(keyfile)]
    )
    assert bad.exit_code == 2 and "cannot be loaded" in bad.stderr
    assert len(bad.stderr.strip().splitlines()) == 1
