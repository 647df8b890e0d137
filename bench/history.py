"""Run history at 10 million runs in PostgreSQL: `GET /api/runs` (the first page and one 10,000
pages deep, filtered by job and by status) and the dashboard's statistics (`GET /api/runs/stats`,
30 days by day and 24 hours by hour) of a busy team, each against the raw SQL the runs service
sends for it and, for the pages, against the simplest web app answering the same URL (a bare
FastAPI app on the same uvicorn making the same query with asyncpg: `bench/bare_asgi.py`), timed on
the same database in the same run.

The fixture: the production topology (`bench/production.py`) on a schema set kept between runs
(`crontopus_bench_history_*`), a team signed up through the API, and 10 million runs over 90 days
loaded by COPY into the runs table (secondary indexes dropped during the load and rebuilt after,
then ANALYZE). The runs are in time order, their ids ascending as ingest assigns them, and
interleave 1,000 teams:

- the busy team: 30 % of the runs (3 million, 1 million of them in the last 30 days) over 200
  jobs, a quarter of them from one heartbeat job (750,000 runs);
- 999 other teams with 20 jobs each (~7,000 runs a team);
- 95 % success, 3.5 % failure, 1 % timeout, 0.5 % still running; log-normal durations (median
  ~3 s); a fifth of the runs with a line of output.

Loading takes minutes; a later run reuses the fixture when its version and size match
(`--history-fresh` loads it again). Each case is timed ``repeat`` times after a warm-up, the API
(a kept-alive connection, one request at a time, `bench/lean_http.py`: httpx would add ~2 ms of
its own to each), the bare app (the same) and the raw SQL (asyncpg, a prepared statement on a
connection of its own) alternating; p50 and p95 are reported, and each raw query's plan (EXPLAIN
ANALYZE, BUFFERS).

The statistics' raw SQL is the query that reads them from the runs; the API answers a team's
closed quarter-hours from rollups (`crontopus_runs/quarters.py`), so the first request, which
builds them, is timed on its own first (the team's rollups dropped before it).

Goals (issue 14): a deep page's p95 at most 1.5x the first page's; the API's p95 at most 3x the
raw SQL's; the dashboard's statistics of the busy team over 30 days at most 100 ms p95.
"""

from __future__ import annotations

import json
import random
import secrets
import statistics
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg
import httpx
from sqlalchemy.dialects.postgresql import asyncpg as postgresql_asyncpg

from bench.agent_sync import _expect
from bench.console import NO_RATE_LIMITS
from bench.http_ingress import BareApp
from bench.lean_http import LeanClient, LeanResponse
from bench.production import Production
from crontopus_kit.testing import drop_schemas
from crontopus_runs.service import OLDER, encode_cursor, list_statement
from crontopus_runs.stats import plan, stats_query
from crontopus_schemas.runs import RunListRequest, RunStatsRequest

PREFIX = "crontopus_bench_history_"
FIXTURE_SCHEMA = f"{PREFIX}fixture"
RUNS_SCHEMA = f"{PREFIX}runs"
VERSION = 1  # of the fixture's shape: a change here loads it again
USERNAME, PASSWORD = "history", "correct horse battery"
TEAMS, BUSY_SHARE, BUSY_JOBS, OTHER_JOBS = 1_000, 0.30, 200, 20
HOT_JOB = "busy/heartbeat"
SPAN = timedelta(days=90)
PAGE_SIZE, DEEP_PAGE = 50, 10_000
GOAL_DEEP, GOAL_API, GOAL_STATS_MS = 1.5, 3.0, 100.0
STATUSES = ["success", "failure", "timeout", "running"]
STATUS_WEIGHTS = [95, 3.5, 1, 0.5]
COLUMNS = (
    "id", "tenant_id", "run_id", "job", "status", "started_at", "finished_at", "reported_duration_ms", "exit_code",
    "output", "output_size", "source", "manifest_commit", "closed_by", "created_at", "updated_at",
)  # fmt: skip


@dataclass
class Fixture:
    version: int
    runs: int
    tenant_id: str
    secret: str  # the bench platform's CRONTOPUS_SECRET_KEY (tokens, keyed hashes), nothing real
    loaded_at: datetime


@dataclass
class Case:
    name: str
    kind: str  # "list" or "stats"
    params: dict[str, str]
    sql: str = ""
    args: list[Any] = field(default_factory=list)
    api_ms: list[float] = field(default_factory=list)
    bare_ms: list[float] = field(default_factory=list)
    sql_ms: list[float] = field(default_factory=list)
    plan: str = ""
    deep_of: str = ""  # a deep page: the name of the first page's case

    @property
    def api_p95(self) -> float:
        return _p95(self.api_ms)

    @property
    def sql_p95(self) -> float:
        return _p95(self.sql_ms)


