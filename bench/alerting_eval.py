"""Missed-run evaluator: cost per tick and per simulated hour with the due-time index, against a
naive evaluator that scans every monitor each tick, at 10,000 and 100,000 jobs.

The store is the alerting service's own (``crontopus_alerting.monitors``) on a fresh database
(SQLite file, or a throwaway PostgreSQL schema dropped afterwards), migrated as the service
migrates it. One simulated hour, a tick every 5 s of simulated time (720 ticks):

1. the check-in path: the run events whose time fell since the last tick (starts, and finishes
   with their start merged, as the runs service publishes them), one ``record_runs`` call per
   tenant, as one RunsRecorded batch is handled;
2. every ``naive_every``-th tick, the naive evaluator: load every monitor, keep the due ones
   (read only; its due set must equal the index's);
3. the tick: ``sweep_missed`` + ``sweep_unfinished`` (index range scans, one conditional UPDATE
   per due row), committed. Timed.

Workload (fixed seed): realistic schedules (every minute, */5-*/15 with offsets, hourly at a random
minute, daily and weekly at random times, a few monthly) in six zones; grace 5m (most), 1m or
15m; half the jobs with a timeout. Every job starts on time (0.05-3 s after its slot) except:
``miss_rate`` of slots are skipped, ``outage_rate`` of jobs stop at a random moment of the hour,
``hang_rate`` of jobs start once and never finish (and, concurrency forbid, never start again).
Correctness is checked on the way: no missed-run report for a slot that ran, no unfinished report
for a run that finished, and the index's due set equal to the naive scan's.
"""

from __future__ import annotations

import json
import math
import random
import statistics
import tempfile
import time
import uuid
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import text
from sqlmodel import select

from crontopus_alerting import monitors
from crontopus_alerting.due import RunSeen, next_expected_start
from crontopus_alerting.models import JobMonitor
from crontopus_alerting.monitors import MonitoredJob
from crontopus_kit.db import Database
from crontopus_kit.testing import drop_schemas
from crontopus_schemas.alerting import AlertRules
from crontopus_schemas.manifest import Monitor

DEFAULT_POSTGRES = "postgresql+asyncpg://postgres@127.0.0.1:5432/postgres"
MIGRATIONS = Path(monitors.__file__).parent / "migrations"
T0 = datetime(2026, 11, 30, 8, 0, tzinfo=UTC)  # a Monday morning in Europe, the evening in Sydney
TICK = 5.0
TENANTS = 20
ZONES = [("UTC", 40), ("Europe/Berlin", 15), ("America/New_York", 15), ("Asia/Tokyo", 10)]
ZONES += [("Asia/Kolkata", 10), ("Australia/Sydney", 10)]
GRACES = [(None, 60), ("1m", 25), ("15m", 15)]  # None: the team default (5m)


# --- workload -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class BenchJob:
    tenant: str
    ref: str
    schedule: str
    timezone: str
    grace: str | None
    timeout_seconds: int | None

    def monitored(self) -> MonitoredJob:
        monitor = Monitor(grace=self.grace)
        return MonitoredJob(
            ref=self.ref, schedule=self.schedule, timezone=self.timezone, monitor=monitor,
            timeout_seconds=self.timeout_seconds,
        )  # fmt: skip


@dataclass
class Workload:
    jobs: list[BenchJob]
    events: dict[int, list[tuple[str, RunSeen]]]  # tick index -> (tenant, run) processed before it
    ran: set[tuple[str, str, datetime]]  # (tenant, job, slot) that started
    hung: set[tuple[str, str]]  # (tenant, run id) that never finish
    slots: int = 0
    runs: int = 0


