"""The agent daemon against a real nats-server (no auth: the agent's login is ignored) and real
Git repositories. A recording scheduler stands in where the backend does not matter."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import shutil
import signal
import threading
import time
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import nats
import pytest
from nats.aio.client import Client as NatsClient
from nats.aio.msg import Msg
from typer.testing import CliRunner

from crontopus_agent import daemon as daemon_module
from crontopus_agent.cli import app
from crontopus_agent.connection import dead_connection_bound
from crontopus_agent.daemon import Daemon, choose_scheduler
from crontopus_agent.home import Credentials
from crontopus_agent.jobs import AgentJob, read_spec, spec_refs
from crontopus_agent.schedulers.base import Drift, ReconcileReport, SchedulerError
from crontopus_agent.schedulers.builtin import BuiltinScheduler, Launch
from crontopus_agent.spool import Spool
from crontopus_agent.testing import JobsRepo, manifest
from crontopus_kit.nats_server import NatsServerProcess, free_port
from crontopus_schemas.agents import AgentStatusReport
from crontopus_schemas.events import CheckInEvent
from crontopus_schemas.gitops import ManifestsChanged, RepositoryLocation
from crontopus_schemas.rpc import RpcReply
from crontopus_schemas.subjects import (
    CHECKINS_STREAM,
    agent_heartbeat_subject,
    agent_report_subject,
    manifests_changed_subject,
    repository_location_subject,
)

TENANT = "a" * 32
AGENT = "b" * 32


# --- helpers -------------------------------------------------------------------------------


class RecordingScheduler:
    """Remembers every reconcile; ``delay`` makes each one take that long (in its thread)."""

    name = "builtin"

    def __init__(self, *, delay: float = 0.0) -> None:
        self.calls: list[list[str]] = []
        self.started = 0
        self.delay = delay
        self.fail: str | None = None
        self.drift: list[Drift] = []
        self._installed: dict[str, str] = {}
        self._lock = threading.Lock()

    def reconcile(self, jobs: Sequence[AgentJob]) -> ReconcileReport:
        self.started += 1
        time.sleep(self.delay)
        if self.fail:
            raise SchedulerError(self.fail)
        with self._lock:
            self.calls.append([job.ref for job in jobs])
            added = sorted({job.ref for job in jobs} - self._installed.keys())
            self._installed = {job.ref: job.fingerprint for job in jobs}
        return ReconcileReport(backend="builtin", added=added, drift=list(self.drift))

    def installed(self) -> dict[str, str]:
        with self._lock:
            return dict(self._installed)

    @property
    def last(self) -> list[str] | None:
        with self._lock:
            return self.calls[-1] if self.calls else None


async def eventually(check: Callable[[], bool], *, timeout: float = 10.0, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} not reached within {timeout}s")
        await asyncio.sleep(0.01)


def credentials_for(nats_url: str, repo: Path | str | None, **changes: Any) -> Credentials:
    values: dict[str, Any] = {
        "agent_id": AGENT,
        "tenant_id": TENANT,
        "name": "host-1",
        "nats_urls": [nats_url],
        "nats_user": "agent",
        "nats_password": "ignored",
        "server_url": "http://127.0.0.1:8080",
        "clone_url": str(repo) if repo else None,
        "branch": "main",
        "folder": "",
        "labels": {},
    }
    return Credentials(**{**values, **changes})


class Running:
    """A daemon running in a task; ``stop()`` ends it and re-raises what it raised."""

    def __init__(self, daemon: Daemon, **run_options: Any) -> None:
        self.daemon = daemon
        self.task = asyncio.create_task(daemon.run(**run_options))

    async def stop(self) -> None:
        self.daemon.stop()
        await asyncio.wait_for(self.task, 10)


@pytest.fixture
def remote(tmp_path: Path) -> JobsRepo:
    return JobsRepo(tmp_path / "remote")


@pytest.fixture
async def client(nats_server: NatsServerProcess) -> AsyncIterator[NatsClient]:
    nc = await nats.connect(nats_server.url)
    yield nc
    await nc.close()


@pytest.fixture
async def start(
    tmp_path: Path, nats_server: NatsServerProcess, remote: JobsRepo
) -> AsyncIterator[Callable[..., Running]]:
    """Start a daemon for the remote repository; every daemon started is stopped afterwards."""
    started: list[Running] = []

    def build(
        scheduler: Any = None,
        *,
        home: Path | None = None,
        credentials: Credentials | None = None,
        handle_signals: bool = False,
        **options: Any,
    ) -> Running:
        options = {"heartbeat_interval": 60.0, "poll_interval": 3600.0, "reconnect_wait": 0.1, **options}
        creds = credentials or credentials_for(nats_server.url, remote.path)
        daemon = Daemon(home or tmp_path / "home", creds, scheduler or RecordingScheduler(), **options)
        running = Running(daemon, handle_signals=handle_signals)
        started.append(running)
        return running

    yield build
    for running in started:
        if not running.task.done():
            await running.stop()


class Inbox:
    """Messages received on one subject, parsed as AgentStatusReport."""

    def __init__(self) -> None:
        self.reports: list[AgentStatusReport] = []


async def listen(nc: NatsClient, subject: str) -> Inbox:
    inbox = Inbox()

    async def receive(msg: Msg) -> None:
        inbox.reports.append(AgentStatusReport.model_validate_json(msg.data))

    await nc.subscribe(subject, cb=receive)
    await nc.flush()
    return inbox


# --- syncing -------------------------------------------------------------------------------------


async def test_a_nudge_makes_the_daemon_sync_and_reconcile_the_new_commit_at_once(
    start: Callable[..., Running], remote: JobsRepo, client: NatsClient
) -> None:
    first = remote.commit({"prod/backup.yaml": manifest("backup")})
    scheduler = RecordingScheduler()
    running = start(scheduler)  # poll_interval is an hour: only a nudge can trigger the next sync
    await eventually(lambda: running.daemon.applied_commit == first and running.daemon.connected, what="first sync")

    second = remote.commit({"prod/report.yaml": manifest("report")})
    await client.publish(manifests_changed_subject(TENANT), b'{"commit": "whatever"}')

    await eventually(lambda: running.daemon.applied_commit == second, what="the nudged sync")
    assert scheduler.last == ["prod/backup", "prod/report"]


async def test_a_nudge_from_a_moved_repository_makes_the_daemon_fetch_from_there_and_remember_it(
    start: Callable[..., Running], remote: JobsRepo, client: NatsClient, tmp_path: Path
) -> None:
    remote.commit({"prod/backup.yaml": manifest("backup")})
    scheduler = RecordingScheduler()
    running = start(scheduler)
    await eventually(lambda: running.daemon.syncs >= 1 and running.daemon.connected, what="first sync")

    moved = JobsRepo(tmp_path / "moved")
    there = moved.commit({"jobs/prod/report.yaml": manifest("report")})
    nudge = ManifestsChanged(
        commit=there, previous_commit=None, author=None, message=None,
        repository=RepositoryLocation(clone_url=str(moved.path), branch="main", folder="jobs"),
    )  # fmt: skip
    await client.publish(manifests_changed_subject(TENANT), nudge.model_dump_json().encode())

    await eventually(lambda: running.daemon.applied_commit == there, what="the sync from the moved repository")
    assert scheduler.last == ["prod/report"]
    remembered = Credentials.load(tmp_path / "home")
    assert (remembered.clone_url, remembered.folder) == (str(moved.path), "jobs")


async def test_at_connect_the_daemon_asks_where_the_repository_is_and_follows_a_move_it_missed(
    start: Callable[..., Running], remote: JobsRepo, client: NatsClient, tmp_path: Path
) -> None:
    """The nudge that said the repository moved was sent while this agent was offline: the
    control plane's answer at connect takes it there all the same."""
    remote.commit({"prod/backup.yaml": manifest("backup")})
    moved = JobsRepo(tmp_path / "moved")
    there = moved.commit({"jobs/prod/report.yaml": manifest("report")})
    location = RepositoryLocation(clone_url=str(moved.path), branch="main", folder="jobs")
    asked: list[str] = []

    async def answer(msg: Msg) -> None:
        asked.append(msg.subject)
        await msg.respond(RpcReply(result=location).model_dump_json().encode())

    await client.subscribe(repository_location_subject(TENANT, AGENT), cb=answer)
    await client.flush()
    scheduler = RecordingScheduler()
    running = start(scheduler)  # poll_interval is an hour and no nudge comes: only the answer can move it

    await eventually(lambda: running.daemon.applied_commit == there, what="the sync from the moved repository")
    assert scheduler.last == ["prod/report"]
    assert asked == [repository_location_subject(TENANT, AGENT)]
    remembered = Credentials.load(tmp_path / "home")
    assert (remembered.clone_url, remembered.folder) == (str(moved.path), "jobs")


