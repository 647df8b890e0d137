"""Push to scheduler: from ``git push`` of a new job manifest to the moment the agent's scheduler
holds the job, with nudges (the normal path) and with the fallback poll alone.

The platform is the real one: ``crontopus-server run all`` as a child process on the embedded
default (a secured nats-server of its own, SQLite, the tenants' bare repositories with their
post-receive hook). A team signs up and enrolls an agent through the REST API; the agent is the
real ``Daemon`` with the built-in scheduler, in this process, connecting through the auth
callout like any agent. Each push is the ``git`` binary pushing one more job to the tenant's
clone URL (a local path), so the hook fires as it does for a user.

- nudge: hook -> ``pushed`` notice -> the gitops service syncs and publishes the
  manifests-changed event -> the agent syncs at once.
- poll: the same agent with nudges ignored (still connected and subscribed; the handler does
  nothing), so only its fallback poll (``--poll-interval``) finds the commit.

The end of a push is taken in the scheduler itself: ``reconcile`` notes the monotonic time when
it returns with the job among the ones it added, in the agent's worker thread; no polling.
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import secrets
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import nats
from nats.aio.client import Client as NatsClient
from nats.aio.msg import Msg

from crontopus_agent.daemon import Daemon
from crontopus_agent.enroll import credentials_from
from crontopus_agent.home import Credentials
from crontopus_agent.jobs import AgentJob
from crontopus_agent.schedulers.base import ReconcileReport
from crontopus_agent.schedulers.builtin import BuiltinScheduler, Launch
from crontopus_kit.nats_server import die_with_parent, free_port
from crontopus_schemas.agents import Enrollment
from crontopus_schemas.subjects import pushed_subject

NAMESPACE = "bench"
NUDGE_PAUSE = (0.2, 0.5)  # seconds between nudged pushes, so one sync's tail never overlaps the next push
GIT_IDENTITY = {"GIT_AUTHOR_NAME": "bench", "GIT_AUTHOR_EMAIL": "bench@example.com"} | {
    "GIT_COMMITTER_NAME": "bench",
    "GIT_COMMITTER_EMAIL": "bench@example.com",
}


@dataclass(frozen=True)
class Push:
    """One push; every time is in seconds after ``git push`` started."""

    mode: str  # "nudge" or "poll"
    index: int
    pause: float  # waited before this push, after the previous one was installed
    installed: float  # the job is in the agent's scheduler: the latency
    push_exited: float  # ``git push`` returned (it waits for the post-receive hook)
    notice: float | None  # the hook's ``pushed`` notice seen on NATS
    nudge: float | None  # the manifests-changed event reached the agent
    agent_sync: float  # the agent sync that installed it, start to reconcile done


# --- the agent, instrumented ------------------------------------------------------------------


async def _no_launch(_launch: Launch) -> None:
    """The benchmark's jobs fire once a year; should one be due anyway, nothing is started."""


class TimedScheduler(BuiltinScheduler):
    """The built-in scheduler, noting when each job was first installed."""

    def __init__(self, home: Path) -> None:
        super().__init__(home, launcher=_no_launch)
        self.installed_at: dict[str, float] = {}
        self._changed = asyncio.Event()
        self._owner = asyncio.get_running_loop()

    def reconcile(self, jobs: Sequence[AgentJob]) -> ReconcileReport:
        report = super().reconcile(jobs)
        now = time.monotonic()  # in the agent's worker thread, the moment the table holds the jobs
        for ref in report.added:
            self.installed_at.setdefault(ref, now)
        self._owner.call_soon_threadsafe(self._changed.set)
        return report

    async def wait_installed(self, ref: str, timeout: float) -> float:
        deadline = time.monotonic() + timeout
        while ref not in self.installed_at:
            self._changed.clear()
            if ref in self.installed_at:
                break
            await asyncio.wait_for(self._changed.wait(), max(0.0, deadline - time.monotonic()))
        return self.installed_at[ref]


