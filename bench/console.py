"""The console's dashboard, ready in Chromium with 1,000 jobs and 100,000 runs, against the time of
its own API calls alone.

The platform is `crontopus-server run all` on the embedded default serving the built console
(`make web`). A team pushes 1,000 job manifests to its repository with the ``git`` binary and
reports 100,000 finished runs of them over the last 30 days through `POST /api/checkins`.

- page: Debian's Chromium (Playwright) navigates to `/` with the session cookie, as a reload
  does, until the dashboard is ready: its cards, both charts, the next runs and the recent runs
  drawn, nothing loading. Measured by the page's own clock from the start of the navigation.
- api: the same API requests the page made (recorded from the browser; the event stream aside),
  sent by httpx from this process: the cookie's refresh first, as the page must, then the rest
  all at once. No JavaScript, no parsing, no drawing: the floor under any page.
- fetch (a reference, not the goal's baseline): the same requests sent by `fetch()` from a blank
  page in the same Chromium, refresh first. Between it and `api` is what the browser itself
  costs on this machine (its processes share the two cores with the server); between it and
  `page` is what the console adds (its boot, the cross-tab refresh lock, React, the charts).

The three alternate, so a noisy machine's drift touches all; medians are reported, and the page's
overhead as (page - api) / api. The goal is at most 0.5.
"""

from __future__ import annotations

import asyncio
import json
import random
import statistics
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx

from bench.agent_sync import Clone, Platform, _expect

ROOT = Path(__file__).resolve().parents[1]
WEB_DIST = ROOT / "web" / "dist"
CHROMIUM_PATHS = ("/usr/lib/chromium/chromium", "/usr/bin/chromium")
PASSWORD = "correct horse battery"
NAMESPACES = [f"team-{i:02d}" for i in range(10)]
SCHEDULES = ["*/5 * * * *", "17 * * * *", "0 3 * * *", "30 7 * * 1-5", "0 0 1 * *", "*/15 9-17 * * *"]
GOAL = 0.5
# Ready: the page's cards, charts and lists are drawn and nothing is loading; the answer is the
# page's clock at that frame (not when the benchmark hears of it). Checked every frame, so it reads
# textContent (innerText would lay the page out each time, slowing what it measures).
READY = """() => {
    const main = document.querySelector('main');
    if (!main || document.querySelector('[aria-busy="true"]') || main.textContent.includes('Loading')) return false;
    const recent = document.querySelector('[aria-labelledby="recent-heading"] tbody tr');
    const upcoming = document.querySelector('[aria-labelledby="upcoming-heading"] li');
    return recent && upcoming && main.querySelectorAll('canvas').length >= 2 && performance.now();
}"""


@dataclass
class Team:
    api_key: str
    jobs: list[str]


@dataclass
class Timings:
    page_ms: list[float] = field(default_factory=list)
    api_ms: list[float] = field(default_factory=list)
    fetch_ms: list[float] = field(default_factory=list)
    first_page_ms: float = 0.0
    requests: list[str] = field(default_factory=list)


async def main(*, jobs: int, runs: int, repeat: int, results_dir: Path | None) -> int:
    chromium = _chromium()
    if chromium is None:
        print("console: needs Debian's chromium and the built console (make web); skipped", file=sys.stderr)
        return 0
    with tempfile.TemporaryDirectory(prefix="crontopus-bench-console-") as tmp:
        platform = Platform(Path(tmp), **NO_RATE_LIMITS, CRONTOPUS_WEB_DIR=str(WEB_DIST))
        await platform.start()
        try:
            started = time.monotonic()
            await fill(platform, Path(tmp), jobs, runs)
            print(f"  filled: {jobs:,} jobs and {runs:,} runs in {time.monotonic() - started:.0f} s", flush=True)
            timings = await measure(platform.url, chromium, repeat)
        finally:
            await platform.stop()
    result = summary(timings, jobs, runs, repeat)
    print(table(result))
    if results_dir is not None:
        print(f"\nJSON: {_write(results_dir, result)}")
    return 0 if result["overhead"] <= GOAL else 1


def _chromium() -> str | None:
    """Debian's Chromium, when the console is built too."""
    if not (WEB_DIST / "index.html").exists():
        return None
    return next((path for path in CHROMIUM_PATHS if Path(path).exists()), None)


def _write(results_dir: Path, result: dict[str, Any]) -> Path:
    results_dir.mkdir(exist_ok=True)
    path = results_dir / f"console-{datetime.now(UTC):%Y%m%dT%H%M%SZ}.json"
    path.write_text(json.dumps(result, indent=2) + "\n")
    return path


# The benchmark sends 100,000 check-ins from one address with one key: far above the defaults.
NO_RATE_LIMITS = {f"CRONTOPUS_GATEWAY_RATE_LIMIT_{kind}": "0" for kind in ("ADDRESS", "CREDENTIAL", "PING_URL")}


