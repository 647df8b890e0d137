"""An idle agent's footprint: resident memory and CPU per hour with 100 jobs installed, against a
bare Python process that imports nothing, measured over the same window.

The platform is `crontopus-server run all` on the embedded default. A team pushes 100 jobs whose
schedules do not fire within the window (so the agent only heartbeats, polls and waits), enrolls
an agent with `crontopus-agent enroll`, and starts it as a user would: `crontopus-agent run
--scheduler builtin` (the built-in scheduler keeps the 100 jobs in the agent's own process; the
crontab one would leave them to cron and cost the agent less). Once the agent reports the 100
jobs installed, its resident set (VmRSS) and CPU time (utime + stime, with that of its ended
children such as its fetch processes: cutime + cstime, from /proc) are read at
the start and the end of the window, and the same for `python3 -c "import time; time.sleep(...)"`
started at the same moment. CPU per hour is the window's CPU time scaled to an hour.

The goal: at most 50 MB resident.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path

import httpx

from bench.agent_sync import NAMESPACE, Clone, Platform, _expect, _manifest
from bench.console import sign_up, until
from crontopus_kit.nats_server import die_with_parent

JOBS = 100
GOAL_MB = 50.0
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


@dataclass
class Footprint:
    rss_mb: float
    cpu_seconds_per_hour: float


async def main(*, window: float, results_dir: Path | None) -> int:
    with tempfile.TemporaryDirectory(prefix="crontopus-bench-footprint-") as tmp:
        workdir = Path(tmp)
        platform = Platform(workdir)
        await platform.start()
        agent: subprocess.Popen[bytes] | None = None
        try:
            headers, token = await _team_with_jobs(platform, workdir)
            agent = await _start_agent(platform.url, token, workdir)
            await until(lambda: _installed(platform.url, headers), JOBS, "the agent installed the jobs", timeout=120)
            print(f"  agent running with {JOBS} jobs installed; measuring {window:.0f} s", flush=True)
            measured, bare = await _measure(agent, window)
        finally:
            if agent is not None:
                agent.terminate()
                await asyncio.to_thread(agent.wait)
            await platform.stop()
    print()
    print("| process | resident memory | CPU per hour |")
    print("|---|---|---|")
    print(f"| bare `python3` (imports nothing) | {bare.rss_mb:.1f} MB | {bare.cpu_seconds_per_hour:.2f} s |")
    print(
        f"| agent, {JOBS} jobs, built-in scheduler | {measured.rss_mb:.1f} MB | {measured.cpu_seconds_per_hour:.2f} s |"
    )
    print(f"\nagent / bare resident memory: {measured.rss_mb / bare.rss_mb:.1f}x; goal <= {GOAL_MB:.0f} MB")
    if results_dir is not None:
        print(f"\nJSON: {_write(results_dir, window, measured, bare)}")
    return 0 if measured.rss_mb <= GOAL_MB else 1


def _write(results_dir: Path, window: float, agent: Footprint, bare: Footprint) -> Path:
    results_dir.mkdir(exist_ok=True)
    path = results_dir / f"agent-footprint-{datetime.now(UTC):%Y%m%dT%H%M%SZ}.json"
    path.write_text(json.dumps({"window": window, "agent": asdict(agent), "bare": asdict(bare)}, indent=2) + "\n")
    return path


async def _team_with_jobs(platform: Platform, workdir: Path) -> tuple[dict[str, str], str]:
    """Sign up, push JOBS jobs, and make an enrollment token; the user's headers and the token."""
    async with httpx.AsyncClient(base_url=platform.url, timeout=30) as client:
        headers = await sign_up(client)
        repository = _expect(await client.get("/api/gitops/repository", headers=headers), 200).json()
        clone = Clone(workdir / "clone", repository["branch"])
        await clone.clone(repository["clone_url"])
        await clone.git("rm", "-q", "-r", "--ignore-unmatch", "*.yaml", "*.yml")  # the seeded examples
        (clone.path / NAMESPACE).mkdir(exist_ok=True)
        for i in range(JOBS):
            (clone.path / NAMESPACE / f"job-{i:03d}.yaml").write_text(_manifest(f"job-{i:03d}"))  # yearly: idle
        await clone.commit(f"{JOBS} jobs")
        await clone.push()
        token = _expect(await client.post("/api/agents/enrollment-tokens", headers=headers), 201).json()["token"]
    return headers, token


async def _start_agent(url: str, token: str, workdir: Path) -> subprocess.Popen[bytes]:
    agent = [sys.executable, "-m", "crontopus_agent"]
    home = ["--home", str(workdir / "agent")]
    enroll = await asyncio.create_subprocess_exec(
        *agent, "enroll", "--server", url, "--token", token, "--name", "bench", *home,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
    )  # fmt: skip
    out, _ = await enroll.communicate()
    if enroll.returncode:
        raise RuntimeError(f"crontopus-agent enroll failed: {out.decode()}")
    return _spawn([*agent, "run", "--scheduler", "builtin", *home], workdir / "agent.log")


def _spawn(command: list[str], log_file: Path) -> subprocess.Popen[bytes]:
    with open(log_file, "ab") as log:
        return subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, preexec_fn=die_with_parent)


async def _installed(url: str, headers: dict[str, str]) -> int:
    async with httpx.AsyncClient(base_url=url, timeout=10) as client:
        agents = (await client.get("/api/agents", headers=headers)).json()["agents"]
    return max((len(agent["jobs"]) for agent in agents), default=0)


async def _measure(agent: subprocess.Popen[bytes], window: float) -> tuple[Footprint, Footprint]:
    bare = _spawn([sys.executable, "-I", "-S", "-c", f"import time; time.sleep({window + 5})"], Path(os.devnull))
    try:
        await asyncio.sleep(1)  # the bare interpreter is up
        start = {process.pid: _cpu_seconds(process.pid) for process in (agent, bare)}
        began = time.monotonic()
        await asyncio.sleep(window)
        elapsed = time.monotonic() - began
        return tuple(  # type: ignore[return-value]
            Footprint(_rss_mb(process.pid), (_cpu_seconds(process.pid) - start[process.pid]) * 3600 / elapsed)
            for process in (agent, bare)
        )
    finally:
        bare.kill()
        bare.wait()


def _cpu_seconds(pid: int) -> float:
    """The process's CPU time and that of its children that ended (the agent's fetch processes)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return sum(int(field) for field in fields[11:15]) / CLOCK_TICKS  # utime, stime, cutime, cstime


def _rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"no VmRSS for {pid}")