def _schedule(rng: random.Random) -> str:
    m, h = rng.randrange(60), rng.randrange(24)
    kind = rng.choices(["minute", "fivish", "hourly", "daily", "weekly", "monthly"], [2, 10, 38, 38, 10, 2])[0]
    if kind == "minute":
        return "* * * * *"
    if kind == "fivish":
        step = rng.choice([5, 5, 5, 10, 15])
        return f"*/{step} * * * *" if rng.random() < 0.6 else f"{rng.randrange(step)}-59/{step} * * * *"
    if kind == "hourly":
        return f"{m} * * * *"
    if kind == "daily":
        return f"{m} {h} * * *"
    if kind == "weekly":
        return f"{m} {h} * * {rng.randrange(7)}"
    return f"{m} {h} {rng.randrange(1, 29)} * *"


def _weighted(rng: random.Random, choices: Sequence[tuple[Any, int]]) -> Any:
    return rng.choices([c for c, _ in choices], [w for _, w in choices])[0]


def _fires(schedule: str, timezone: str, end: datetime, cache: dict[tuple[str, str], list[datetime]]) -> list[datetime]:
    key = (schedule, timezone)
    if key not in cache:
        fires, at = [], next_expected_start(schedule, timezone, T0)
        while at is not None and at <= end:
            fires.append(at)
            at = next_expected_start(schedule, timezone, at)
        cache[key] = fires
    return cache[key]


def build_workload(
    size: int, *, seed: int, hours: float, miss_rate: float, outage_rate: float, hang_rate: float
) -> Workload:
    rng = random.Random(seed)
    end = T0 + timedelta(hours=hours)
    tenants = [uuid.UUID(int=rng.getrandbits(128)).hex for _ in range(TENANTS)]
    load = Workload(jobs=[], events=defaultdict(list), ran=set(), hung=set())
    cache: dict[tuple[str, str], list[datetime]] = {}
    for index in range(size):
        timeout = rng.choice([300, 600, 1800, 3600]) if rng.random() < 0.5 else None
        job = BenchJob(
            tenants[index % TENANTS], f"bench/job-{index}", _schedule(rng), _weighted(rng, ZONES),
            _weighted(rng, GRACES), timeout,
        )  # fmt: skip
        load.jobs.append(job)
        stops = T0 + timedelta(seconds=rng.uniform(0, hours * 3600)) if rng.random() < outage_rate else end
        hangs = rng.random() < hang_rate
        for slot in _fires(job.schedule, job.timezone, end, cache):
            load.slots += 1
            if slot >= stops or rng.random() < miss_rate:
                continue
            _add_run(load, rng, job, slot, hang=hangs, end=end)
            if hangs:
                break  # concurrency forbid: it never starts again while that run hangs
    return load


def _add_run(load: Workload, rng: random.Random, job: BenchJob, slot: datetime, *, hang: bool, end: datetime) -> None:
    run_id = uuid.UUID(int=rng.getrandbits(128)).hex
    started = slot + timedelta(seconds=rng.uniform(0.05, 3.0))
    load.ran.add((job.tenant, job.ref, slot))
    load.runs += 1
    _add_event(load, job.tenant, RunSeen(job.ref, run_id, started, None), started, end)
    if hang:
        load.hung.add((job.tenant, run_id))
        return
    duration = min(rng.lognormvariate(math.log(8), 1.2), (job.timeout_seconds or 1800) - 1)
    finished = started + timedelta(seconds=duration)
    _add_event(load, job.tenant, RunSeen(job.ref, run_id, started, finished), finished, end)


def _add_event(load: Workload, tenant: str, run: RunSeen, moment: datetime, end: datetime) -> None:
    if moment <= end:
        load.events[math.ceil((moment - T0).total_seconds() / TICK)].append((tenant, run))


# --- one simulated hour ----------------------------------------------------------------------------


@dataclass
class Tick:
    index: int
    due: int  # rows due (missed + unfinished) = rows the due queries returned
    claimed: int  # rows the claims updated
    seconds: float  # the tick: both sweeps and the commit
    naive_seconds: float | None = None  # the full scan and filter (sampled ticks)
    naive_tuples: dict[str, int] | None = None  # PostgreSQL's own counts for the naive scan
    db_tuples: dict[str, int] | None = None  # PostgreSQL's own counts for the tick