# --- the data -----------------------------------------------------------------------------------


async def fill(platform: Platform, workdir: Path, jobs: int, runs: int) -> None:
    async with httpx.AsyncClient(base_url=platform.url, timeout=60) as client:
        headers = await sign_up(client)
        key = await write_key(client, headers)
        repository = _expect(await client.get("/api/gitops/repository", headers=headers), 200).json()
        names = await push_jobs(repository["clone_url"], repository["branch"], workdir / "clone", jobs)
        await until(lambda: job_count(client, headers), jobs, "the jobs synced")
        await report_runs(client, Team(key, names), runs)
        await until(lambda: run_count(client, headers), runs, "the runs stored")


async def sign_up(client: httpx.AsyncClient) -> dict[str, str]:
    """The bench team's owner signs up, then in; the headers that carry their access token."""
    account = {"username": "bench", "email": "bench@example.com", "password": PASSWORD, "tenant": "bench-team"}
    _expect(await client.post("/api/auth/register", json=account), 201)
    login = _expect(await client.post("/api/auth/login", data={"username": "bench", "password": PASSWORD}), 200)
    return {"Authorization": f"Bearer {login.json()['access_token']}"}


async def write_key(client: httpx.AsyncClient, headers: dict[str, str]) -> str:
    created = await client.post("/api/api-keys", json={"name": "bench", "scope": "write"}, headers=headers)
    return str(_expect(created, 201).json()["key"])


async def push_jobs(clone_url: str, branch: str, path: Path, count: int) -> list[str]:
    clone = Clone(path, branch)
    await clone.clone(clone_url)
    await clone.git("rm", "-q", "-r", "--ignore-unmatch", "*.yaml", "*.yml")  # the seeded examples
    names = []
    for i in range(count):
        namespace, name = NAMESPACES[i % len(NAMESPACES)], f"job-{i:04d}"
        folder = clone.path / namespace
        folder.mkdir(exist_ok=True)
        (folder / f"{name}.yaml").write_text(
            "apiVersion: crontopus.io/v1\nkind: Job\n"
            f"metadata:\n  name: {name}\n  namespace: {namespace}\n  labels: {{tier: t{i % 3}}}\n"
            f'spec:\n  schedule: "{SCHEDULES[i % len(SCHEDULES)]}"\n  timezone: UTC\n  command: /bin/true\n'
        )
        names.append(f"{namespace}/{name}")
    await clone.commit(f"{count} jobs")
    await clone.push()
    return names


async def report_runs(client: httpx.AsyncClient, team: Team, count: int, concurrency: int = 32) -> None:
    """``count`` finished runs over the last 30 days: 93 % success, 5 % failure, 2 % timeout."""
    rng = random.Random(7)
    now = datetime.now(UTC)
    queue: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
    for _ in range(count):
        status = rng.choices(["success", "failure", "timeout"], weights=[93, 5, 2])[0]
        queue.put_nowait({
            "job": rng.choice(team.jobs), "run_id": uuid.uuid4().hex, "status": status,
            "exit_code": {"success": 0, "failure": 1, "timeout": -9}[status],
            "timestamp": (now - timedelta(seconds=rng.uniform(60, 29.5 * 86_400))).isoformat(),
            "duration_ms": int(rng.lognormvariate(8, 1.2)),
        })  # fmt: skip
    headers = {"Authorization": f"Bearer {team.api_key}"}

    async def sender() -> None:
        while not queue.empty():
            body = queue.get_nowait()
            _expect(await client.post("/api/checkins", json=body, headers=headers), 202)

    await asyncio.gather(*(sender() for _ in range(concurrency)))


async def job_count(client: httpx.AsyncClient, headers: dict[str, str]) -> int:
    return len((await client.get("/api/jobs", headers=headers)).json()["jobs"])


async def run_count(client: httpx.AsyncClient, headers: dict[str, str]) -> int:
    stats = await client.get("/api/runs/stats", params={"bucket": "day"}, headers=headers)
    return int(_expect(stats, 200).json()["totals"]["runs"])


async def until(count: Any, expected: int, what: str, timeout: float = 600) -> None:
    deadline = time.monotonic() + timeout
    while (seen := await count()) < expected:
        if time.monotonic() > deadline:
            raise RuntimeError(f"{what}: {seen} of {expected} after {timeout:.0f} s")
        await asyncio.sleep(0.5)


# --- the measurement ----------------------------------------------------------------------------


