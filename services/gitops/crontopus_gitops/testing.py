"""Git hosts for tests of external repositories: smart HTTP(S) served by ``git http-backend`` on
loopback, and a host that accepts connections and never answers.

External repositories must be https:// or ssh:// URLs (http:// behind a setting) on public
addresses, so tests of the feature serve their upstream here, with the stack's settings allowing
http and private networks (see services/gitops/tests/conftest.py for the fixtures).
"""

from __future__ import annotations

import base64
import datetime
import ipaddress
import socket
import ssl
import subprocess
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID


class _GitHttpHandler(BaseHTTPRequestHandler):
    """``git http-backend`` as CGI: clone, fetch and push over smart HTTP."""

    root: Path
    login: tuple[str, str] | None = None  # when set, HTTP basic authentication is required
    stalled: set[str]  # request paths starting with one of these get no answer while it is there
    seen: list[str]  # the path of every request

    def do_GET(self) -> None:
        self._cgi()

    def do_POST(self) -> None:
        self._cgi()

    def _cgi(self) -> None:
        self.seen.append(self.path)
        deadline = time.monotonic() + 60
        while any(self.path.startswith(prefix) for prefix in self.stalled) and time.monotonic() < deadline:
            time.sleep(0.05)  # a host that accepted the request and hangs
        if self.login and self.headers.get("Authorization") != _basic(*self.login):
            self._empty(401, [("WWW-Authenticate", 'Basic realm="jobs"')])
            return
        path, _, query = self.path.partition("?")
        body = self._body()
        env = {
            "GIT_PROJECT_ROOT": str(self.root), "GIT_HTTP_EXPORT_ALL": "1", "REQUEST_METHOD": self.command,
            "PATH_INFO": path, "QUERY_STRING": query, "CONTENT_TYPE": self.headers.get("Content-Type", ""),
            "CONTENT_LENGTH": str(len(body)), "GIT_PROTOCOL": self.headers.get("Git-Protocol", ""),
            "REMOTE_USER": self.login[0] if self.login else "tester",  # receive-pack wants a user
        }  # fmt: skip
        done = subprocess.run(["git", "http-backend"], input=body, env=env, capture_output=True, check=False)
        head, _, payload = done.stdout.partition(b"\r\n\r\n")
        status, headers = 200, []
        for line in head.decode().split("\r\n"):
            key, _, value = line.partition(":")
            if key.lower() == "status":
                status = int(value.split()[0])
            elif key:
                headers.append((key, value.strip()))
        self.send_response(status)
        for key, value in headers:
            self.send_header(key, value)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def _body(self) -> bytes:
        if "chunked" not in self.headers.get("Transfer-Encoding", "").lower():
            return self.rfile.read(int(self.headers.get("Content-Length") or 0))
        chunks = []  # libgit2 sends a push's pack in chunks
        while size := int(self.rfile.readline().split(b";")[0].strip() or b"0", 16):
            chunks.append(self.rfile.read(size))
            self.rfile.readline()
        while self.rfile.readline() not in (b"\r\n", b"\n", b""):
            pass  # trailers
        return b"".join(chunks)

    def _empty(self, status: int, headers: list[tuple[str, str]]) -> None:
        self.send_response(status)
        for key, value in headers:
            self.send_header(key, value)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *_: object) -> None:
        pass


def _basic(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


@dataclass
class GitHttp:
    """A running smart-HTTP Git host serving the bare repositories under ``root``."""

    root: Path
    base_url: str
    stalled: set[str]
    requests: list[str]  # paths requested so far

    def url(self, name: str) -> str:
        return f"{self.base_url}/{name}"

    @contextmanager
    def hanging(self, name: str) -> Iterator[None]:
        """Within the block, requests for repository ``name`` are accepted and never answered."""
        self.stalled.add(f"/{name}")
        try:
            yield
        finally:
            self.stalled.discard(f"/{name}")


@contextmanager
def serve_git_http(
    root: Path, *, login: tuple[str, str] | None = None, tls: ssl.SSLContext | None = None, host: str = "127.0.0.1"
) -> Iterator[GitHttp]:
    """Serve ``root`` over http:// (or https:// with ``tls``) on loopback until the block ends."""
    stalled: set[str] = set()
    seen: list[str] = []
    handler = type("Handler", (_GitHttpHandler,), {"root": root, "login": login, "stalled": stalled, "seen": seen})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.daemon_threads = True
    if tls is not None:
        # The handshake happens in the request thread, so a client that never speaks cannot block accept().
        server.socket = tls.wrap_socket(server.socket, server_side=True, do_handshake_on_connect=False)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    scheme = "https" if tls else "http"
    try:
        yield GitHttp(root=root, base_url=f"{scheme}://{host}:{server.server_address[1]}", stalled=stalled,
                      requests=seen)  # fmt: skip
    finally:
        stalled.clear()
        server.shutdown()
        server.server_close()


class SilentHost:
    """Accepts TCP connections and never says a word: a Git host that hangs."""

    def __init__(self) -> None:
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port = self._listener.getsockname()[1]
        self.connections: list[socket.socket] = []
        self._thread = threading.Thread(target=self._accept, daemon=True)
        self._thread.start()

    def _accept(self) -> None:
        while True:
            try:
                connection, _ = self._listener.accept()
            except OSError:
                return
            self.connections.append(connection)

    def close(self) -> None:
        self._listener.close()
        for connection in self.connections:
            connection.close()


@dataclass(frozen=True)
class TestCertificates:
    """A throw-away CA and a server certificate it signed for localhost and 127.0.0.1."""

    ca_file: Path
    server_context: ssl.SSLContext


def make_certificates(folder: Path, *, names: tuple[str, ...] = ("localhost", "127.0.0.1")) -> TestCertificates:
    """``names``: what the server certificate is valid for (host names and IP addresses)."""
    ca_key, key = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Crontopus test CA")])
    now = datetime.datetime.now(datetime.UTC)
    ca = (
        _builder(ca_name, ca_name, ca_key.public_key(), now)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(ca_key, hashes.SHA256())
    )
    alternatives = [_alternative_name(name) for name in names]
    leaf_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, names[0])])
    leaf = (
        _builder(leaf_name, ca_name, key.public_key(), now)
        .add_extension(x509.SubjectAlternativeName(alternatives), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    folder.mkdir(parents=True, exist_ok=True)
    ca_file, cert_file, key_file = folder / "ca.pem", folder / "server.pem", folder / "server.key"
    ca_file.write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    cert_file.write_bytes(leaf.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert_file, key_file)
    return TestCertificates(ca_file=ca_file, server_context=context)


def _alternative_name(name: str) -> x509.GeneralName:
    try:
        return x509.IPAddress(ipaddress.ip_address(name))
    except ValueError:
        return x509.DNSName(name)


def _builder(
    subject: x509.Name, issuer: x509.Name, public_key: ec.EllipticCurvePublicKey, now: datetime.datetime
) -> x509.CertificateBuilder:
    return (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer)
        .public_key(public_key)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
    )


# --- pytest fixtures (services/gitops/tests/conftest.py makes them available) ------------------


@pytest.fixture
def git_http(tmp_path: Path) -> Iterator[GitHttp]:
    """A Git host on http://127.0.0.1:<port> serving the bare repositories under tmp_path/hosted
    (clone, fetch and push)."""
    root = tmp_path / "hosted"
    root.mkdir(parents=True, exist_ok=True)
    with serve_git_http(root) as served:
        yield served


@pytest.fixture
def silent_host() -> Iterator[SilentHost]:
    """A host on 127.0.0.1 that accepts connections and never answers."""
    host = SilentHost()
    yield host
    host.close()