async def main(*, runs: int, repeat: int, fresh: bool, postgres_url: str, results_dir: Path | None) -> int:
    url = postgres_url.replace("postgresql+asyncpg://", "postgresql://")
    fixture = None if fresh else await _read_fixture(url)
    if fixture is not None and (fixture.version, fixture.runs) != (VERSION, runs):
        fixture = None
    if fixture is None:
        await drop_schemas(url, PREFIX)
    with tempfile.TemporaryDirectory(prefix="crontopus-bench-history-") as tmp:
        secret = fixture.secret if fixture else secrets.token_urlsafe(48)
        platform = Production(Path(tmp), postgres_url, prefix=PREFIX, secret=secret, keep=True, **NO_RATE_LIMITS)
        bare = BareApp(Path(tmp) / "bare.log", BARE_DATABASE_URL=url, BARE_SCHEMA=RUNS_SCHEMA)
        try:
            await platform.start()
            await bare.start()
            async with httpx.AsyncClient(base_url=platform.url, timeout=60) as client:
                if fixture is None:
                    headers = await _sign_up(client)
                    fixture = await _load(url, client, headers, runs, secret)
                else:
                    headers = await _sign_in(client)
            clients = Clients(LeanClient(platform.url), headers, LeanClient(bare.url), fixture.tenant_id)
            try:
                cases = await _cases(url, fixture)
                first_stats_ms = await _time_first_statistics(url, clients, cases)
                await _measure(url, clients, cases, repeat)
            finally:
                await clients.api.aclose()
                await clients.bare.aclose()
        finally:
            await bare.stop()
            await platform.stop()
    result = _summary(fixture, cases, repeat) | {"first_stats_ms": first_stats_ms}
    print()
    print(table(result))
    for case in cases:
        print(f"\n{case.name}: {case.sql}\n{case.plan}")
    if results_dir is not None:
        print(f"\nJSON: {_write(results_dir, result)}")
    return 0 if result["goals_met"] else 1


# --- the fixture ---------------------------------------------------------------------------------


async def _read_fixture(url: str) -> Fixture | None:
    conn = await asyncpg.connect(url)
    try:
        row = await conn.fetchrow(f'SELECT * FROM "{FIXTURE_SCHEMA}".fixture LIMIT 1')
    except asyncpg.UndefinedTableError:
        return None
    finally:
        await conn.close()
    return Fixture(**dict(row)) if row else None


async def _sign_up(client: httpx.AsyncClient) -> dict[str, str]:
    account = {"username": USERNAME, "email": "history@example.com", "password": PASSWORD, "tenant": "busy"}
    _expect(await client.post("/api/auth/register", json=account), 201)
    return await _sign_in(client)


async def _sign_in(client: httpx.AsyncClient) -> dict[str, str]:
    login = _expect(await client.post("/api/auth/login", data={"username": USERNAME, "password": PASSWORD}), 200)
    return {"Authorization": f"Bearer {login.json()['access_token']}"}


async def _load(url: str, client: httpx.AsyncClient, headers: dict[str, str], runs: int, secret: str) -> Fixture:
    tenant_id = _expect(await client.get("/api/auth/me", headers=headers), 200).json()["tenant_id"]
    fixture = Fixture(VERSION, runs, tenant_id, secret, datetime.now(UTC).replace(microsecond=0))
    conn = await asyncpg.connect(url, server_settings={"search_path": RUNS_SCHEMA})
    try:
        started = time.monotonic()
        print(f"history: loading {runs:,} runs by COPY (once; kept in {PREFIX}*) ...", flush=True)
        await conn.execute("SET maintenance_work_mem = '512MB'")
        rebuild = await _drop_secondary_indexes(conn)
        chunk: list[tuple[Any, ...]] = []
        for row in _rows(fixture):
            chunk.append(row)
            if len(chunk) == 100_000:
                await conn.copy_records_to_table("runs", records=chunk, columns=COLUMNS)
                chunk = []
        if chunk:
            await conn.copy_records_to_table("runs", records=chunk, columns=COLUMNS)
        print(f"history: copied in {time.monotonic() - started:.0f} s; rebuilding the indexes", flush=True)
        for statement in rebuild:
            await conn.execute(statement)
        await conn.execute("SELECT setval(pg_get_serial_sequence('runs', 'id'), $1)", runs)
        await conn.execute("ANALYZE runs")
        await _write_fixture(conn, fixture)
        print(f"history: fixture ready in {time.monotonic() - started:.0f} s", flush=True)
    finally:
        await conn.close()
    return fixture


