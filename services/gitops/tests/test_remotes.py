"""Fetches and pushes of external repositories within bounds: where the server connects (judged
when it connects, not only before), how long it may take, and what an error may say."""

import asyncio
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import structlog
from faststream.nats import NatsBroker

from crontopus_gitops import editing, repo
from crontopus_gitops.models import Repository
from crontopus_gitops.relay import Relay, RelayReport
from crontopus_gitops.remote_url import RefusedUrl, parse
from crontopus_gitops.remotes import PRIVATE, Remotes
from crontopus_gitops.settings import GitopsSettings
from crontopus_gitops.testing import make_certificates, serve_git_http
from crontopus_gitops.unit import GitopsUnit
from crontopus_kit.egress import PrivateTarget
from crontopus_schemas.job_edits import CommitAuthor, JobCreateRequest
from crontopus_server.testing import NIGHTLY_EXPORT

AUTHOR = ("Upstream", "upstream@example.com")
ALICE, BOB = "a" * 32, "b" * 32


def hosted(root: Path, name: str = "jobs.git") -> str:
    """A bare repository with one commit under ``root``; its SHA."""
    path = root / name
    repo.init_bare(path)
    return repo.commit_files(path, branch="main", changes={"ops/first.yaml": "# first\n"}, author=AUTHOR,
                             message="first", expected_head=None)  # fmt: skip


@pytest.fixture
def database_backend():
    return "sqlite"  # the Git side is tested here; the index is covered on both backends elsewhere


@pytest.fixture
def settings(settings_factory):
    def build(**overrides):
        values = {"allow_http": True, "allow_private_networks": True, "connect_timeout": 1, "fetch_timeout": 3}
        return settings_factory(GitopsSettings, **{**values, **overrides})

    return build


async def fetch(remotes: Remotes, tmp_path: Path, url: str) -> str:
    return await remotes.fetch(path=tmp_path / "mirror.git", url=url, branch="main", credentials=None)


# --- where it connects ---------------------------------------------------------------------------


async def test_https_goes_through_the_relay_and_trusts_the_systems_ca_certificates(tmp_path, settings, monkeypatch):
    certs = make_certificates(tmp_path / "certs")
    monkeypatch.setenv("SSL_CERT_FILE", str(certs.ca_file))  # what OpenSSL reads, as for every program
    sha = hosted(tmp_path / "hosted")
    with serve_git_http(tmp_path / "hosted", tls=certs.server_context, host="localhost") as git:
        assert await fetch(Remotes(settings()), tmp_path, git.url("jobs.git")) == sha


async def test_a_certificate_for_another_name_is_refused_at_once(tmp_path, settings, monkeypatch):
    """libgit2 1.9.7 hangs for good after refusing a certificate inside a proxy tunnel; with TLS
    made by the relay it is an error like any other."""
    certs = make_certificates(tmp_path / "certs", names=("git.example.com",))
    monkeypatch.setenv("SSL_CERT_FILE", str(certs.ca_file))
    hosted(tmp_path / "hosted")
    with serve_git_http(tmp_path / "hosted", tls=certs.server_context, host="localhost") as git:
        target = parse(git.url("jobs.git"), allow_http=False)
        started = time.monotonic()
        async with Relay(target, allow_private=True, connect_timeout=1, idle_timeout=1, deadline=3) as relay:
            with pytest.raises(repo.RemoteError):
                await asyncio.to_thread(repo.mirror_fetch, tmp_path / "mirror.git", url=relay.url, branch="main")
    assert relay.report.tls_invalid and time.monotonic() - started < 2
    assert git.requests == []


async def test_the_host_is_judged_when_the_relay_connects(tmp_path, settings, git_http):
    """Nothing before the relay looked at the host here: it resolves and judges the address it
    connects to, so a name whose answer changes after an earlier check (DNS rebinding) is
    refused all the same."""
    hosted(git_http.root)
    remotes = Remotes(settings(allow_private_networks=False))
    url = git_http.url("jobs.git").replace("127.0.0.1", "localhost")
    with pytest.raises(PrivateTarget, match=r"^url: localhost \(127\.0\.0\.1\) is a loopback address"):
        await fetch(remotes, tmp_path, url)
    assert git_http.requests == []


class _Redirecting(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        self.send_response(301)
        self.send_header("Location", "http://169.254.169.254/latest/meta-data/jobs.git/info/refs")
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *_: object) -> None:
        pass


async def test_a_redirect_is_refused_not_followed_past_the_checks(tmp_path):
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Redirecting)
    threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True).start()
    target = parse(f"http://127.0.0.1:{server.server_address[1]}/jobs.git", allow_http=True)
    try:
        async with Relay(target, allow_private=True, connect_timeout=1, idle_timeout=1, deadline=3) as relay:
            with pytest.raises(repo.RemoteError):
                await asyncio.to_thread(repo.mirror_fetch, tmp_path / "mirror.git", url=relay.url, branch="main")
    finally:
        server.shutdown()
        server.server_close()
    assert relay.report.redirect == "169.254.169.254"