async def test_without_an_answer_about_the_repository_the_daemon_keeps_the_one_it_knows(
    start: Callable[..., Running], remote: JobsRepo, client: NatsClient
) -> None:
    """A control plane older than the agent has no one answering (or answers an error): the
    daemon goes on syncing from what it knows."""
    first = remote.commit({"prod/backup.yaml": manifest("backup")})

    async def refuse(msg: Msg) -> None:
        await msg.respond(b'{"error": {"code": "internal", "message": "internal error"}}')

    await client.subscribe(repository_location_subject(TENANT, AGENT), cb=refuse)
    await client.flush()
    running = start(RecordingScheduler())
    await eventually(lambda: running.daemon.applied_commit == first and running.daemon.connected, what="first sync")

    second = remote.commit({"prod/report.yaml": manifest("report")})
    await client.publish(manifests_changed_subject(TENANT), b"{}")
    await eventually(lambda: running.daemon.applied_commit == second, what="the nudged sync")
    assert running.daemon.credentials.clone_url == str(remote.path)


async def test_without_a_nudge_the_fallback_poll_picks_up_a_new_commit(
    start: Callable[..., Running], remote: JobsRepo
) -> None:
    first = remote.commit({"prod/backup.yaml": manifest("backup")})
    scheduler = RecordingScheduler()
    running = start(scheduler, poll_interval=0.2)
    await eventually(lambda: running.daemon.applied_commit == first)

    second = remote.commit({"prod/report.yaml": manifest("report")})
    await eventually(lambda: running.daemon.applied_commit == second, what="the polled sync")
    assert scheduler.last == ["prod/backup", "prod/report"]


