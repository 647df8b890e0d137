"""Pytest fixtures for tests that need the whole platform: a real nats-server, the
all-in-one app served by uvicorn on a free port (in a thread), and httpx clients.

Enable with ``pytest_plugins = ["crontopus_server.testing"]`` in a conftest.py.
The stack runs once per database backend (SQLite and PostgreSQL). A module whose tests do
not depend on the backend overrides the ``database_backend`` fixture to return "sqlite".
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from email import message_from_bytes
from email.message import EmailMessage
from email.policy import default as default_policy
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
import uvicorn

from crontopus_gateway.settings import GatewaySettings
from crontopus_identity.members import add_member
from crontopus_identity.settings import IdentitySettings
from crontopus_kit.db import Database
from crontopus_kit.nats_server import NatsServerProcess, free_port
from crontopus_server.platform import all_in_one_app, embedded_nats, service_nats_url
from crontopus_server.serving import UVICORN_OPTIONS


@dataclass
class Stack:
    url: str
    nats: NatsServerProcess
    data_dir: Path
    server: uvicorn.Server
    thread: threading.Thread

    def client(self, **kwargs: Any) -> httpx.Client:
        kwargs.setdefault("timeout", 30)  # longer than the stack's RPC timeout (stack_env)
        return httpx.Client(base_url=self.url, **kwargs)

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=15)


def start_stack(
    *,
    nats: NatsServerProcess,
    data_dir: Path,
    env: dict[str, Any],
    monkeypatch: pytest.MonkeyPatch,
    nats_url: str | None = None,
) -> Stack:
    """Serve the all-in-one app against ``nats`` (logging in with ``nats_url`` when the server
    is secured); settings come from CRONTOPUS_* in ``env``."""
    for key, value in env.items():
        monkeypatch.setenv(key, str(value))
    data_dir.mkdir(parents=True, exist_ok=True)
    nats_url = nats_url or nats.url
    (data_dir / "nats.url").write_text(nats_url + "\n")  # as `run all` does: repository hooks read it
    for attempt in range(3):  # a free port may be taken by another test process before uvicorn binds it
        port = free_port()
        monkeypatch.setenv("CRONTOPUS_PORT", str(port))  # every unit's base_url (ping and webhook URLs)
        server, thread = _serve(all_in_one_app(nats_url, GatewaySettings()), port)
        if server.started:
            break
        if attempt == 2:
            raise RuntimeError("the all-in-one app did not start; see the log above")
    return Stack(url=f"http://127.0.0.1:{port}", nats=nats, data_dir=data_dir, server=server, thread=thread)


def _serve(app: Any, port: int) -> tuple[uvicorn.Server, threading.Thread]:
    """uvicorn in a thread, until it serves (``server.started``) or its thread ended (a port taken)."""
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, lifespan="on", **UVICORN_OPTIONS))
    thread = threading.Thread(target=server.run, name="crontopus-stack", daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started and thread.is_alive():
        if time.monotonic() > deadline:
            raise RuntimeError("the all-in-one app did not start within 30 s; see the log above")
        time.sleep(0.02)
    return server, thread


def start_run_all(
    data_dir: Path, port: int, log_path: Path, *, own_group: bool = False, **env: str
) -> subprocess.Popen[bytes]:
    """`crontopus-server run all` on the embedded default, as `make run` starts it, in a process of
    its own (``own_group``: leading a process group of its own, as a terminal's foreground job);
    its output goes to ``log_path``. ``env`` adds CRONTOPUS_* settings."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith("CRONTOPUS_")}
    clean |= {"CRONTOPUS_PORT": str(port), "CRONTOPUS_DATA_DIR": str(data_dir), **env}
    with open(log_path, "wb") as log:  # the child keeps its own copy of the descriptor
        command = [sys.executable, "-m", "crontopus_server.cli", "run", "all"]
        process = subprocess.Popen(  # the usual umask: files anyone may read unless Crontopus says otherwise
            command, env=clean, stdout=log, stderr=log, umask=0o022, process_group=0 if own_group else None
        )
    _RUN_ALL_LOGS[process.pid] = log_path
    return process


_RUN_ALL_LOGS: dict[int, Path] = {}  # each started process's log, quoted when it ends too early


def _log_tail(process: subprocess.Popen[bytes], lines: int = 30) -> str:
    log_path = _RUN_ALL_LOGS.get(process.pid)
    if log_path is None or not log_path.exists():
        return "(no log)"
    return "\n".join(log_path.read_text(errors="replace").splitlines()[-lines:])


def wait_healthy(port: int, process: subprocess.Popen[bytes], timeout: float = 90) -> float:
    """Seconds until ``/health`` answered 200; fails when the process exits first."""
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        assert process.poll() is None, f"crontopus-server exited with {process.returncode}:\n{_log_tail(process)}"
        try:
            if httpx.get(f"http://127.0.0.1:{port}/health", timeout=1).status_code == 200:
                return time.monotonic() - started
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    raise AssertionError(f"not healthy within {timeout}s:\n{_log_tail(process)}")


def stop_run_all(process: subprocess.Popen[bytes]) -> None:
    """Ctrl-C, as a user stops `make run`."""
    process.send_signal(signal.SIGINT)
    process.wait(timeout=20)


@pytest.fixture
def stack_env(tmp_path: Path, database_overrides: dict[str, Any]) -> dict[str, Any]:
    """CRONTOPUS_* variables for a test stack: its own data dir, database (SQLite or a
    PostgreSQL schema set), a strong secret, and limits small enough to test."""
    env: dict[str, Any] = {
        "CRONTOPUS_DATA_DIR": tmp_path / "data",
        "CRONTOPUS_SECRET_KEY": "test-secret-0123456789-" + "y" * 30,
        "CRONTOPUS_RUNS_BATCH_TIMEOUT": "0.02",
        # A service slower than 5 s is a 503 in production; amid the suite (4 processes on 2
        # cores) hashing a password took longer. Tests of a hanging service set their own.
        "CRONTOPUS_GATEWAY_RPC_TIMEOUT": "15",
    }
    if "database_url" in database_overrides:
        env["CRONTOPUS_DATABASE_URL"] = database_overrides["database_url"]
        env["CRONTOPUS_DATABASE_SCHEMA_PREFIX"] = database_overrides["database_schema_prefix"]
    return env


@pytest.fixture
def stack(
    nats_server: NatsServerProcess, tmp_path: Path, stack_env: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> Iterator[Stack]:
    running = start_stack(nats=nats_server, data_dir=tmp_path / "data", env=stack_env, monkeypatch=monkeypatch)
    yield running
    running.stop()


@pytest.fixture
def secure_nats(tmp_path: Path, stack_env: dict[str, Any]) -> Iterator[NatsServerProcess]:
    """A nats-server configured as the embedded default is: service logins, and every other
    client decided by the agents service's auth callout."""
    secret = str(stack_env["CRONTOPUS_SECRET_KEY"]).encode()
    server = embedded_nats(tmp_path / "secure-nats", secret)
    server.start()
    yield server
    server.stop()


@pytest.fixture
def secure_stack(
    secure_nats: NatsServerProcess, tmp_path: Path, stack_env: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> Iterator[Stack]:
    """The platform on a secured NATS server (agents' permissions are enforced)."""
    secret = str(stack_env["CRONTOPUS_SECRET_KEY"]).encode()
    running = start_stack(
        nats=secure_nats, data_dir=tmp_path / "data", env=stack_env, monkeypatch=monkeypatch,
        nats_url=service_nats_url(secure_nats.url, secret),
    )  # fmt: skip
    yield running
    running.stop()


def wait_until(condition: Callable[[], Any], *, timeout: float = 10, interval: float = 0.05) -> Any:
    """Poll until condition() is truthy; return its value or fail with the last one."""
    deadline = time.monotonic() + timeout
    value = condition()
    while not value:
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout}s (last value: {value!r})")
        time.sleep(interval)
        value = condition()
    return value


async def wait_until_async(condition: Callable[[], Any], *, timeout: float = 10, interval: float = 0.05) -> Any:
    """Like wait_until, for an async condition."""
    import asyncio

    deadline = time.monotonic() + timeout
    value = await condition()
    while not value:
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout}s (last value: {value!r})")
        await asyncio.sleep(interval)
        value = await condition()
    return value


@dataclass
class Account:
    """A signed-up user of a test stack, with helpers to call the API as them."""

    username: str
    tenant: str
    access_token: str
    refresh_token: str

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.access_token}"}