class TimedDaemon(Daemon):
    """The daemon, noting when each sync starts and each nudge arrives; ``follow_nudges=False``
    ignores nudges, leaving the fallback poll as the only trigger."""

    def __init__(self, *args: Any, follow_nudges: bool, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.follow_nudges = follow_nudges
        self.sync_starts: list[float] = []
        self.nudge_times: list[float] = []  # the daemon counts them in self.nudges

    async def sync_once(self) -> None:
        self.sync_starts.append(time.monotonic())
        await super().sync_once()

    async def _on_nudge(self, msg: Any) -> None:
        self.nudge_times.append(time.monotonic())
        if self.follow_nudges:
            await super()._on_nudge(msg)


# --- the platform -----------------------------------------------------------------------------


class Platform:
    """``crontopus-server run all`` on the embedded default, in a child process."""

    def __init__(self, workdir: Path, **settings: str) -> None:
        self.data_dir = workdir / "data"
        self.log_file = workdir / "server.log"
        self.url = f"http://127.0.0.1:{free_port()}"
        self.settings = settings  # more CRONTOPUS_* variables
        self._process: subprocess.Popen[bytes] | None = None

    async def start(self, timeout: float = 60) -> None:
        self._process = self._spawn()
        await self._wait_healthy(timeout)

    def _spawn(self) -> subprocess.Popen[bytes]:
        env = {key: value for key, value in os.environ.items() if not key.startswith("CRONTOPUS_")}
        env |= {
            "CRONTOPUS_DATA_DIR": str(self.data_dir),
            "CRONTOPUS_SECRET_KEY": secrets.token_urlsafe(48),
            "CRONTOPUS_PORT": self.url.rsplit(":", 1)[1],
            "CRONTOPUS_LOCAL_AGENT": "off",
            **self.settings,
        }
        command = [sys.executable, "-m", "crontopus_server.cli", "run", "all"]
        with open(self.log_file, "ab") as log:
            return subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT, preexec_fn=die_with_parent)

    async def _wait_healthy(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        async with httpx.AsyncClient(base_url=self.url, timeout=2) as client:
            while True:
                assert self._process is not None
                if self._process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"the platform did not start; see {self.log_file}")
                try:
                    if (await client.get("/health")).status_code == 200:
                        return
                except httpx.TransportError:
                    pass
                await asyncio.sleep(0.1)

    @property
    def service_nats_url(self) -> str:
        """The services' login, which ``run all`` writes for the repositories' hooks."""
        return (self.data_dir / "nats.url").read_text().strip()

    async def stop(self) -> None:
        process, self._process = self._process, None
        if process is None or process.poll() is not None:
            return
        # SIGINT, as Ctrl-C: uvicorn re-raises the signal after its shutdown, and only SIGINT then
        # unwinds into `run all`'s own stop of the embedded nats-server (SIGTERM ends the process there).
        process.send_signal(signal.SIGINT)
        try:
            await asyncio.to_thread(process.wait, 20)
        except subprocess.TimeoutExpired:
            process.kill()
            await asyncio.to_thread(process.wait)


async def enroll_agent(platform: Platform) -> Credentials:
    """Sign up a team and enroll one agent into it, through the REST API."""
    password = "correct horse battery"
    account = {"username": "bench", "email": "bench@example.com", "password": password, "tenant": "bench-team"}
    async with httpx.AsyncClient(base_url=platform.url, timeout=30) as client:
        _expect(await client.post("/api/auth/register", json=account), 201)
        login = _expect(await client.post("/api/auth/login", data={"username": "bench", "password": password}), 200)
        headers = {"Authorization": f"Bearer {login.json()['access_token']}"}
        token = _expect(await client.post("/api/agents/enrollment-tokens", headers=headers), 201).json()["token"]
        body = {"token": token, "name": "bench-agent", "hostname": "bench", "labels": {"role": "bench"}}
        enrolled = _expect(await client.post("/api/agents/enroll", json=body), 201)
    return credentials_from(Enrollment.model_validate_json(enrolled.content))


def _expect(response: httpx.Response, status: int) -> httpx.Response:
    if response.status_code != status:
        raise RuntimeError(
            f"{response.request.method} {response.request.url.path}: {response.status_code} {response.text}"
        )
    return response