async def _drop_secondary_indexes(conn: asyncpg.Connection) -> list[str]:
    """Drop every index but the primary key's (a COPY into a bare heap is many times faster);
    the statements that build them again, exactly as the migrations made them."""
    constraints = await conn.fetch(
        "SELECT conname, pg_get_constraintdef(oid) AS def FROM pg_constraint "
        "WHERE conrelid = 'runs'::regclass AND contype = 'u'"
    )
    indexes = await conn.fetch(
        "SELECT indexname, indexdef FROM pg_indexes WHERE schemaname = $1 AND tablename = 'runs' "
        "AND indexname NOT IN (SELECT conname FROM pg_constraint WHERE conrelid = 'runs'::regclass)",
        RUNS_SCHEMA,
    )
    for row in constraints:
        await conn.execute(f'ALTER TABLE runs DROP CONSTRAINT "{row["conname"]}"')
    for row in indexes:
        await conn.execute(f'DROP INDEX "{row["indexname"]}"')
    return [f'ALTER TABLE runs ADD CONSTRAINT "{row["conname"]}" {row["def"]}' for row in constraints] + [
        row["indexdef"] for row in indexes
    ]


async def _write_fixture(conn: asyncpg.Connection, fixture: Fixture) -> None:
    await conn.execute(f'CREATE SCHEMA IF NOT EXISTS "{FIXTURE_SCHEMA}"')
    await conn.execute(
        f'CREATE TABLE "{FIXTURE_SCHEMA}".fixture (version int, runs bigint, tenant_id text, secret text, '
        "loaded_at timestamptz)"
    )
    await conn.execute(f'INSERT INTO "{FIXTURE_SCHEMA}".fixture VALUES ($1, $2, $3, $4, $5)', *asdict(fixture).values())


def _rows(fixture: Fixture) -> Iterator[tuple[Any, ...]]:
    """The runs in time order (ids ascending, as ingest numbers them), seeded: the same every load."""
    rng = random.Random(14)
    others = [f"{rng.getrandbits(128):032x}" for _ in range(TEAMS - 1)]
    busy_jobs = [f"ns-{k % 10}/job-{k:03d}" for k in range(BUSY_JOBS - 1)]
    other_jobs = [f"default/job-{k:02d}" for k in range(OTHER_JOBS)]
    begin, step = fixture.loaded_at - SPAN, SPAN / fixture.runs
    commit = "4f1c0ffee4f1c0ffee4f1c0ffee4f1c0ffee4f1c"
    for n in range(1, fixture.runs + 1):
        if rng.random() < BUSY_SHARE:
            tenant, job = fixture.tenant_id, HOT_JOB if rng.random() < 0.25 else rng.choice(busy_jobs)
        else:
            tenant, job = rng.choice(others), rng.choice(other_jobs)
        status = rng.choices(STATUSES, STATUS_WEIGHTS)[0]
        started = begin + step * n
        duration = int(rng.lognormvariate(8, 1.2))  # ms; median e^8 ~ 3 s
        finished = None if status == "running" else started + timedelta(milliseconds=duration)
        output = f"{job}: processed {duration} items\n" if rng.random() < 0.2 else None
        yield (
            n, tenant, f"{rng.getrandbits(128):032x}", job, status, started, finished,
            None if finished is None else duration, {"success": 0, "failure": 1, "timeout": -9}.get(status),
            output, None if output is None else len(output), "ping" if n % 3 else "api", commit, None,
            finished or started, finished or started,
        )  # fmt: skip


# --- the cases -----------------------------------------------------------------------------------


async def _cases(url: str, fixture: Fixture) -> list[Case]:
    until = fixture.loaded_at
    cases = []
    for label, extra in [("", {}), ("job", {"job": HOT_JOB}), ("status", {"status": "success"})]:
        page, deep = await _deep_cursor(url, fixture.tenant_id, extra)
        suffix = f", {label}" if label else ""
        first = Case(f"page 1{suffix}", "list", dict(extra))
        cases += [first, Case(f"page {page:,}{suffix}", "list", extra | {"cursor": deep}, deep_of=first.name)]
    cases.append(Case("page 1, status failure", "list", {"status": "failure"}))
    for name, bucket, window in [("stats 30 days by day", "day", timedelta(days=30)),
                                 ("stats 24 h by hour", "hour", timedelta(hours=24))]:  # fmt: skip
        params = {"bucket": bucket, "since": (until - window).isoformat(), "until": until.isoformat()}
        cases.append(Case(name, "stats", params))
    for case in cases:
        case.sql, case.args = _raw_sql(case, fixture.tenant_id)
    return cases