@dataclass
class Result:
    backend: str
    jobs: int
    sync_seconds: float
    checkin_seconds: float = 0.0
    checkin_runs: int = 0
    checkin_rows_changed: int = 0
    ticks: list[Tick] = field(default_factory=list)
    missed_reported: int = 0
    unfinished_reported: int = 0
    false_missed: int = 0
    false_unfinished: int = 0
    naive_mismatches: int = 0

    def summary(self, hours: float) -> dict[str, Any]:
        busy = [t for t in self.ticks if t.due]
        idle = [t.seconds for t in self.ticks if not t.due]
        naive = [t.naive_seconds for t in self.ticks if t.naive_seconds is not None]
        due = sum(t.due for t in self.ticks)
        index_hour = sum(t.seconds for t in self.ticks) / hours
        claims = sum(t.seconds for t in busy) / hours  # a naive evaluator claims the same rows
        naive_hour = statistics.mean(naive) * len(self.ticks) / hours + claims if naive else None
        tuples = [t.db_tuples for t in self.ticks if t.db_tuples is not None and t.due]
        return {
            "backend": self.backend,
            "jobs": self.jobs,
            "ticks": len(self.ticks),
            "ticks_with_due_jobs": len(busy),
            "jobs_due": due,
            "jobs_due_per_hour": due / hours,
            "rows_touched": sum(t.due for t in self.ticks),  # distinct rows read or written
            "row_operations": sum(t.due + t.claimed for t in self.ticks),  # reads + writes
            "rows_touched_per_job_due": sum(t.due for t in self.ticks) / due if due else None,
            "row_operations_per_job_due": sum(t.due + t.claimed for t in self.ticks) / due if due else None,
            "db_tuples_per_job_due": _per_due(tuples, [t for t in self.ticks if t.db_tuples is not None and t.due]),
            "index_ms_per_tick_mean": 1000 * statistics.mean(t.seconds for t in self.ticks),
            "index_ms_per_tick_p95": 1000 * _quantile([t.seconds for t in self.ticks], 0.95),
            "index_ms_per_busy_tick_mean": 1000 * statistics.mean(t.seconds for t in busy) if busy else None,
            "index_ms_per_idle_tick_median": 1000 * statistics.median(idle) if idle else None,
            "index_seconds_per_hour": index_hour,
            "naive_ms_per_tick_mean": 1000 * statistics.mean(naive) if naive else None,
            "naive_seconds_per_hour": naive_hour,
            "naive_db_tuples_per_tick": _mean_counts([t.naive_tuples for t in self.ticks if t.naive_tuples]),
            "naive_over_index": naive_hour / index_hour if naive_hour else None,
            "naive_samples": len(naive),
            "sync_seconds": self.sync_seconds,
            "checkin_seconds_per_hour": self.checkin_seconds / hours,
            "checkin_runs": self.checkin_runs,
            "checkin_rows_changed": self.checkin_rows_changed,
            "missed_reported": self.missed_reported,
            "unfinished_reported": self.unfinished_reported,
            "false_missed": self.false_missed,
            "false_unfinished": self.false_unfinished,
            "naive_mismatches": self.naive_mismatches,
        }


def _per_due(tuples: list[dict[str, int]], ticks: list[Tick]) -> dict[str, float] | None:
    due = sum(t.due for t in ticks)
    if not tuples or not due:
        return None
    return {key: sum(t[key] for t in tuples) / due for key in tuples[0]}


def _mean_counts(counts: list[dict[str, int]]) -> dict[str, float] | None:
    return {key: statistics.mean(c[key] for c in counts) for key in counts[0]} if counts else None