def sign_up(client: httpx.Client, name: str, password: str = "correct horse battery") -> Account:
    """Register ``name`` with a team of its own (``<name>-team``) and log in."""
    body = {"username": name, "email": f"{name}@example.com", "password": password, "tenant": f"{name}-team"}
    registered = client.post("/api/auth/register", json=body)
    assert registered.status_code == 201, registered.text
    tokens = client.post("/api/auth/login", data={"username": name, "password": password})
    assert tokens.status_code == 200, tokens.text
    pair = tokens.json()
    return Account(name, f"{name}-team", pair["access_token"], pair["refresh_token"])


def join_team(client: httpx.Client, account: Account, team_of: Account, role: str) -> Account:
    """``account`` joins ``team_of``'s team with ``role`` and switches to it: the returned account
    acts there. Written straight into identity's database, as an accepted invitation would."""
    me = client.get("/api/auth/me", headers=account.headers).json()
    team = client.get("/api/auth/me", headers=team_of.headers).json()["tenant_id"]

    async def add() -> None:
        settings = IdentitySettings()
        db = Database(settings.database_url_for("identity"), schema=settings.database_schema_for("identity"))
        try:
            async with db.session() as session:
                await add_member(session=session, tenant_id=team, user_id=me["id"], role=role, now=datetime.now(UTC))
        finally:
            await db.dispose()

    asyncio.run(add())
    switched = client.post("/api/auth/switch-team", json={"team_id": team}, headers=account.headers)
    assert switched.status_code == 200, switched.text
    pair = switched.json()
    return Account(account.username, team_of.tenant, pair["access_token"], pair["refresh_token"])


