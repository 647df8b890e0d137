"""Enrollment: against httpx's MockTransport for the protocol, and a loopback HTTP server for the
``crontopus-agent enroll`` command as a user runs it."""

from __future__ import annotations

import json
import stat
import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest
from typer.testing import CliRunner

from crontopus_agent import __version__
from crontopus_agent.cli import app
from crontopus_agent.enroll import EnrollError, enroll, parse_labels
from crontopus_agent.home import Credentials
from crontopus_kit.nats_server import free_port

TOKEN = "enroll-token-0123456789"


def enrollment(**changes: Any) -> dict[str, Any]:
    body = {
        "agent_id": "a" * 32,
        "tenant_id": "t" * 32,
        "name": "web-1",
        "labels": {"role": "web", "zone": "eu"},
        "nats_user": "agent-aaaa",
        "nats_password": "s3cret-password",
        "nats_urls": ["nats://nats.example.com:4222"],
        "server_url": "https://crontopus.example.com",
        "clone_url": "https://crontopus.example.com/git/acme.git",
        "branch": "main",
        "folder": "jobs",
    }
    return {**body, **changes}


class Server:
    """Answers every enroll with ``status`` and ``body``; remembers the requests."""

    def __init__(self, status: int = 201, body: Any = None) -> None:
        self.status = status
        self.body = enrollment() if body is None else body
        self.requests: list[httpx.Request] = []

    def handler(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        return httpx.Response(self.status, json=self.body)

    @property
    def transport(self) -> httpx.MockTransport:
        return httpx.MockTransport(self.handler)


def test_enrolling_saves_the_credentials_readable_only_by_the_agent(tmp_path: Path) -> None:
    server = Server()
    home = tmp_path / "home"

    credentials = enroll(
        server="https://crontopus.example.com/",
        token=TOKEN,
        home=home,
        name="web-1",
        labels={"role": "web"},
        transport=server.transport,
    )

    [request] = server.requests
    assert request.method == "POST"
    assert str(request.url) == "https://crontopus.example.com/api/agents/enroll"
    sent = json.loads(request.content)
    assert sent["token"] == TOKEN and sent["name"] == "web-1" and sent["labels"] == {"role": "web"}
    assert sent["version"] == __version__ and sent["hostname"] and "-" in sent["platform"]

    path = home / "credentials.json"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    saved = json.loads(path.read_text())
    assert saved["agent_id"] == "a" * 32 and saved["tenant_id"] == "t" * 32
    assert saved["nats_password"] == "s3cret-password"
    assert saved["clone_url"] == "https://crontopus.example.com/git/acme.git"
    assert saved["folder"] == "jobs" and saved["labels"] == {"role": "web", "zone": "eu"}
    assert Credentials.load(home) == credentials


@pytest.mark.parametrize(
    ("status", "detail", "expected"),
    [
        (401, "invalid enrollment token", "was not accepted"),
        (403, "agent limit reached", "refused to enroll"),
        (410, "enrollment token expired", "expired or has been used up"),
    ],
)
def test_a_refused_token_is_a_clear_error_and_nothing_is_saved(
    tmp_path: Path, status: int, detail: str, expected: str
) -> None:
    server = Server(status, {"detail": detail})

    with pytest.raises(EnrollError) as caught:
        enroll(server="http://cp", token=TOKEN, home=tmp_path, transport=server.transport)

    assert expected in str(caught.value) and detail in str(caught.value)
    assert TOKEN not in str(caught.value)
    assert not (tmp_path / "credentials.json").exists()


def test_invalid_input_reported_by_the_server_names_the_field(tmp_path: Path) -> None:
    detail = [{"loc": ["body", "labels", "role"], "msg": "String should match pattern", "type": "x"}]
    server = Server(422, {"detail": detail})

    with pytest.raises(EnrollError, match=r"labels\.role: String should match pattern"):
        enroll(server="http://cp", token=TOKEN, home=tmp_path, transport=server.transport)


def test_a_bad_name_is_refused_before_the_token_is_spent(tmp_path: Path) -> None:
    server = Server()
    with pytest.raises(EnrollError, match="name: letters, digits"):
        enroll(server="http://cp", token=TOKEN, home=tmp_path, name="my host!", transport=server.transport)
    assert server.requests == []


def test_existing_credentials_are_kept_unless_forced(tmp_path: Path) -> None:
    enroll(server="http://cp", token=TOKEN, home=tmp_path, transport=Server().transport)
    server = Server(body=enrollment(agent_id="b" * 32))

    with pytest.raises(EnrollError, match=r"already enrolled.*--force"):
        enroll(server="http://cp", token=TOKEN, home=tmp_path, transport=server.transport)
    assert server.requests == []  # refused before a token use was spent
    assert Credentials.load(tmp_path).agent_id == "a" * 32

    enroll(server="http://cp", token=TOKEN, home=tmp_path, force=True, transport=server.transport)
    assert Credentials.load(tmp_path).agent_id == "b" * 32


def test_an_unreachable_server_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(EnrollError, match="cannot reach the server"):
        enroll(server=f"http://127.0.0.1:{free_port()}", token=TOKEN, home=tmp_path)
    assert not (tmp_path / "credentials.json").exists()


def test_an_answer_that_is_not_an_enrollment_saves_nothing(tmp_path: Path) -> None:
    server = Server(201, {"hello": "world"})
    with pytest.raises(EnrollError, match="not an enrollment"):
        enroll(server="http://cp", token=TOKEN, home=tmp_path, transport=server.transport)
    assert not (tmp_path / "credentials.json").exists()


def test_labels_are_parsed_from_key_value_pairs() -> None:
    assert parse_labels(["role=db", "zone = eu"]) == {"role": "db", "zone": "eu"}
    with pytest.raises(EnrollError, match="not key=value"):
        parse_labels(["role"])


# --- the command --------------------------------------------------------------------------------


@pytest.fixture
def http_server() -> Iterator[Callable[[int, Any], str]]:
    """A loopback server answering POSTs with a fixed status and JSON body; returns its URL."""
    servers: list[ThreadingHTTPServer] = []

    def serve(status: int, body: Any) -> str:
        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                self.rfile.read(int(self.headers.get("Content-Length") or 0))
                payload = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def log_message(self, *_: object) -> None:
                pass

        server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True).start()
        servers.append(server)
        return f"http://127.0.0.1:{server.server_address[1]}"

    yield serve
    for server in servers:
        server.shutdown()
        server.server_close()