async def measure(url: str, chromium: str, repeat: int) -> Timings:
    from playwright.async_api import async_playwright

    timings = Timings()
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=chromium)
        page = await (await browser.new_context(base_url=url, viewport={"width": 1280, "height": 900})).new_page()
        await sign_in(page)
        requests: list[str] = []
        page.on("request", lambda r: "/api/" in r.url and "/api/events" not in r.url and requests.append(r.url))
        timings.first_page_ms = await load_dashboard(page)
        timings.requests = [r.removeprefix(url) for r in requests]
        async with httpx.AsyncClient(base_url=url, timeout=60, headers={"X-Crontopus-Client": "console"}) as client:
            form = {"username": "bench", "password": PASSWORD}
            _expect(await client.post("/api/auth/login", data=form), 200)  # its own cookie: each works once
            blank = await page.context.new_page()
            await blank.goto("/health")  # any document of the origin: the cookie is sent
            for _ in range(repeat):
                await page.bring_to_front()  # a page in the background draws no frames
                timings.page_ms.append(await load_dashboard(page))
                timings.api_ms.append(await the_pages_requests(client, timings.requests))
                await blank.bring_to_front()
                timings.fetch_ms.append(await blank.evaluate(FETCH_IN_BROWSER, timings.requests))
        await browser.close()
    return timings


async def sign_in(page: Any) -> None:
    await page.goto("/login")
    await page.get_by_label("Username").fill("bench")
    await page.get_by_label("Password").fill(PASSWORD)
    await page.get_by_role("button", name="Sign in").click()
    await page.get_by_role("heading", name="Dashboard").wait_for()


async def load_dashboard(page: Any) -> float:
    """A reload of `/`, until ready: milliseconds from the start of the navigation."""
    await page.goto("/", wait_until="commit")
    ready = await page.wait_for_function(READY, timeout=60_000, polling="raf")
    return float(await ready.json_value())


async def the_pages_requests(client: httpx.AsyncClient, requests: list[str]) -> float:
    """The refresh, then every other request of the page at once; milliseconds."""
    started = time.perf_counter()
    refreshed = _expect(await client.post("/api/auth/refresh"), 200).json()
    headers = {"Authorization": f"Bearer {refreshed['access_token']}"}
    others = [path for path in requests if not path.startswith("/api/auth/refresh")]
    answers = await asyncio.gather(*(client.get(path, headers=headers) for path in others))
    for answer in answers:
        _expect(answer, 200)
    return (time.perf_counter() - started) * 1000


# The page's requests by fetch() alone, as the_pages_requests sends them; milliseconds.
FETCH_IN_BROWSER = """async (paths) => {
    const started = performance.now();
    const refresh = await fetch('/api/auth/refresh', {method: 'POST', headers: {'X-Crontopus-Client': 'console'}});
    const headers = {Authorization: 'Bearer ' + (await refresh.json()).access_token};
    const others = paths.filter((path) => !path.startsWith('/api/auth/refresh'));
    await Promise.all(others.map(async (path) => {
        const answer = await fetch(path, {headers});
        if (answer.status !== 200) throw new Error(path + ': ' + answer.status);
        await answer.json();
    }));
    return performance.now() - started;
}"""


# --- the report ---------------------------------------------------------------------------------


def summary(timings: Timings, jobs: int, runs: int, repeat: int) -> dict[str, Any]:
    page, api = statistics.median(timings.page_ms), statistics.median(timings.api_ms)
    fetch = statistics.median(timings.fetch_ms)
    return {
        "jobs": jobs, "runs": runs, "repeat": repeat,
        "page_ms": round(page, 1), "api_ms": round(api, 1), "overhead": round((page - api) / api, 2),
        "fetch_ms": round(fetch, 1), "page_over_fetch": round((page - fetch) / fetch, 2),
        "first_page_ms": round(timings.first_page_ms, 1), "requests": timings.requests,
        "samples": {"page_ms": timings.page_ms, "api_ms": timings.api_ms, "fetch_ms": timings.fetch_ms},
    }  # fmt: skip


def table(result: dict[str, Any]) -> str:
    verdict = "meets" if result["overhead"] <= GOAL else "misses"
    return "\n".join([
        f"dashboard with {result['jobs']:,} jobs and {result['runs']:,} runs, medians of {result['repeat']}",
        f"  page ready in Chromium (reload, warm cache)   {result['page_ms']:>8.0f} ms",
        f"  its {len(result['requests'])} API requests alone (httpx)        {result['api_ms']:>8.0f} ms",
        f"  page overhead (page - api) / api              {result['overhead']:>8.2f}  ({verdict} the goal <= {GOAL})",
        f"  the same requests by fetch() in Chromium       {result['fetch_ms']:>8.0f} ms",
        f"  page overhead on it (page - fetch) / fetch    {result['page_over_fetch']:>8.2f}",
        f"  first load (cold cache)                       {result['first_page_ms']:>8.0f} ms",
    ])  # fmt: skip