class Observer:
    """A service login that timestamps the hooks' ``pushed`` notices."""

    def __init__(self) -> None:
        self.notices: list[float] = []
        self._nc: NatsClient | None = None

    async def start(self, url: str, tenant_id: str) -> None:
        self._nc = await nats.connect(url, name="bench observer")
        await self._nc.subscribe(pushed_subject(tenant_id), cb=self._on_notice)
        await self._nc.flush()

    async def _on_notice(self, _msg: Msg) -> None:
        self.notices.append(time.monotonic())

    async def stop(self) -> None:
        if self._nc is not None:
            await self._nc.close()


# --- Git ----------------------------------------------------------------------------------------


class Clone:
    """A working clone of the tenant's repository, pushed to with the ``git`` binary."""

    def __init__(self, path: Path, branch: str) -> None:
        self.path, self.branch = path, branch
        # The user's and the system's Git configuration stay out of the measurement.
        self.env = {**os.environ, **GIT_IDENTITY, "GIT_CONFIG_GLOBAL": os.devnull, "GIT_CONFIG_NOSYSTEM": "1"}

    async def git(self, *args: str, cwd: Path | None = None) -> str:
        process = await asyncio.create_subprocess_exec(
            "git", *args, cwd=cwd or self.path, env=self.env,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        )  # fmt: skip
        out, err = await process.communicate()
        if process.returncode:
            raise RuntimeError(f"git {' '.join(args[:2])} failed: {err.decode().strip()}")
        return out.decode().strip()

    async def clone(self, url: str) -> None:
        await self.git("clone", "-q", "--branch", self.branch, url, str(self.path), cwd=self.path.parent)

    async def commit(self, message: str) -> str:
        await self.git("add", "-A")
        await self.git("commit", "-q", "--allow-empty", "-m", message)
        return await self.git("rev-parse", "HEAD")

    async def push(self) -> float:
        """Push; return the monotonic time ``git push`` exited."""
        await self.git("push", "-q", "origin", f"HEAD:{self.branch}")
        return time.monotonic()

    def add_job(self, name: str) -> str:
        path = self.path / NAMESPACE / f"{name}.yaml"
        path.parent.mkdir(exist_ok=True)
        path.write_text(_manifest(name))
        return f"{NAMESPACE}/{name}"


def _manifest(name: str) -> str:
    return (
        "apiVersion: crontopus.io/v1\nkind: Job\n"
        f"metadata:\n  name: {name}\n  namespace: {NAMESPACE}\n"
        'spec:\n  schedule: "17 4 1 1 *"\n  timezone: UTC\n  command: /bin/true\n'
    )


# --- the measurement ----------------------------------------------------------------------------


@dataclass
class Bench:
    workdir: Path
    credentials: Credentials
    clone: Clone
    observer: Observer
    head: str = ""  # the commit the agent should hold once the latest push is installed


async def set_up(workdir: Path, platform: Platform) -> Bench:
    credentials = await enroll_agent(platform)
    assert credentials.clone_url, "the enrollment named no repository"
    clone = Clone(workdir / "clone", credentials.branch)
    await clone.clone(credentials.clone_url)
    # No example jobs: the seeded ones would run (one every minute) and compete for the CPU.
    await clone.git("rm", "-q", "-r", "--ignore-unmatch", "*.yaml", "*.yml")
    head = await clone.commit("bench: start without jobs")
    await clone.push()
    observer = Observer()
    await observer.start(platform.service_nats_url, credentials.tenant_id)
    return Bench(workdir=workdir, credentials=credentials, clone=clone, observer=observer, head=head)


