"""An agent against the whole platform on a secured NATS server: enrolled over HTTP, nudged by
a commit, running jobs through the exec wrapper, reporting through outages, and (slow) a real
cron daemon firing a pushed job."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import subprocess
import time
from collections.abc import AsyncIterator
from functools import partial
from pathlib import Path
from typing import Any

import httpx
import pytest

from crontopus_agent.daemon import Daemon
from crontopus_agent.enroll import enroll
from crontopus_agent.home import Credentials
from crontopus_agent.runner import execute
from crontopus_agent.schedulers.base import Scheduler
from crontopus_agent.schedulers.builtin import BuiltinScheduler, Launch
from crontopus_agent.schedulers.crontab import CrontabBackend
from crontopus_agent.spool import Spool
from crontopus_agent.status import collect, render
from crontopus_agent.testing import crontab
from crontopus_kit.nats_server import NatsServerProcess
from crontopus_server.testing import Account, Stack, sign_up, wait_until, wait_until_async

NUDGE_DEADLINE_SECONDS = 2.0


@pytest.fixture
def database_backend() -> str:
    return "sqlite"  # the storage is tested on both backends elsewhere; this is about the agent


@pytest.fixture
def api(secure_stack: Stack) -> Any:
    with secure_stack.client() as client:
        yield client


def enroll_agent(api: httpx.Client, stack: Stack, account: Account, home: Path) -> Credentials:
    token = api.post("/api/agents/enrollment-tokens", headers=account.headers).json()["token"]
    return enroll(server=stack.url, token=token, home=home, name="host-1", labels={"role": "db"})


@contextlib.asynccontextmanager
async def running(daemon: Daemon) -> AsyncIterator[Daemon]:
    task = asyncio.create_task(daemon.run())
    try:
        # Synced once, and subscribed to nudges: a nudge sent before that would be missed.
        await wait_until_async(_async(lambda: daemon.applied_commit and daemon.connected), timeout=10)
        yield daemon
    finally:
        daemon.stop()
        await asyncio.wait_for(task, 15)


def _async(condition: Any) -> Any:
    async def check() -> Any:
        return condition()

    return check


def job_manifest(name: str, command: str) -> str:
    return (
        "apiVersion: crontopus.io/v1\nkind: Job\n"
        f"metadata:\n  name: {name}\n  namespace: ops\n"
        f'spec:\n  schedule: "* * * * *"\n  command: /bin/sh\n  args: ["-c", "{command}"]\n'
        "  target: {matchLabels: {role: db}}\n"
    )


def runs_of(api: httpx.Client, account: Account, job: str) -> list[dict[str, Any]]:
    return list(api.get("/api/runs", params={"job": job}, headers=account.headers).json()["runs"])


async def test_a_committed_job_reaches_the_agent_by_nudge_and_its_run_is_reported(
    api: httpx.Client, secure_stack: Stack, tmp_path: Path
) -> None:
    alice = sign_up(api, "alice")
    home = tmp_path / "agent"
    credentials = enroll_agent(api, secure_stack, alice, home)
    launched: list[Launch] = []

    async def record(launch: Launch) -> None:
        launched.append(launch)

    scheduler = BuiltinScheduler(home, launcher=record)
    daemon = Daemon(home, credentials, scheduler, heartbeat_interval=0.5, poll_interval=3600)
    async with running(daemon):
        created = api.post(
            "/api/jobs", json={"manifest": job_manifest("e2e", "echo hello; exit 3")}, headers=alice.headers
        )
        assert created.status_code == 201, created.text
        committed = time.monotonic()
        await wait_until_async(_async(lambda: "ops/e2e" in scheduler.installed()), timeout=NUDGE_DEADLINE_SECONDS)
        took = time.monotonic() - committed
        # In a thread: the agent runs on this event loop, and its next report is what we wait for.
        reported = partial(_agent_with, api, alice, credentials.agent_id, job="ops/e2e")
        agent = await asyncio.to_thread(wait_until, reported)
    assert took < NUDGE_DEADLINE_SECONDS  # the poll is an hour away: this was the nudge
    assert agent["status"] == "online" and agent["scheduler"] == "builtin"
    assert agent["applied_commit"] == created.json()["commit"]

    exit_code = await asyncio.to_thread(
        execute, home=home, ref="ops/e2e", argv=["--", "/bin/sh", "-c", "echo hello; exit 3"], guard=False
    )
    assert exit_code == 3
    [run] = wait_until(lambda: [r for r in runs_of(api, alice, "ops/e2e") if r["status"] != "running"])
    assert (run["status"], run["exit_code"], run["source"]) == ("failure", 3, credentials.agent_id)
    assert run["duration_ms"] is not None
    assert "hello" in api.get(f"/api/runs/{run['run_id']}", headers=alice.headers).json()["output"]


def _agent_with(api: httpx.Client, account: Account, agent_id: str, *, job: str) -> dict[str, Any] | None:
    shown = api.get(f"/api/agents/{agent_id}", headers=account.headers).json()
    return dict(shown) if job in shown["jobs"] else None


async def test_runs_made_while_nats_is_down_are_stored_exactly_once_after_it_returns(
    api: httpx.Client, secure_stack: Stack, secure_nats: NatsServerProcess, tmp_path: Path
) -> None:
    alice = sign_up(api, "alice")
    home = tmp_path / "agent"
    enroll_agent(api, secure_stack, alice, home)

    def run_job() -> int:
        return execute(home=home, ref="ops/offline", argv=["--", "/bin/true"], guard=False)

    secure_nats.stop()
    try:
        assert [await asyncio.to_thread(run_job) for _ in range(3)] == [0, 0, 0]
        assert Spool.for_home(home).count() == 6  # a start and a finish per run, on disk
    finally:
        secure_nats.start()
    assert await asyncio.to_thread(run_job) == 0  # drains the spool in order, then reports its own

    runs = wait_until(lambda: _all_finished(runs_of(api, alice, "ops/offline"), 4), timeout=30)
    assert len({run["run_id"] for run in runs}) == 4
    assert all(run["status"] == "success" for run in runs)
    assert Spool.for_home(home).count() == 0


async def test_a_revoked_agent_says_in_its_status_that_the_control_plane_refuses_it(
    api: httpx.Client, secure_stack: Stack, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    alice = sign_up(api, "alice")
    home = tmp_path / "agent"
    credentials = enroll_agent(api, secure_stack, alice, home)
    assert api.delete(f"/api/agents/{credentials.agent_id}", headers=alice.headers).status_code == 200

    async def launch(_launch: Launch) -> None:
        pass

    # A refusal is said as revocation once it lasts (a restarting control plane refuses a moment too).
    daemon = Daemon(home, credentials, BuiltinScheduler(home, launcher=launch), poll_interval=3600, reconnect_wait=0.2,
                    refusal_grace=1.0)  # fmt: skip
    task = asyncio.create_task(daemon.run())
    try:
        shown = await wait_until_async(_async(lambda: "has been refused" in (text := render(collect(home))) and text))
        await asyncio.sleep(1)  # a few more refused attempts: said once, not once a try
    finally:
        daemon.stop()
        await asyncio.wait_for(task, 15)
    assert (
        "nats:        not connected (Error: nats: 'Authorization Violation': this agent's login has been refused"
        in shown
    )
    assert "the agent was revoked" in shown and "crontopus-agent enroll --force" in shown
    refusals = [r for r in caplog.records if r.levelno == logging.ERROR and "refused" in r.getMessage()]
    assert len(refusals) == 1


def _all_finished(runs: list[dict[str, Any]], count: int) -> list[dict[str, Any]] | None:
    return runs if len(runs) == count and all(run["finished_at"] for run in runs) else None


@pytest.mark.slow
async def test_with_a_real_cron_a_pushed_job_is_installed_at_once_and_cron_runs_it(
    api: httpx.Client, secure_stack: Stack, cron_daemon: None, tmp_path: Path
) -> None:
    alice = sign_up(api, "alice")
    home = tmp_path / "agent"
    credentials = enroll_agent(api, secure_stack, alice, home)
    scheduler: Scheduler = CrontabBackend(home)
    async with running(Daemon(home, credentials, scheduler, heartbeat_interval=1, poll_interval=3600)):
        pushed = await asyncio.to_thread(push_job, credentials.clone_url or "", tmp_path / "work")
        await wait_until_async(
            _async(lambda: "ops/from-cron" in scheduler.installed()), timeout=NUDGE_DEADLINE_SECONDS + 0.5
        )
        took = time.monotonic() - pushed
        assert "exec --home" in crontab("-l").stdout.decode()
        runs = await wait_until_async(_async(lambda: _finished_runs(api, alice)), timeout=75, interval=1)
    assert took < NUDGE_DEADLINE_SECONDS + 0.5  # push + hook + sync + nudge + reconcile
    assert (runs[0]["status"], runs[0]["exit_code"]) == ("success", 0)
    assert runs[0]["duration_ms"] is not None and runs[0]["source"] == credentials.agent_id


def _finished_runs(api: httpx.Client, account: Account) -> list[dict[str, Any]]:
    return [run for run in runs_of(api, account, "ops/from-cron") if run["finished_at"]]


def push_job(clone_url: str, work: Path) -> float:
    """Clone the team's repository, add a job, push (the post-receive hook tells the server);
    returns when the push finished."""
    subprocess.run(["git", "clone", "-q", clone_url, str(work)], check=True)
    (work / "ops").mkdir(exist_ok=True)
    (work / "ops" / "from-cron.yaml").write_text(job_manifest("from-cron", "echo fired by cron"))
    git = ["git", "-C", str(work), "-c", "user.name=Alice", "-c", "user.email=alice@example.com"]
    subprocess.run([*git, "add", "."], check=True)
    subprocess.run([*git, "commit", "-q", "-m", "a job cron runs every minute"], check=True)
    subprocess.run([*git, "push", "-q", "origin", "HEAD"], check=True)
    return time.monotonic()