async def test_the_timer_reconciles_again_even_when_the_commit_did_not_change(
    start: Callable[..., Running], remote: JobsRepo
) -> None:
    remote.commit({"prod/backup.yaml": manifest("backup")})
    scheduler = RecordingScheduler()
    scheduler.drift = [Drift(ref="prod/backup", kind="edited", detail="by hand")]
    running = start(scheduler, poll_interval=0.1)

    await eventually(lambda: len(scheduler.calls) >= 3, what="three reconciles")
    assert all(call == ["prod/backup"] for call in scheduler.calls)
    assert running.daemon.status().drift[0].ref == "prod/backup"


async def test_a_burst_of_nudges_coalesces_into_at_most_two_more_syncs(
    start: Callable[..., Running], remote: JobsRepo, client: NatsClient
) -> None:
    remote.commit({"prod/backup.yaml": manifest("backup")})
    scheduler = RecordingScheduler(delay=0.2)
    running = start(scheduler)
    await eventually(lambda: running.daemon.syncs == 1 and running.daemon.connected)

    for _ in range(20):
        await client.publish(manifests_changed_subject(TENANT), b"{}")
    await client.flush()
    # Every nudge received and nothing left to do: a burst not coalesced would have run more syncs.
    await eventually(lambda: running.daemon.nudges == 20 and running.daemon.settled, what="the burst handled")
    assert running.daemon.syncs in (2, 3)


async def test_jobs_for_other_labels_are_not_installed(
    start: Callable[..., Running], remote: JobsRepo, nats_server: NatsServerProcess, tmp_path: Path
) -> None:
    sha = remote.commit(
        {
            "prod/everywhere.yaml": manifest("everywhere"),
            "prod/web.yaml": manifest("web", labels="role: web"),
            "prod/db.yaml": manifest("db", labels="role: db"),
        }
    )
    launched: list[Launch] = []

    async def launch(launch: Launch) -> None:
        launched.append(launch)

    home = tmp_path / "home"
    scheduler = BuiltinScheduler(home, launcher=launch)
    credentials = credentials_for(nats_server.url, remote.path, labels={"role": "web"})
    running = start(scheduler, credentials=credentials)
    await eventually(lambda: running.daemon.applied_commit == sha)

    assert sorted(scheduler.installed()) == ["prod/everywhere", "prod/web"]
    assert scheduler.next_at("prod/web") is not None  # the built-in loop holds the job
    assert (home / "jobs" / "prod" / "web.json").exists()  # the spec the exec wrapper reads
    assert not (home / "jobs" / "prod" / "db.json").exists()
    assert running.daemon.status().jobs == ["prod/everywhere", "prod/web"]


async def test_an_unreachable_remote_keeps_the_installed_jobs_and_reports_the_error(
    start: Callable[..., Running], remote: JobsRepo, tmp_path: Path
) -> None:
    sha = remote.commit({"prod/backup.yaml": manifest("backup")})
    scheduler = RecordingScheduler()
    running = start(scheduler, poll_interval=0.1)
    await eventually(lambda: running.daemon.applied_commit == sha)
    shutil.rmtree(remote.path)

    await eventually(lambda: running.daemon.status().sync_error is not None, what="a sync error")
    calls = len(scheduler.calls)
    await eventually(lambda: len(scheduler.calls) > calls, what="a reconcile after the failure")
    assert scheduler.last == ["prod/backup"]  # never an empty list: the scheduler keeps its jobs

    def status() -> dict[str, Any]:  # status.json is written after the sync, not with it
        return dict(json.loads((tmp_path / "home" / "status.json").read_text()))

    await eventually(lambda: status()["sync_error"] is not None, what="the error in status.json")
    assert "no repository there" in status()["sync_error"]
    assert status()["applied_commit"] == sha