async def run_phase(bench: Bench, mode: str, pauses: Sequence[float], poll_interval: float) -> list[Push]:
    """Start a fresh agent, then push one job per pause and time each push to the scheduler."""
    home = bench.workdir / f"agent-{mode}"
    scheduler = TimedScheduler(home)
    daemon = TimedDaemon(home, bench.credentials, scheduler, poll_interval=poll_interval, follow_nudges=mode == "nudge")
    running = asyncio.create_task(daemon.run(), name=f"bench agent ({mode})")
    try:
        await _until(lambda: daemon.connected and daemon.applied_commit == bench.head, 60, "the agent's first sync")
        results = []
        for index, pause in enumerate(pauses):
            await asyncio.sleep(pause)
            push = await push_one(bench, daemon, scheduler, mode, index, pause, timeout=poll_interval + 30)
            print(f"  {mode:<5} push {index + 1:>2}/{len(pauses)}: {push.installed:6.2f} s", flush=True)
            results.append(push)
        return results
    finally:
        daemon.stop()
        await running


async def push_one(
    bench: Bench, daemon: TimedDaemon, scheduler: TimedScheduler, mode: str, index: int, pause: float, *, timeout: float
) -> Push:
    ref = bench.clone.add_job(f"{mode}-{index:03d}")
    bench.head = await bench.clone.commit(f"bench: add {ref}")
    started = time.monotonic()
    pushing = asyncio.create_task(bench.clone.push())
    try:
        installed = await scheduler.wait_installed(ref, timeout)  # may come before git push returns
        push_exited = await pushing
    finally:
        pushing.cancel()
    return Push(
        mode=mode, index=index, pause=pause, installed=installed - started, push_exited=push_exited - started,
        notice=_first_after(bench.observer.notices, started), nudge=_first_after(daemon.nudge_times, started),
        agent_sync=installed - max(t for t in daemon.sync_starts if t <= installed),
    )  # fmt: skip


def _first_after(times: Sequence[float], start: float) -> float | None:
    return next((t - start for t in times if t >= start), None)