def create_api_key(client: httpx.Client, account: Account, scope: str = "write") -> str:
    created = client.post("/api/api-keys", json={"name": f"{scope} key", "scope": scope}, headers=account.headers)
    assert created.status_code == 201, created.text
    return str(created.json()["key"])


def refusal(response: httpx.Response) -> str:
    """A 422's errors, one line each as `<field>: <what is wrong>` (the field without the part of
    the request it came in, as the CLI shows them); an error that names no field: its message."""
    assert response.status_code == 422, response.text
    detail = response.json()["detail"]
    assert isinstance(detail, list) and detail, f"a 422's detail is a list of errors: {detail!r}"
    lines = []
    for error in detail:
        loc = [str(part) for part in error["loc"]]
        field = ".".join(loc[1:] if loc[:1] and loc[0] in ("body", "query", "path", "header", "cookie") else loc)
        lines.append(f"{field}: {error['msg']}" if field else error["msg"])
    return "\n".join(lines)


@pytest.fixture
def api(stack: Stack) -> Iterator[httpx.Client]:
    """An HTTP client for the test stack."""
    with stack.client() as client:
        yield client


# A valid manifest for tests that add a job (it is not among the seeded examples).
NIGHTLY_EXPORT = """\
apiVersion: crontopus.io/v1
kind: Job
metadata:
  name: nightly-export
  namespace: production
spec:
  schedule: "15 3 * * *"
  timezone: Europe/Berlin
  command: /usr/local/bin/export.sh
"""


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: dict[str, Any]
    at: float  # time.monotonic()