async def test_after_a_restart_with_the_remote_down_the_last_fetched_jobs_are_applied(
    start: Callable[..., Running], remote: JobsRepo
) -> None:
    sha = remote.commit({"prod/backup.yaml": manifest("backup")})
    first = start(RecordingScheduler())
    await eventually(lambda: first.daemon.applied_commit == sha)
    await first.stop()
    shutil.rmtree(remote.path)

    scheduler = RecordingScheduler()
    second = start(scheduler)
    await eventually(lambda: second.daemon.syncs == 1)
    assert scheduler.last == ["prod/backup"]
    assert second.daemon.applied_commit == sha
    assert second.daemon.status().sync_error is not None


async def test_with_no_commit_known_and_the_remote_down_the_scheduler_is_left_alone(
    start: Callable[..., Running], tmp_path: Path, nats_server: NatsServerProcess
) -> None:
    scheduler = RecordingScheduler()
    running = start(scheduler, credentials=credentials_for(nats_server.url, tmp_path / "nowhere"))
    await eventually(lambda: running.daemon.syncs == 1)
    assert scheduler.calls == []
    assert running.daemon.status().applied_commit is None


async def test_a_repository_that_cannot_be_fetched_is_one_log_line_per_outage_saying_what_and_what_now(
    start: Callable[..., Running], tmp_path: Path, nats_server: NatsServerProcess, caplog: pytest.LogCaptureFixture
) -> None:
    nowhere = tmp_path / "nowhere"
    running = start(credentials=credentials_for(nats_server.url, nowhere), poll_interval=0.05)
    await eventually(lambda: running.daemon.syncs >= 3)

    assert daemon_lines(caplog, logging.WARNING) == [
        f"sync: cannot fetch branch 'main' from {nowhere}: no repository there "
        "(no commit fetched yet: scheduler left alone)"
    ]
    assert [r for r in caplog.records if r.exc_info or r.name == "crontopus_agent.sync"] == []


async def test_a_scheduler_failure_is_reported_and_the_commit_not_marked_applied(
    start: Callable[..., Running], remote: JobsRepo
) -> None:
    remote.commit({"prod/backup.yaml": manifest("backup")})
    scheduler = RecordingScheduler()
    scheduler.fail = "crontab: permission denied"
    running = start(scheduler)
    await eventually(lambda: running.daemon.syncs == 1)
    status = running.daemon.status()
    assert status.applied_commit is None
    assert status.sync_error is not None and "permission denied" in status.sync_error


class SpecWatchingScheduler(RecordingScheduler):
    """Also notes which job specs exist when each reconcile starts."""

    def __init__(self, home: Path) -> None:
        super().__init__()
        self.home = home
        self.specs_at_reconcile: list[set[str]] = []

    def reconcile(self, jobs: Sequence[AgentJob]) -> ReconcileReport:
        self.specs_at_reconcile.append(spec_refs(self.home))
        return super().reconcile(jobs)


async def sync_again(running: Running) -> None:
    syncs = running.daemon.syncs
    running.daemon.request_sync()
    await eventually(lambda: running.daemon.syncs > syncs and running.daemon.settled, timeout=30, what="a sync")


async def test_a_removed_job_keeps_its_spec_until_its_entry_is_gone(
    start: Callable[..., Running], remote: JobsRepo, tmp_path: Path
) -> None:
    home = tmp_path / "home"
    first = remote.commit({"prod/backup.yaml": manifest("backup"), "prod/report.yaml": manifest("report")})
    scheduler = SpecWatchingScheduler(home)
    running = start(scheduler, home=home)
    await eventually(lambda: running.daemon.applied_commit == first and running.daemon.settled, timeout=30)
    remote.commit({"prod/report.yaml": None})

    await sync_again(running)

    assert "prod/report" in scheduler.specs_at_reconcile[-1]  # the entry goes while the spec is there
    assert sorted(scheduler.installed()) == ["prod/backup"]
    assert read_spec(home, "prod/report") is not None  # for a run the entry started just before
    await sync_again(running)
    assert spec_refs(home) == {"prod/backup"}


async def test_when_the_scheduler_cannot_remove_a_job_its_spec_stays_until_it_can(
    start: Callable[..., Running], remote: JobsRepo, tmp_path: Path
) -> None:
    home = tmp_path / "home"
    first = remote.commit({"prod/backup.yaml": manifest("backup"), "prod/report.yaml": manifest("report")})
    scheduler = RecordingScheduler()
    running = start(scheduler, home=home)
    await eventually(lambda: running.daemon.applied_commit == first and running.daemon.settled, timeout=30)
    remote.commit({"prod/report.yaml": None})
    scheduler.fail = "crontab: you (root) are not allowed to use this program"

    await sync_again(running)

    assert "prod/report" in scheduler.installed()  # its entry still fires...
    spec = read_spec(home, "prod/report")  # ...and its runs keep their timeout, lock and retries
    assert spec is not None and spec.concurrency == "forbid"
    scheduler.fail = None
    await sync_again(running)
    await sync_again(running)
    assert sorted(scheduler.installed()) == ["prod/backup"]
    assert spec_refs(home) == {"prod/backup"}