async def test_credentials_reach_the_host_through_the_relay(tmp_path, settings):
    sha = hosted(tmp_path / "hosted")
    with serve_git_http(tmp_path / "hosted", login=("robot", "s3cret")) as git:
        fetched = await Remotes(settings()).fetch(
            path=tmp_path / "mirror.git", url=git.url("jobs.git"), branch="main",
            credentials=repo.BasicAuth("robot", "s3cret"),
        )  # fmt: skip
    assert fetched == sha


# --- how long it may take ------------------------------------------------------------------------


@pytest.mark.parametrize("url", ["https://127.0.0.1:{port}/jobs.git", "http://127.0.0.1:{port}/jobs.git",
                                 "ssh://git@127.0.0.1:{port}/jobs.git"])  # fmt: skip
async def test_a_host_that_accepts_and_never_answers_is_given_up_within_the_bound(tmp_path, settings, silent_host, url):
    remotes = Remotes(settings(connect_timeout=0.5, fetch_timeout=10))
    started = time.monotonic()
    with pytest.raises(repo.RemoteError) as failed:
        await fetch(remotes, tmp_path, url.format(port=silent_host.port))
    assert time.monotonic() - started < 2.5
    assert silent_host.connections  # it was reached, and then it said nothing
    assert failed.value.message.endswith(PRIVATE)  # 127.0.0.1: no details


class _Dripping(BaseHTTPRequestHandler):
    """Answers, then sends one byte of the body every 0.1 s, forever: never silent for long."""

    protocol_version = "HTTP/1.1"

    def do_GET(self) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "application/x-git-upload-pack-advertisement")
        self.send_header("Content-Length", "65520")
        self.end_headers()
        self.wfile.write(b"fff0")  # a pkt-line of 65,516 bytes, sent one at a time
        for _ in range(600):
            self.wfile.write(b"a")
            self.wfile.flush()
            time.sleep(0.1)

    def log_message(self, *_: object) -> None:
        pass


async def test_a_host_that_keeps_sending_slowly_is_cut_at_the_deadline(tmp_path, settings):
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Dripping)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True).start()
    remotes = Remotes(settings(connect_timeout=1, fetch_timeout=1.5))
    started = time.monotonic()
    try:
        with pytest.raises(repo.RemoteError):
            await fetch(remotes, tmp_path, f"http://127.0.0.1:{server.server_address[1]}/jobs.git")
    finally:
        server.shutdown()
        server.server_close()
    assert 1.4 < time.monotonic() - started < 3


# --- what an error says ----------------------------------------------------------------------------


def test_errors_about_a_public_host_say_what_to_do_and_never_what_it_answered(settings):
    remotes = Remotes(settings(connect_timeout=10, fetch_timeout=120))
    target = parse("https://robot:s3cret@git.example.com/team/jobs.git", allow_http=False)

    def explain(report=None, reason="protocol", kind=repo.RemoteError, detail="unexpected http status code: 500"):
        error = kind("libgit2 said things", url="http://127.0.0.1:1/x", reason=reason, detail=detail)
        explained = remotes.explain(error, target, report=report, private=False, action="fetch branch 'main' from",
                                    branch="main")  # fmt: skip
        assert explained.message.startswith("cannot fetch branch 'main' from https://robot@git.example.com/team/")
        return explained.message.split("jobs.git: ", 1)[1]

    assert explain(RelayReport(unreachable=True)) == "could not connect to git.example.com:443 within 10 s"
    assert explain(RelayReport(unresolved=True)) == "git.example.com does not resolve (check the host name)"
    assert explain(RelayReport(stalled=True)) == "git.example.com:443 stopped answering (nothing for 10 s)"
    assert explain(RelayReport(expired=True)) == "git.example.com:443 did not finish within 120 s"
    assert explain(RelayReport(tls_invalid=True)).startswith("the TLS certificate of git.example.com is not valid")
    assert explain(RelayReport(redirect="gitlab.example.com")).startswith("the host redirects to gitlab.example.com")
    assert explain(reason="no_branch") == "no branch 'main' there"
    assert explain(reason="not_found").startswith("no Git repository at that URL")
    assert explain(reason="auth", kind=repo.AuthenticationFailed, detail="the server refused the credentials") == (
        "the server refused the credentials"
    )
    assert explain() == "the answer was not a Git repository's (check the URL)"