def _quantile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def run_one(
    backend: str, load: Workload, *, hours: float, naive_every: int, postgres_url: str, workdir: Path
) -> Result:
    prefix = f"bench{uuid.uuid4().hex[:8]}_"
    url = postgres_url if backend == "postgresql" else f"sqlite+aiosqlite:///{workdir / 'alerting.db'}"
    db = Database(url, schema=f"{prefix}alerting")
    try:
        await db.migrate(script_location=MIGRATIONS, version_table="alembic_version_alerting")
        result = Result(backend, len(load.jobs), await _sync(db, load))
        for index in range(1, int(hours * 3600 / TICK) + 1):
            await _checkins(db, load, index, result)
            result.ticks.append(await _tick(db, load, index, result, naive=index % naive_every == 0))
        return result
    finally:
        await db.dispose()
        if backend == "postgresql":
            await drop_schemas(postgres_url, prefix)


async def _sync(db: Database, load: Workload) -> float:
    by_tenant: dict[str, list[MonitoredJob]] = defaultdict(list)
    for job in load.jobs:
        by_tenant[job.tenant].append(job.monitored())
    started = time.perf_counter()
    for tenant, jobs in by_tenant.items():
        async with db.session() as session:
            await monitors.sync_monitors(session=session, tenant_id=tenant, jobs=jobs, rules=AlertRules(), now=T0)
    seconds = time.perf_counter() - started
    if db.is_postgres:
        async with db.engine.begin() as conn:
            await conn.execute(text("ANALYZE job_monitors"))
    return seconds


async def _checkins(db: Database, load: Workload, index: int, result: Result) -> None:
    by_tenant: dict[str, list[RunSeen]] = defaultdict(list)
    for tenant, run in load.events.get(index, []):
        by_tenant[tenant].append(run)
    started = time.perf_counter()
    for tenant, runs in by_tenant.items():
        async with db.session() as session:
            result.checkin_rows_changed += await monitors.record_runs(session=session, tenant_id=tenant, runs=runs)
        result.checkin_runs += len(runs)
    result.checkin_seconds += time.perf_counter() - started


async def _tick(db: Database, load: Workload, index: int, result: Result, *, naive: bool) -> Tick:
    now = T0 + timedelta(seconds=index * TICK)
    naive_due, naive_seconds, naive_tuples = await _naive_scan(db, now) if naive else (None, None, None)
    async with db.session() as session:
        before = await _tuples(session) if db.is_postgres else None
        started = time.perf_counter()
        missed = await monitors.sweep_missed(session=session, now=now, limit=1_000_000)
        unfinished = await monitors.sweep_unfinished(session=session, now=now, limit=1_000_000)
        paused = time.perf_counter()
        tuples = _minus(await _tuples(session), before) if before is not None else None
        resumed = time.perf_counter()
        await session.commit()
        seconds = time.perf_counter() - started - (resumed - paused)
    _check(load, result, missed, unfinished)
    due_ids = {c.monitor.id for c in missed.reported} | {-(c.monitor.id or 0) for c in unfinished.reported}
    if naive_due is not None and naive_due != due_ids:
        result.naive_mismatches += 1
    return Tick(
        index, missed.rows_read + unfinished.rows_read, missed.rows_claimed + unfinished.rows_claimed, seconds,
        naive_seconds, naive_tuples, tuples,
    )  # fmt: skip


async def _naive_scan(db: Database, now: datetime) -> tuple[set[int], float, dict[str, int] | None]:
    """The baseline: every monitor loaded, each one checked."""
    async with db.session() as session:
        before = await _tuples(session) if db.is_postgres else None
        started = time.perf_counter()
        rows = (await session.execute(select(JobMonitor), execution_options={"populate_existing": True})).scalars()
        due = set()
        for row in rows:
            if row.alert_at is not None and monitors._utc(row.alert_at) <= now:
                due.add(row.id or 0)
            if row.finish_alert_at is not None and monitors._utc(row.finish_alert_at) <= now:
                due.add(-(row.id or 0))
        seconds = time.perf_counter() - started
        tuples = _minus(await _tuples(session), before) if before is not None else None
        return due, seconds, tuples