async def test_syncing_does_not_wait_for_nats(tmp_path: Path, remote: JobsRepo) -> None:
    sha = remote.commit({"prod/backup.yaml": manifest("backup")})
    nowhere = f"nats://127.0.0.1:{free_port()}"
    daemon = Daemon(tmp_path / "home", credentials_for(nowhere, remote.path), RecordingScheduler(), reconnect_wait=0.1)
    running = Running(daemon)
    await eventually(lambda: daemon.applied_commit == sha)
    assert not daemon.connected
    await running.stop()


# --- telling the control plane -------------------------------------------------------------------


async def test_heartbeats_arrive_with_the_agents_status(
    start: Callable[..., Running], remote: JobsRepo, client: NatsClient
) -> None:
    sha = remote.commit({"prod/backup.yaml": manifest("backup")})
    heartbeats = await listen(client, agent_heartbeat_subject(TENANT, AGENT))
    start(heartbeat_interval=0.1)

    await eventually(lambda: any(h.applied_commit == sha for h in heartbeats.reports), what="a heartbeat")
    beat = next(h for h in heartbeats.reports if h.applied_commit == sha)
    assert beat.scheduler == "builtin"
    assert beat.jobs == ["prod/backup"]
    assert beat.version and beat.hostname
    await eventually(lambda: len(heartbeats.reports) >= 3, what="repeated heartbeats")


async def test_a_report_follows_each_sync_with_the_applied_commit(
    start: Callable[..., Running], remote: JobsRepo, client: NatsClient
) -> None:
    first = remote.commit({"prod/backup.yaml": manifest("backup")})
    reports = await listen(client, agent_report_subject(TENANT, AGENT))
    running = start()
    await eventually(lambda: running.daemon.connected and running.daemon.applied_commit == first)

    second = remote.commit({"prod/report.yaml": manifest("report"), "prod/bad.yaml": "kind: ["})
    running.daemon.request_sync()

    await eventually(lambda: any(r.applied_commit == second for r in reports.reports), what="a report")
    report = next(r for r in reports.reports if r.applied_commit == second)
    assert report.jobs == ["prod/backup", "prod/report"]
    assert report.last_sync_at is not None and report.sync_error is None


async def test_after_nats_restarts_the_daemon_reconnects_and_heartbeats_resume(
    start: Callable[..., Running], remote: JobsRepo, nats_server: NatsServerProcess
) -> None:
    remote.commit({"prod/backup.yaml": manifest("backup")})
    running = start(heartbeat_interval=0.1)
    await eventually(lambda: running.daemon.connected, what="connected")

    nats_server.stop()
    await eventually(lambda: not running.daemon.connected, what="disconnected")
    sha = remote.commit({"prod/report.yaml": manifest("report")})
    running.daemon.request_sync()  # Git keeps syncing while NATS is away
    await eventually(lambda: running.daemon.applied_commit == sha, what="a sync without NATS")

    nats_server.start()
    nc = await nats.connect(nats_server.url)
    try:
        heartbeats = await listen(nc, agent_heartbeat_subject(TENANT, AGENT))
        await eventually(lambda: len(heartbeats.reports) >= 2, timeout=5, what="heartbeats after the restart")
        assert heartbeats.reports[-1].applied_commit == sha
    finally:
        await nc.close()


async def test_after_connecting_the_spool_is_drained_into_jetstream(
    start: Callable[..., Running], remote: JobsRepo, client: NatsClient, tmp_path: Path
) -> None:
    remote.commit({"prod/backup.yaml": manifest("backup")})
    js = client.jetstream()
    await js.add_stream(name=CHECKINS_STREAM.name, subjects=list(CHECKINS_STREAM.subjects))
    home = tmp_path / "home"
    spool = Spool.for_home(home)
    spool.write(CheckInEvent(job="prod/backup", run_id="0" * 32, status="running"))

    start(home=home)

    await eventually(lambda: spool.count() == 0, timeout=5, what="an empty spool")
    info = await js.stream_info(CHECKINS_STREAM.name)
    assert info.state.messages == 1


# --- the NATS connection ---------------------------------------------------------------------------