class WebhookReceiver:
    """A webhook endpoint on 127.0.0.1 (for Apprise's ``json://``) that keeps every JSON body
    posted to it, answering 200, or 500 on a path containing "fail". ``stop()`` when done."""

    def __init__(self) -> None:
        from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

        self.requests: list[Received] = []
        received = self.requests

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                received.append(Received(self.path, dict(self.headers), body, time.monotonic()))
                self.send_response(500 if "fail" in self.path else 200)
                self.end_headers()

            def log_message(self, *_: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def url(self, path: str = "/hook") -> str:
        return f"json://127.0.0.1:{self.port}{path}"

    @property
    def bodies(self) -> list[dict[str, Any]]:
        return [request.body for request in self.requests]

    def titles(self) -> list[str]:
        return [str(body.get("title", "")) for body in self.bodies]

    def to(self, path: str) -> list[Received]:
        return [request for request in self.requests if request.path.startswith(path)]

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


class SmtpInbox:
    """A real SMTP server (aiosmtpd) on a free port that keeps what it receives."""

    def __init__(self, *, tls_context: Any = None, implicit_tls: bool = False, password: bytes | None = None) -> None:
        """``tls_context``: STARTTLS, required (or, with ``implicit_tls``, TLS from the start)."""
        from aiosmtpd.controller import Controller  # a test dependency (requirements-dev.txt)

        self.messages: list[EmailMessage] = []
        self.logins: list[tuple[bytes, bytes]] = []
        self.password = password
        self.port = free_port()
        options: dict[str, Any] = {"authenticator": self._authenticate, "auth_require_tls": False} if password else {}
        if implicit_tls:
            options["ssl_context"] = tls_context
        elif tls_context is not None:
            options.update(tls_context=tls_context, require_starttls=True)
        self.controller = Controller(self, hostname="127.0.0.1", port=self.port, **options)

    def start(self) -> SmtpInbox:
        self.controller.start()
        return self

    def stop(self) -> None:
        self.controller.stop()

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.messages.append(message_from_bytes(envelope.content, policy=default_policy))  # type: ignore[arg-type]
        return "250 OK"

    def _authenticate(self, server: Any, session: Any, envelope: Any, mechanism: str, auth_data: Any) -> Any:
        from aiosmtpd.smtp import AuthResult

        self.logins.append((auth_data.login, auth_data.password))
        return AuthResult(success=auth_data.password == self.password)

    def mail_to(self, address: str, subject_has: str = "", *, timeout: float = 10) -> EmailMessage:
        """The first mail to ``address`` whose subject has ``subject_has``, waiting for it."""
        return wait_until(lambda: mail_matching(self.messages, address, subject_has), timeout=timeout)  # type: ignore[no-any-return]


def mail_matching(messages: list[EmailMessage], address: str, subject_has: str) -> EmailMessage | None:
    for message in messages:
        if message["To"] == address and subject_has in message["Subject"]:
            return message
    return None


def outbox_mail(data_dir: Path, address: str, subject_has: str = "", *, timeout: float = 10) -> EmailMessage:
    """A mail the embedded default wrote to ``<data dir>/outbox/`` (no SMTP configured)."""

    def find() -> EmailMessage | None:
        files = sorted((data_dir / "outbox").glob("*.eml")) if (data_dir / "outbox").is_dir() else []
        parsed = [message_from_bytes(path.read_bytes(), policy=default_policy) for path in files]
        return mail_matching(parsed, address, subject_has)  # type: ignore[arg-type]

    return wait_until(find, timeout=timeout)  # type: ignore[no-any-return]


def link_in(message: EmailMessage) -> tuple[str, str]:
    """The link a mail carries, as (path, token): checked to be in the text and the HTML alike."""
    text = message.get_body(preferencelist=("plain",)).get_content()  # type: ignore[union-attr]
    html = message.get_body(preferencelist=("html",)).get_content()  # type: ignore[union-attr]
    found = re.search(r"https?://[^\s\"<]+", text)
    assert found, text
    link = found.group(0)
    assert f'href="{link}"' in html, html
    parts = urlsplit(link)
    return parts.path, parse_qs(parts.query).get("token", [""])[0]


@pytest.fixture
def smtp_inbox() -> Iterator[SmtpInbox]:
    inbox = SmtpInbox().start()
    yield inbox
    inbox.stop()