async def _tuples(session: Any) -> dict[str, int]:
    """What PostgreSQL itself counted for job_monitors so far (its pending per-backend counts:
    only a difference inside one transaction is meaningful)."""
    stmt = text(
        "SELECT seq_tup_read, idx_tup_fetch, n_tup_upd FROM pg_stat_xact_user_tables"
        " WHERE relname = 'job_monitors' AND schemaname = current_schema()"
    )
    row = (await session.execute(stmt)).one()
    return {"seq_tup_read": row[0] or 0, "idx_tup_fetch": row[1] or 0, "n_tup_upd": row[2] or 0}


def _minus(after: dict[str, int], before: dict[str, int]) -> dict[str, int]:
    return {key: after[key] - before[key] for key in after}


def _check(load: Workload, result: Result, missed: monitors.Sweep, unfinished: monitors.Sweep) -> None:
    for claim in missed.reported:
        result.missed_reported += 1
        if (claim.monitor.tenant_id, claim.monitor.job, claim.expected_at) in load.ran:
            result.false_missed += 1
    for claim in unfinished.reported:
        result.unfinished_reported += 1
        if (claim.monitor.tenant_id, claim.run_id) not in load.hung:
            result.false_unfinished += 1


# --- report ---------------------------------------------------------------------------------------


def table(summaries: list[dict[str, Any]]) -> str:
    head = (
        "| backend | jobs | jobs due / sim. hour | rows touched / job due | PostgreSQL: rows fetched, scanned, updated "
        "/ job due | index ms/tick mean (p95) | idle tick ms "
        "| index s / sim. hour | naive ms/tick | naive s / sim. hour | naive / index | check-in path s / sim. hour |"
    )
    lines = [head, "|" + "---|" * head.count(" | ") + "---|"]
    for s in summaries:
        lines.append(
            f"| {s['backend']} | {s['jobs']:,} | {s['jobs_due_per_hour']:,.0f} "
            f"| {_fmt(s['rows_touched_per_job_due'], 2)} "
            f"| {_db_tuples(s['db_tuples_per_job_due'])} "
            f"| {s['index_ms_per_tick_mean']:.2f} ({s['index_ms_per_tick_p95']:.2f}) "
            f"| {_fmt(s['index_ms_per_idle_tick_median'], 2)} | {s['index_seconds_per_hour']:.2f} "
            f"| {_fmt(s['naive_ms_per_tick_mean'], 0)} | {_fmt(s['naive_seconds_per_hour'], 0)} "
            f"| {_fmt(s['naive_over_index'], 0)}x | {s['checkin_seconds_per_hour']:.1f} |"
        )
    return "\n".join(lines)