def login_config(path: Path, password: str) -> Path:
    """A nats-server configuration with one login, ``agent`` / ``password``."""
    path.write_text(f'authorization {{ user: "agent", password: "{password}" }}\n')
    return path


@pytest.fixture
def guarded_nats(tmp_path: Path) -> Iterator[NatsServerProcess]:
    """A nats-server that lets in ``agent`` with the password ``right`` (its config can be swapped
    between restarts); the port stays the same across restarts."""
    server = NatsServerProcess(
        store_dir=tmp_path / "guarded", config_file=login_config(tmp_path / "right.conf", "right"),
        log_file=tmp_path / "guarded.log",
    )  # fmt: skip
    server.start()
    yield server
    server.stop()


def daemon_lines(caplog: pytest.LogCaptureFixture, level: int) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == daemon_module.__name__ and r.levelno == level]


async def test_a_control_plane_restart_that_refuses_logins_for_a_while_is_one_warning_and_never_says_revoked(
    start: Callable[..., Running],
    remote: JobsRepo,
    guarded_nats: NatsServerProcess,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """The embedded NATS comes back before the agents service answers its auth callout, and
    refuses every agent until then: that is a restart, not a revoked agent."""
    caplog.set_level(logging.DEBUG, logger=daemon_module.__name__)
    remote.commit({"prod/backup.yaml": manifest("backup")})
    credentials = credentials_for(guarded_nats.url, remote.path, nats_user="agent", nats_password="right")
    running = start(credentials=credentials)
    await eventually(lambda: running.daemon.connected, what="connected")

    guarded_nats.stop()
    await eventually(lambda: not running.daemon.connected, what="disconnected")
    guarded_nats.config_file = login_config(tmp_path / "refusing.conf", "not-yet")
    guarded_nats.start()
    await eventually(lambda: "Authorization Violation" in caplog.text, what="refused logins")
    guarded_nats.stop()
    guarded_nats.config_file = tmp_path / "right.conf"
    guarded_nats.start()
    await eventually(lambda: running.daemon.connected, what="reconnected")

    assert daemon_lines(caplog, logging.ERROR) == []
    [warning] = daemon_lines(caplog, logging.WARNING)
    assert warning.startswith("NATS: unreachable (") and "reconnecting every 0.1 s" in warning
    assert "revoked" not in caplog.text


async def test_a_login_still_refused_after_the_grace_is_an_error_once_that_names_revocation(
    start: Callable[..., Running],
    remote: JobsRepo,
    guarded_nats: NatsServerProcess,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG, logger=daemon_module.__name__)
    remote.commit({"prod/backup.yaml": manifest("backup")})
    home = tmp_path / "home"
    credentials = credentials_for(guarded_nats.url, remote.path, nats_user="agent", nats_password="revoked")
    began = time.monotonic()
    start(home=home, credentials=credentials, refusal_grace=1.0)

    await eventually(lambda: bool(daemon_lines(caplog, logging.ERROR)), what="an error")

    [error] = daemon_lines(caplog, logging.ERROR)
    assert time.monotonic() - began >= 1.0  # not at the first refusal: that could be a restart
    assert "login has been refused for over 1 s: the agent was revoked" in error
    [first] = [line for line in daemon_lines(caplog, logging.INFO) if "Authorization Violation" in line]
    assert "retrying" in first
    await asyncio.sleep(0.5)  # more refusals: said once
    assert len(daemon_lines(caplog, logging.ERROR)) == 1
    await eventually(lambda: "revoked" in json.loads((home / "status.json").read_text())["nats"]["error"])


class Proxy:
    """A TCP proxy to a NATS server, to break the connections going through it as networks and
    servers do: ``silence()`` stops forwarding on the open ones without closing them (a hung
    server, a dropped NAT entry) and sends new ones to another server; ``expire_logins()`` tells
    the open ones what nats-server says when a login expires, and closes them."""

    def __init__(self, upstream: NatsServerProcess) -> None:
        self.upstream = upstream
        self._server: asyncio.Server | None = None
        self._open: list[tuple[asyncio.StreamWriter, asyncio.StreamWriter, asyncio.Event]] = []
        self._tasks: set[asyncio.Task[None]] = set()

    async def start(self) -> str:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        return f"nats://127.0.0.1:{self._server.sockets[0].getsockname()[1]}"

    def silence(self, *, new_upstream: NatsServerProcess) -> None:
        self.upstream = new_upstream
        for _, _, silenced in self._open:
            silenced.set()

    async def expire_logins(self) -> None:
        for client, upstream, _ in self._open:
            client.write(b"-ERR 'User Authentication Expired'\r\n")
            await client.drain()
            client.close()
            upstream.close()
        self._open.clear()

    async def close(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        for client, upstream, _ in self._open:
            client.close()
            upstream.close()
        if self._server is not None:
            self._server.close()

    async def _serve(self, client_reader: asyncio.StreamReader, client: asyncio.StreamWriter) -> None:
        upstream_reader, upstream = await asyncio.open_connection(self.upstream.host, self.upstream.port)
        silenced = asyncio.Event()
        self._open.append((client, upstream, silenced))
        for reader, writer in ((client_reader, upstream), (upstream_reader, client)):
            task = asyncio.create_task(self._pipe(reader, writer, silenced))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    @staticmethod
    async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, silenced: asyncio.Event) -> None:
        with contextlib.suppress(OSError):
            while data := await reader.read(65536):
                if silenced.is_set():
                    await asyncio.Event().wait()  # read no more, forward nothing, close nothing
                writer.write(data)
                await writer.drain()


@pytest.fixture
async def proxy(nats_server: NatsServerProcess) -> AsyncIterator[Proxy]:
    proxy = Proxy(nats_server)
    yield proxy
    await proxy.close()


@pytest.mark.slow
async def test_a_connection_that_goes_silent_is_dropped_and_the_daemon_is_back_on_another_server_within_a_minute(
    start: Callable[..., Running], remote: JobsRepo, proxy: Proxy, tmp_path: Path
) -> None:
    """nats-py's own defaults took 4 to 6 minutes to notice (a ping every 2 min, 2 unanswered)."""
    remote.commit({"prod/backup.yaml": manifest("backup")})
    running = start(credentials=credentials_for(await proxy.start(), remote.path))
    await eventually(lambda: running.daemon.connected, what="connected")
    successor = NatsServerProcess(store_dir=tmp_path / "successor")
    successor.start()
    try:
        nc = await nats.connect(successor.url)
        heartbeats = await listen(nc, agent_heartbeat_subject(TENANT, AGENT))
        bound = dead_connection_bound()
        assert bound <= 45

        proxy.silence(new_upstream=successor)
        silenced = time.monotonic()

        await eventually(lambda: bool(heartbeats.reports), timeout=bound + 10, what="a heartbeat on the new server")
        assert time.monotonic() - silenced <= bound + 10
        await nc.close()
    finally:
        successor.stop()


async def test_when_the_agents_login_expires_the_daemon_logs_in_again(
    start: Callable[..., Running],
    remote: JobsRepo,
    proxy: Proxy,
    client: NatsClient,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """nats-server ends a connection whose login expired (auth callout logins last an hour) with
    this error, and nats-py then closes the client for good instead of reconnecting."""
    caplog.set_level(logging.INFO, logger=daemon_module.__name__)
    remote.commit({"prod/backup.yaml": manifest("backup")})
    heartbeats = await listen(client, agent_heartbeat_subject(TENANT, AGENT))
    running = start(credentials=credentials_for(await proxy.start(), remote.path))
    await eventually(lambda: len(heartbeats.reports) == 1, what="the heartbeat on connect")

    await proxy.expire_logins()

    await eventually(lambda: len(heartbeats.reports) == 2, what="a heartbeat after logging in again")
    assert running.daemon.connected
    assert "NATS: this agent's login expired (it does every hour); logging in again" in caplog.text
    assert daemon_lines(caplog, logging.WARNING) == daemon_lines(caplog, logging.ERROR) == []


# --- stopping -------------------------------------------------------------------------------------


async def test_stop_ends_run_cleanly_with_a_last_heartbeat(
    start: Callable[..., Running], remote: JobsRepo, client: NatsClient
) -> None:
    remote.commit({"prod/backup.yaml": manifest("backup")})
    heartbeats = await listen(client, agent_heartbeat_subject(TENANT, AGENT))
    running = start()  # heartbeat_interval 60 s: only the connect and the stop send one
    await eventually(lambda: running.daemon.connected and running.daemon.syncs == 1)
    await eventually(lambda: len(heartbeats.reports) == 1, what="the heartbeat on connect")

    await running.stop()
    await client.flush()
    await eventually(lambda: len(heartbeats.reports) == 2, what="the last heartbeat")
    assert running.task.result() is None


async def test_sigterm_stops_the_daemon_after_the_running_sync_finishes(
    start: Callable[..., Running], remote: JobsRepo
) -> None:
    remote.commit({"prod/backup.yaml": manifest("backup")})
    scheduler = RecordingScheduler(delay=0.3)
    running = start(scheduler, handle_signals=True)
    await eventually(lambda: scheduler.started == 1, what="a reconcile under way")

    os.kill(os.getpid(), signal.SIGTERM)

    await asyncio.wait_for(running.task, 5)
    assert running.task.result() is None
    assert scheduler.calls == [["prod/backup"]]  # the reconcile under way was finished, none started after
    assert signal.getsignal(signal.SIGTERM) == signal.SIG_DFL  # the handlers are removed again


async def test_stopping_stops_the_builtin_loop(start: Callable[..., Running], remote: JobsRepo, tmp_path: Path) -> None:
    remote.commit({"prod/backup.yaml": manifest("backup")})
    scheduler = BuiltinScheduler(tmp_path / "home")
    running = start(scheduler)
    await eventually(lambda: running.daemon.syncs == 1)
    with pytest.raises(RuntimeError, match="already serving"):
        await scheduler.serve()

    await running.stop()

    serving = asyncio.create_task(scheduler.serve())  # only possible once the daemon's loop is gone
    await asyncio.sleep(0.05)
    assert not serving.done()
    serving.cancel()


async def test_the_status_command_prints_what_the_daemon_last_did(
    start: Callable[..., Running], remote: JobsRepo, nats_server: NatsServerProcess, tmp_path: Path
) -> None:
    sha = remote.commit({"prod/backup.yaml": manifest("backup"), "prod/bad.yaml": "kind: ["})
    home = tmp_path / "home"
    credentials = credentials_for(nats_server.url, remote.path)
    credentials.save(home)
    running = start(home=home, credentials=credentials)
    await eventually(lambda: running.daemon.applied_commit == sha)
    await running.stop()

    result = CliRunner().invoke(app, ["status", "--home", str(home)])
    assert result.exit_code == 0, result.output
    assert f"commit:      {sha}" in result.output
    assert "host-1" in result.output and "  - prod/backup" in result.output
    assert "prod/bad.yaml" in result.output  # the manifest error
    assert "ignored" not in result.output  # never the NATS password

    result = CliRunner().invoke(app, ["status", "--json", "--home", str(home)])
    info = json.loads(result.output)
    assert info["last_sync"]["applied_commit"] == sha
    assert info["enrollment"]["agent_id"] == AGENT
    assert info["spool"] == {"pending": 0, "dropped": 0, "bad": 0}


def test_status_written_by_a_sync_and_a_connection_change_at_once_lands_whole(tmp_path: Path, remote: JobsRepo) -> None:
    """Both write through the one temp file: unserialised, one's rename found the file gone."""
    home = tmp_path / "home"
    daemon = Daemon(home, credentials_for(f"nats://127.0.0.1:{free_port()}", remote.path), RecordingScheduler())

    def write(writer: int) -> None:
        for count in range(100):
            daemon._write_status({"writer": writer, "count": count})

    with ThreadPoolExecutor(4) as pool:
        for done in [pool.submit(write, writer) for writer in range(4)]:
            done.result()  # raises what a writer raised
    assert json.loads((home / "status.json").read_text())["count"] == 99


def test_status_without_enrollment_says_how_to_enroll(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["status", "--home", str(tmp_path)])
    assert result.exit_code == 1
    assert "not enrolled" in result.output


def test_run_without_enrollment_fails_with_a_message(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["run", "--home", str(tmp_path)])
    assert result.exit_code == 1
    assert "not enrolled" in result.stderr


# --- choosing the backend ------------------------------------------------------------------------


def test_builtin_is_chosen_when_there_is_no_crontab_command(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setattr(daemon_module.sys, "platform", "linux")
    monkeypatch.setattr(daemon_module.shutil, "which", lambda _name: None)
    assert isinstance(choose_scheduler("auto", tmp_path), BuiltinScheduler)


def test_crontab_is_chosen_when_crontab_and_a_cron_daemon_exist(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from crontopus_agent.schedulers.crontab import CrontabBackend

    monkeypatch.setattr(daemon_module.sys, "platform", "linux")
    monkeypatch.setattr(daemon_module.shutil, "which", lambda _name: "/usr/bin/crontab")
    monkeypatch.setattr(daemon_module, "cron_daemon_running", lambda: True)
    assert isinstance(choose_scheduler("auto", tmp_path), CrontabBackend)
    monkeypatch.setattr(daemon_module, "cron_daemon_running", lambda: False)
    assert isinstance(choose_scheduler("auto", tmp_path), BuiltinScheduler)


def test_an_unknown_scheduler_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="unknown scheduler"):
        choose_scheduler("systemd", tmp_path)


def test_the_hosts_clone_url_and_git_login_are_what_the_daemon_fetches_with(tmp_path: Path) -> None:
    credentials = credentials_for("nats://127.0.0.1:1", "https://crontopus.example.com/acme.git",
                                  host_clone_url="https://mirror.internal/acme.git", git_username="robot",
                                  git_password="tok")  # fmt: skip
    daemon = Daemon(tmp_path / "home", credentials, RecordingScheduler())
    assert (daemon.mirror.url, daemon.mirror.login) == ("https://mirror.internal/acme.git", ("robot", "tok"))