def test_the_enroll_command_saves_credentials(http_server: Callable[[int, Any], str], tmp_path: Path) -> None:
    url = http_server(201, enrollment())
    result = CliRunner().invoke(
        app, ["enroll", "--server", url, "--token", TOKEN, "--label", "role=web", "--home", str(tmp_path)]
    )
    assert result.exit_code == 0, result.output
    assert "enrolled as web-1" in result.output
    assert Credentials.load(tmp_path).nats_user == "agent-aaaa"


def test_the_enroll_command_explains_an_expired_token_without_a_traceback(
    http_server: Callable[[int, Any], str], tmp_path: Path
) -> None:
    url = http_server(410, {"detail": "enrollment token expired"})
    result = CliRunner().invoke(app, ["enroll", "--server", url, "--token", TOKEN, "--home", str(tmp_path)])
    assert result.exit_code == 1
    assert "expired or has been used up" in result.stderr
    assert "Traceback" not in result.output
    assert not (tmp_path / "credentials.json").exists()


def test_the_enroll_command_refuses_to_overwrite_without_force(
    http_server: Callable[[int, Any], str], tmp_path: Path
) -> None:
    url = http_server(201, enrollment())
    args = ["enroll", "--server", url, "--token", TOKEN, "--home", str(tmp_path)]
    assert CliRunner().invoke(app, args).exit_code == 0

    again = CliRunner().invoke(app, args)
    assert again.exit_code == 1 and "--force" in again.stderr

    assert CliRunner().invoke(app, [*args, "--force"]).exit_code == 0


def test_the_enroll_command_reports_an_unreachable_server(tmp_path: Path) -> None:
    url = f"http://127.0.0.1:{free_port()}"
    result = CliRunner().invoke(app, ["enroll", "--server", url, "--token", TOKEN, "--home", str(tmp_path)])
    assert result.exit_code == 1
    assert "cannot reach the server" in result.stderr
    assert result.exception is None or isinstance(result.exception, SystemExit)


# --- this host's repository settings ------------------------------------------------------------


def test_enrolling_with_a_git_login_and_clone_url_stores_them_for_this_host(
    http_server: Callable[[int, Any], str], tmp_path: Path
) -> None:
    url = http_server(201, enrollment())
    (tmp_path / "token.txt").write_text("ghp_token-123\n")
    args = ["enroll", "--server", url, "--token", TOKEN, "--home", str(tmp_path / "home"),
            "--clone-url", "https://git.example.com/acme/jobs.git", "--git-username", "robot",
            "--git-password-file", str(tmp_path / "token.txt")]  # fmt: skip
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    saved = Credentials.load(tmp_path / "home")
    assert saved.fetch_url == "https://git.example.com/acme/jobs.git"
    assert saved.clone_url == "https://crontopus.example.com/git/acme.git"  # the server's, kept apart
    assert saved.git_login == ("robot", "ghp_token-123")
    assert "ghp_token-123" not in repr(saved)


def test_a_missing_password_file_is_refused_before_the_token_is_spent(
    http_server: Callable[[int, Any], str], tmp_path: Path
) -> None:
    url = http_server(201, enrollment())
    args = ["enroll", "--server", url, "--token", TOKEN, "--home", str(tmp_path / "home"),
            "--git-password-file", str(tmp_path / "nope.txt")]  # fmt: skip
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 1 and "cannot read the Git password" in result.output
    assert not (tmp_path / "home" / "credentials.json").exists()


def test_the_repository_command_shows_sets_and_resets_this_hosts_settings(tmp_path: Path) -> None:
    Credentials(**{k: v for k, v in enrollment().items() if k in Credentials.__dataclass_fields__}).save(tmp_path)
    home = ["--home", str(tmp_path)]

    set_login = CliRunner().invoke(app, ["repository", "--git-username", "robot", "--git-password-file", "-", *home],
                                   input="tok-456\n")  # fmt: skip
    assert set_login.exit_code == 0, set_login.output
    assert "robot (password set)" in set_login.output and "tok-456" not in set_login.output
    assert Credentials.load(tmp_path).git_login == ("robot", "tok-456")

    shown = CliRunner().invoke(app, ["repository", *home])
    assert "this host fetches:  https://crontopus.example.com/git/acme.git" in shown.output
    assert "saved" not in shown.output

    reset = CliRunner().invoke(app, ["repository", "--reset", *home])
    assert reset.exit_code == 0 and "Git login:          none" in reset.output
    assert Credentials.load(tmp_path).git_login is None


def test_enrolling_into_a_home_others_could_read_makes_it_private(tmp_path: Path) -> None:
    home = tmp_path / "home"
    home.mkdir(mode=0o755)
    home.chmod(0o755)  # as a package or an older version may have made it
    enroll(server="https://crontopus.example.com/", token=TOKEN, home=home, name="web-1", transport=Server().transport)
    assert stat.S_IMODE(home.stat().st_mode) == 0o700