async def _deep_cursor(url: str, tenant_id: str, extra: dict[str, str]) -> tuple[int, str]:
    """Page DEEP_PAGE (or the last full page, in a smaller fixture) and its cursor: the id of the
    last run on the page before it."""
    conn = await asyncpg.connect(url, server_settings={"search_path": RUNS_SCHEMA})
    column, value = next(iter(extra.items())) if extra else ("tenant_id", tenant_id)
    where = f"tenant_id = $1 AND {column} = $2"
    try:
        count = await conn.fetchval(f"SELECT count(*) FROM runs WHERE {where}", tenant_id, value)
        page = min(DEEP_PAGE, count // PAGE_SIZE)
        row_id = await conn.fetchval(
            f"SELECT id FROM runs WHERE {where} ORDER BY id DESC OFFSET $3 LIMIT 1",
            tenant_id, value, (page - 1) * PAGE_SIZE - 1,
        )  # fmt: skip
    finally:
        await conn.close()
    return page, encode_cursor(row_id, OLDER)


def _raw_sql(case: Case, tenant_id: str) -> tuple[str, list[Any]]:
    """The statement the runs service sends for the case, compiled as it compiles it."""
    if case.kind == "list":
        cursor = case.params.get("cursor")
        query = RunListRequest(tenant_id=tenant_id, limit=PAGE_SIZE, **case.params)
        statement, values = list_statement(query, OLDER, int(cursor[1:]) if cursor else None)
    else:
        request = RunStatsRequest(tenant_id=tenant_id, **case.params)  # type: ignore[arg-type]
        statement, values = stats_query(request, plan(request), postgres=True), {}
    compiled = statement.compile(dialect=postgresql_asyncpg.dialect(), compile_kwargs={"render_postcompile": True})
    params = compiled.construct_params(values)
    return str(compiled), [params[name] for name in compiled.positiontup or []]


# --- timing --------------------------------------------------------------------------------------


@dataclass
class Clients:
    api: LeanClient
    headers: dict[str, str]  # the busy team's access token
    bare: LeanClient
    tenant_id: str


async def _measure(url: str, clients: Clients, cases: list[Case], repeat: int) -> None:
    conn = await asyncpg.connect(url, server_settings={"search_path": RUNS_SCHEMA})
    try:
        statements = [await conn.prepare(case.sql) for case in cases]
        for rep in range(repeat + 3):  # three rounds of warm-up
            for case, statement in zip(cases, statements, strict=True):
                api_ms = await _time_api(clients, case)
                bare_ms = await _time_bare(clients, case) if case.kind == "list" else None
                sql_ms = await _time_sql(statement, case)
                if rep >= 3:
                    case.api_ms.append(api_ms)
                    case.sql_ms.append(sql_ms)
                    if bare_ms is not None:
                        case.bare_ms.append(bare_ms)
        for case in cases:
            rows = await conn.fetch(f"EXPLAIN (ANALYZE, BUFFERS) {case.sql}", *case.args)
            case.plan = "\n".join(row[0] for row in rows)
    finally:
        await conn.close()


async def _time_first_statistics(url: str, clients: Clients, cases: list[Case]) -> float:
    """The 30 days' statistics with no rollup yet (the team's are dropped first): this request
    builds the 2,880 quarter-hours from the runs, as the first one after an upgrade does."""
    conn = await asyncpg.connect(url, server_settings={"search_path": RUNS_SCHEMA})
    try:
        await conn.execute("DELETE FROM run_quarters")
        await conn.execute("DELETE FROM run_quarter_marks")
    finally:
        await conn.close()
    return await _time_api(clients, next(case for case in cases if case.name == "stats 30 days by day"))


async def _time_api(clients: Clients, case: Case) -> float:
    path = "/api/runs" if case.kind == "list" else "/api/runs/stats"
    params = case.params | ({"limit": str(PAGE_SIZE)} if case.kind == "list" else {})
    started = time.perf_counter()
    response = await clients.api.get(path, params=params, headers=clients.headers)
    elapsed = (time.perf_counter() - started) * 1000
    body = _ok(response, case).json()
    if case.kind == "list":
        assert len(body["runs"]) == PAGE_SIZE, f"{case.name}: {len(body['runs'])} runs"
    else:
        assert body["totals"]["runs"] > 0, f"{case.name}: no runs counted"
    return elapsed


async def _time_bare(clients: Clients, case: Case) -> float:
    params = case.params | {"limit": str(PAGE_SIZE), "tenant": clients.tenant_id}
    started = time.perf_counter()
    response = await clients.bare.get("/api/runs", params=params)
    elapsed = (time.perf_counter() - started) * 1000
    assert len(_ok(response, case).json()["runs"]) == PAGE_SIZE, f"{case.name}: the bare app's page"
    return elapsed


def _ok(response: LeanResponse, case: Case) -> LeanResponse:
    if response.status_code != 200:
        raise RuntimeError(f"{case.name}: {response.status_code} {response.body[:500]!r}")
    return response


async def _time_sql(statement: Any, case: Case) -> float:
    started = time.perf_counter()
    rows = await statement.fetch(*case.args)
    elapsed = (time.perf_counter() - started) * 1000
    assert rows, f"{case.name}: the raw query found nothing"
    return elapsed


def _p95(samples: list[float]) -> float:
    return statistics.quantiles(samples, n=20, method="inclusive")[-1] if len(samples) > 1 else samples[0]


# --- the report ----------------------------------------------------------------------------------


def _summary(fixture: Fixture, cases: list[Case], repeat: int) -> dict[str, Any]:
    by_name = {case.name: case for case in cases}
    deep = {case.name: case.api_p95 / by_name[case.deep_of].api_p95 for case in cases if case.deep_of}
    api_vs_sql = {case.name: case.api_p95 / case.sql_p95 for case in cases}
    stats_ms = by_name["stats 30 days by day"].api_p95
    return {
        "runs": fixture.runs, "loaded_at": fixture.loaded_at.isoformat(), "repeat": repeat,
        "cases": [
            {"name": c.name, "params": c.params, "api_ms": c.api_ms, "bare_ms": c.bare_ms, "sql_ms": c.sql_ms,
             "plan": c.plan, "api_p50": statistics.median(c.api_ms), "api_p95": c.api_p95,
             "bare_p95": _p95(c.bare_ms) if c.bare_ms else None,
             "sql_p50": statistics.median(c.sql_ms), "sql_p95": c.sql_p95}
            for c in cases
        ],
        "deep_vs_first": deep, "api_vs_sql": api_vs_sql, "stats_30_days_p95_ms": stats_ms,
        "goals_met": all(r <= GOAL_DEEP for r in deep.values()) and all(r <= GOAL_API for r in api_vs_sql.values())
        and stats_ms <= GOAL_STATS_MS,
    }  # fmt: skip


def table(result: dict[str, Any]) -> str:
    lines = [
        f"{result['runs']:,} runs; the busy team's; {result['repeat']} requests a case after a warm-up",
        "",
        "| case | API p50 | API p95 | bare app p95 | raw SQL p50 | raw SQL p95 | API / SQL (p95) | API / bare (p95) |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for c in result["cases"]:
        bare = f"{c['bare_p95']:.1f} ms" if c["bare_p95"] else "-"
        vs_bare = f"{c['api_p95'] / c['bare_p95']:.1f}x" if c["bare_p95"] else "-"
        lines.append(
            f"| {c['name']} | {c['api_p50']:.1f} ms | {c['api_p95']:.1f} ms | {bare} | {c['sql_p50']:.2f} ms | "
            f"{c['sql_p95']:.2f} ms | {c['api_p95'] / c['sql_p95']:.1f}x | {vs_bare} |"
        )
    lines.append("")
    for name, ratio in result["deep_vs_first"].items():
        lines.append(f"{name} vs its page 1 (API p95): {ratio:.2f}x (goal <= {GOAL_DEEP}x)")
    lines.append(f"statistics, 30 days by day (API p95): {result['stats_30_days_p95_ms']:.0f} ms (goal <= 100 ms)")
    lines.append(
        f"statistics, 30 days by day, the first request (builds the rollups): {result['first_stats_ms']:.0f} ms"
    )
    lines.append("(the raw SQL of the statistics reads the runs, as the API does for what no rollup holds)")
    return "\n".join(lines)


def _write(results_dir: Path, result: dict[str, Any]) -> Path:
    results_dir.mkdir(exist_ok=True)
    path = results_dir / f"history-{datetime.now(UTC):%Y%m%dT%H%M%SZ}.json"
    path.write_text(json.dumps(result, indent=2) + "\n")
    return path


if __name__ == "__main__":
    print("run it as: python -m bench --only history", file=sys.stderr)