def test_errors_about_a_private_host_all_read_the_same(settings):
    """A port scanner's answers (refused, timed out, an internal service's 500 or 401) cannot be
    told apart; only "no such branch" needs a Git server there, so it stays."""
    remotes = Remotes(settings())
    target = parse("https://10.0.0.7/jobs.git", allow_http=False)

    def explain(report=None, reason="protocol", kind=repo.RemoteError):
        error = kind("x", url="x", reason=reason, detail="HTTP 500 from internal-billing")
        return remotes.explain(error, target, report=report, private=True, action="fetch from", branch="main").message

    said = {
        explain(RelayReport(unreachable=True, private=True)),
        explain(RelayReport(stalled=True, private=True)),
        explain(RelayReport(expired=True, private=True)),
        explain(RelayReport(tls_invalid=True, private=True)),
        explain(RelayReport(redirect="169.254.169.254", private=True)),
        explain(reason="auth", kind=repo.AuthenticationFailed),
        explain(reason="not_found"),
        explain(),
    }
    assert said == {f"cannot fetch from https://10.0.0.7/jobs.git: {PRIVATE}"}
    assert explain(reason="no_branch").endswith("no branch 'main' there")


# --- a repository stored before the rule -------------------------------------------------------------


@pytest.fixture
async def gitops(settings):
    unit = GitopsUnit(settings(), broker=_Quiet())
    await unit.prepare()
    yield unit
    await unit.close()


class _Quiet(NatsBroker):
    """Never connected: what the syncer announces goes nowhere."""

    async def publish(self, *_: Any, **__: Any) -> None:
        pass


async def point_at(unit: GitopsUnit, tenant: str, url: str, mirror: Path) -> None:
    async with unit.db.session() as session:
        row = await session.get(Repository, tenant)
        assert row is not None
        row.kind, row.url, row.path, row.synced_commit = "external", url, str(mirror), None
        session.add(row)
        await session.commit()


async def test_a_repository_connected_earlier_with_a_local_path_stops_working_and_says_how_to_reconnect(
    gitops, tmp_path
):
    await gitops.syncer.sync(ALICE)
    bobs = await gitops.syncer.sync(BOB)
    bobs_head = repo.head(Path(bobs.path), branch="main")
    await point_at(gitops, ALICE, bobs.path, tmp_path / "alice-mirror.git")  # as the old rule allowed

    row = await gitops.syncer.sync(ALICE, fetch_remote=True)

    assert row.last_error is not None and row.last_error.startswith("url: must be a Git host's URL")
    assert "connect it again with an https:// or ssh:// URL" in row.last_error
    assert not (tmp_path / "alice-mirror.git").exists()  # nothing was fetched from bob's repository
    request = JobCreateRequest(tenant_id=ALICE, author=CommitAuthor(name="a", email="a@x"), manifest=NIGHTLY_EXPORT)
    with pytest.raises(RefusedUrl, match="connect it again"):
        await editing.create_job(db=gitops.db, syncer=gitops.syncer, request=request)
    assert repo.head(Path(bobs.path), branch="main") == bobs_head


async def test_an_unexpected_error_in_a_sync_is_logged_with_its_traceback_and_shown_generically(gitops, monkeypatch):
    async def broken(**_: object) -> None:
        raise RuntimeError("/srv/crontopus/repos/internal-path exploded")

    monkeypatch.setattr("crontopus_gitops.syncer.service.sync", broken)
    with structlog.testing.capture_logs() as logged:
        row = await gitops.syncer.sync(ALICE)

    assert row.last_error == (
        "the repository could not be synced because of an error in Crontopus (the server log has the details)"
    )
    assert [entry["event"] for entry in logged if entry.get("exc_info")] == ["repository sync failed"]


# --- teams do not wait for each other ------------------------------------------------------------------


async def test_the_poll_never_waits_for_a_team_whose_host_hangs(gitops, git_http, tmp_path):
    hosted(git_http.root, "alice.git")
    bobs_sha = hosted(git_http.root, "bob.git")
    for tenant in (ALICE, BOB):
        await gitops.syncer.sync(tenant)
        await point_at(gitops, tenant, git_http.url(f"{'alice' if tenant == ALICE else 'bob'}.git"),
                       tmp_path / f"{tenant}.git")  # fmt: skip

    with git_http.hanging("alice.git"):
        first = {task.get_name(): task for task in await gitops.syncer.start_round()}
        await asyncio.wait_for(first[f"gitops poll {BOB}"], timeout=2)  # bob is done while alice hangs
        assert not first[f"gitops poll {ALICE}"].done()
        again = [task.get_name() for task in await gitops.syncer.start_round()]
        assert again == [f"gitops poll {BOB}"]  # alice's sync still runs: skipped, not queued
        await asyncio.wait_for(first[f"gitops poll {ALICE}"], timeout=4)  # ends by its own bound

    async with gitops.db.session() as session:
        alice, bob = await session.get(Repository, ALICE), await session.get(Repository, BOB)
    assert bob is not None and bob.synced_commit == bobs_sha and bob.last_error is None
    assert alice is not None and alice.last_error is not None and alice.last_error.endswith(PRIVATE)


def test_the_machine_resolves_localhost_to_loopback():
    """The tests above name localhost for a host on loopback."""
    assert {info[4][0] for info in socket.getaddrinfo("localhost", None, type=socket.SOCK_STREAM)} <= {
        "127.0.0.1",
        "::1",
    }