def ratios(summaries: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """100k over 10k (the largest over the smallest size), per backend."""
    out = []
    for backend in dict.fromkeys(s["backend"] for s in summaries):
        runs = sorted((s for s in summaries if s["backend"] == backend), key=lambda s: s["jobs"])
        if len(runs) < 2:
            continue
        small, large = runs[0], runs[-1]
        out.append({
            "backend": backend, "jobs": f"{large['jobs']:,}/{small['jobs']:,}",
            "jobs_due": large["jobs_due"] / max(small["jobs_due"], 1),
            "index_per_hour": large["index_seconds_per_hour"] / small["index_seconds_per_hour"],
            "index_idle_tick": _ratio(large["index_ms_per_idle_tick_median"], small["index_ms_per_idle_tick_median"]),
            "naive_per_hour": _ratio(large["naive_seconds_per_hour"], small["naive_seconds_per_hour"]),
            "checkin_per_hour": large["checkin_seconds_per_hour"] / small["checkin_seconds_per_hour"],
        })  # fmt: skip
    return out


def ratio_table(rows: list[dict[str, Any]]) -> str:
    lines = [
        "| backend | jobs | jobs due | index s / sim. hour | index idle tick | naive s / sim. hour | check-in path |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r['backend']} | {r['jobs']} | {r['jobs_due']:.1f}x | {r['index_per_hour']:.1f}x "
            f"| {_fmt(r['index_idle_tick'], 1)}x | {_fmt(r['naive_per_hour'], 1)}x | {r['checkin_per_hour']:.1f}x |"
        )
    return "\n".join(lines)


def _db_tuples(counts: dict[str, float] | None) -> str:
    if not counts:
        return "-"
    return f"{counts['idx_tup_fetch']:.2f}, {counts['seq_tup_read']:.2f}, {counts['n_tup_upd']:.2f}"


def _ratio(a: float | None, b: float | None) -> float | None:
    return a / b if a is not None and b else None


def _fmt(value: float | None, digits: int) -> str:
    return "-" if value is None else f"{value:,.{digits}f}"


def _progress(s: dict[str, Any]) -> str:
    return (
        f"  {s['backend']:<10} {s['jobs']:>7,} jobs: {s['jobs_due']:,} due, "
        f"index {s['index_seconds_per_hour']:.2f} s/h, "
        f"naive {_fmt(s['naive_seconds_per_hour'], 1)} s/h, check-in path {s['checkin_seconds_per_hour']:.1f} s/h, "
        f"sync {s['sync_seconds']:.1f} s"
    )


def write_json(directory: Path, record: dict[str, Any]) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"alerting-eval-{datetime.now(UTC):%Y%m%dT%H%M%SZ}.json"
    path.write_text(json.dumps(record, indent=2, default=str))
    return path


async def main(
    *,
    sizes: Sequence[int] = (10_000, 100_000),
    backends: Sequence[str] = ("postgresql", "sqlite"),
    postgres_url: str = DEFAULT_POSTGRES,
    results_dir: Path | None = None,
    hours: float = 1.0,
    naive_every: int = 30,
    miss_rate: float = 0.01,
    outage_rate: float = 0.02,
    hang_rate: float = 0.005,
    seed: int = 7,
) -> int:
    """Run every size on every backend; print the tables; 1 if a correctness check failed."""
    summaries = []
    with tempfile.TemporaryDirectory(prefix="crontopus-bench-alerting-") as tmp:
        for size in sizes:
            started = time.perf_counter()
            load = build_workload(
                size, seed=seed, hours=hours, miss_rate=miss_rate, outage_rate=outage_rate, hang_rate=hang_rate
            )
            print(f"  workload {size:,} jobs: {load.slots:,} slots, {load.runs:,} runs "
                  f"({time.perf_counter() - started:.1f} s to build)", flush=True)  # fmt: skip
            for backend in backends:
                workdir = Path(tempfile.mkdtemp(prefix=f"{backend}-{size}-", dir=tmp))
                result = await run_one(
                    backend, load, hours=hours, naive_every=naive_every, postgres_url=postgres_url, workdir=workdir
                )
                summary = result.summary(hours)
                summaries.append(summary)
                print(_progress(summary), flush=True)
    print()
    print(table(summaries))
    print()
    print(ratio_table(ratios(summaries)))
    failed = any(s["false_missed"] or s["false_unfinished"] or s["naive_mismatches"] for s in summaries)
    if failed:
        print("\nFAILED: a false report or a due set differing from the naive scan (see the JSON)")
    if results_dir is not None:
        record = {"sizes": list(sizes), "hours": hours, "miss_rate": miss_rate, "outage_rate": outage_rate}
        record |= {"hang_rate": hang_rate, "seed": seed, "summaries": summaries, "ratios": ratios(summaries)}
        print(f"\nJSON: {write_json(results_dir, record)}")
    return 1 if failed else 0