async def _until(condition: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError(f"{what} did not happen within {timeout:.0f}s")
        await asyncio.sleep(0.05)


def nudge_pauses(count: int, rng: random.Random) -> list[float]:
    return [rng.uniform(*NUDGE_PAUSE) for _ in range(count)]


def poll_pauses(count: int, interval: float, rng: random.Random) -> list[float]:
    """Where each push lands in the poll cycle: uniform over the interval, stratified (one
    random point in each of ``count`` equal slices, shuffled) so a few pushes cover it evenly."""
    pauses = [(slot + rng.random()) * interval / count for slot in range(count)]
    rng.shuffle(pauses)
    return pauses


async def measure(
    workdir: Path, *, pushes: int, poll_pushes: int, poll_interval: float, seed: int = 1
) -> dict[str, list[Push]]:
    rng = random.Random(seed)
    platform = Platform(workdir)
    await platform.start()
    try:
        bench = await set_up(workdir, platform)
        try:
            nudged = await run_phase(bench, "nudge", nudge_pauses(pushes, rng), poll_interval=60.0)
            polled = await run_phase(bench, "poll", poll_pauses(poll_pushes, poll_interval, rng), poll_interval)
        finally:
            await bench.observer.stop()
    finally:
        await platform.stop()
    return {"nudge": nudged, "poll": polled}


# --- results ------------------------------------------------------------------------------------


def p90(values: Sequence[float]) -> float:
    return statistics.quantiles(values, n=10, method="inclusive")[-1] if len(values) > 1 else values[0]


def summary(results: dict[str, list[Push]], poll_interval: float) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for mode, pushes in results.items():
        latencies = [p.installed for p in pushes]
        out[mode] = {
            "pushes": len(pushes), "median": statistics.median(latencies), "p90": p90(latencies),
            "min": min(latencies), "max": max(latencies),
            "median_notice": _median(p.notice for p in pushes), "median_nudge": _median(p.nudge for p in pushes),
            "median_push_exited": _median(p.push_exited for p in pushes),
            "median_agent_sync": _median(p.agent_sync for p in pushes),
        }  # fmt: skip
    sync = out["poll"]["median_agent_sync"]
    for interval in dict.fromkeys([poll_interval, 60.0]):
        # The push lands uniformly in the poll cycle; the poll's own sync comes on top.
        out[f"expected_poll_{interval:g}s"] = {"median": interval / 2 + sync, "p90": 0.9 * interval + sync}
    out["ratio"] = out["poll"]["median"] / out["nudge"]["median"]
    out["expected_ratio_60s"] = out["expected_poll_60s"]["median"] / out["nudge"]["median"]
    return out


def _median(values: Any) -> float | None:
    present = [v for v in values if v is not None]
    return statistics.median(present) if present else None


def table(result: dict[str, Any], poll_interval: float, host: dict[str, Any]) -> str:
    nudge, poll = result["nudge"], result["poll"]
    head = (
        f"Push to scheduler: {nudge['pushes']} pushes with nudges, {poll['pushes']} poll-only "
        f"(poll interval {poll_interval:g} s)\n"
        f"machine: {host['nproc']} cores, {host['memory_gib']} GiB, Python {host['python']}, "
        f"{host['nats_server']}, {host['git']}, SQLite {host['sqlite']}\n\n"
    )
    rows = [("path", "pushes", "median s", "p90 s", "min s", "max s", "vs nudge")]
    for label, entry in ((f"nudge (agent poll {60:g} s)", nudge), (f"poll only, every {poll_interval:g} s", poll)):
        rows.append((
            label, str(entry["pushes"]), f"{entry['median']:.2f}", f"{entry['p90']:.2f}", f"{entry['min']:.2f}",
            f"{entry['max']:.2f}", f"{entry['median'] / nudge['median']:.1f}x",
        ))  # fmt: skip
    for interval in dict.fromkeys([poll_interval, 60.0]):
        expected = result[f"expected_poll_{interval:g}s"]
        rows.append((
            f"poll only, every {interval:g} s (expected)", "-", f"{expected['median']:.2f}",
            f"{expected['p90']:.2f}", "-", "-", f"{expected['median'] / nudge['median']:.1f}x",
        ))  # fmt: skip
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = [" | ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)) for row in rows]
    lines.insert(1, "-+-".join("-" * width for width in widths))
    return head + "\n".join(lines) + "\n\n" + _breakdown(nudge, poll)


def _breakdown(nudge: dict[str, Any], poll: dict[str, Any]) -> str:
    def cell(value: float | None) -> str:
        return "-" if value is None else f"{value:.3f}"

    lines = ["median seconds after `git push` started   nudge   poll"]
    for label, key in (
        ("hook's `pushed` notice on NATS         ", "median_notice"),
        ("manifests-changed event at the agent   ", "median_nudge"),
        ("`git push` exited (waits for the hook) ", "median_push_exited"),
        ("job in the scheduler                   ", "median"),
        ("the agent's sync that installed it     ", "median_agent_sync"),
    ):
        lines.append(f"  {label} {cell(nudge[key]):>6}  {cell(poll[key]):>6}")
    return "\n".join(lines)


async def git_version() -> str:
    process = await asyncio.create_subprocess_exec("git", "--version", stdout=asyncio.subprocess.PIPE)
    out, _ = await process.communicate()
    return out.decode().strip()


def write_json(directory: Path, **record: Any) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    moment = datetime.now(UTC)
    path = directory / f"agent-sync-{moment:%Y%m%dT%H%M%SZ}.json"
    record["pushes"] = {mode: [asdict(push) for push in pushes] for mode, pushes in record["pushes"].items()}
    path.write_text(json.dumps({"date": moment.isoformat(), **record}, indent=2, default=str))
    return path


async def main(*, pushes: int, poll_pushes: int, poll_interval: float, results_dir: Path | None) -> int:
    from bench import report  # the ingest benchmark's machine description

    with tempfile.TemporaryDirectory(prefix="crontopus-bench-agent-sync-") as tmp:
        results = await measure(Path(tmp), pushes=pushes, poll_pushes=poll_pushes, poll_interval=poll_interval)
    host = await report.machine(None) | {"git": await git_version()}
    result = summary(results, poll_interval)
    print()
    print(table(result, poll_interval, host))
    if results_dir is not None:
        path = write_json(results_dir, poll_interval=poll_interval, machine=host, summary=result, pushes=results)
        print(f"\nJSON: {path}")
    return 0
