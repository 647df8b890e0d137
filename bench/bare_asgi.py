"""The baseline of the HTTP benchmarks: the simplest app answering the same URLs, on the same
uvicorn with the same options as `crontopus-server`. It checks nothing: no sign-in, no limits.

- the ping URLs and `POST /api/checkins` (HTTP ingress) store nothing and answer "OK";
- `GET /api/runs?tenant=...` (history), when `BARE_DATABASE_URL` and `BARE_SCHEMA` name a runs
  table, answers a page of it with one asyncpg query: newest first, by job or status, after a
  cursor.

`python -m bench.bare_asgi PORT`
"""

from __future__ import annotations

import os
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import asyncpg
import uvicorn
from fastapi import FastAPI, Request
from fastapi.responses import PlainTextResponse

from crontopus_server.serving import UVICORN_OPTIONS

COLUMNS = (
    "id, run_id, job, status, started_at, finished_at, reported_duration_ms, exit_code, source, manifest_commit, "
    "output_size"
)


@asynccontextmanager
async def database(app: FastAPI) -> AsyncIterator[None]:
    url = os.environ.get("BARE_DATABASE_URL")
    app.state.pool = url and await asyncpg.create_pool(url, server_settings={"search_path": os.environ["BARE_SCHEMA"]})
    yield
    if app.state.pool:
        await app.state.pool.close()


app = FastAPI(lifespan=database)


@app.api_route("/ping/{key}", methods=["GET", "POST", "HEAD"], response_class=PlainTextResponse)
@app.api_route("/ping/{key}/{kind}", methods=["GET", "POST", "HEAD"], response_class=PlainTextResponse)
async def ping() -> str:
    return "OK"


@app.post("/api/checkins", response_class=PlainTextResponse, status_code=202)
async def checkin() -> str:
    return "OK"


@app.get("/api/runs")
async def runs(
    request: Request,
    tenant: str,
    job: str | None = None,
    status: str | None = None,
    cursor: str | None = None,
    limit: int = 50,
) -> dict[str, Any]:
    filters = {"job = ": job, "status = ": status, "id < ": int(cursor[1:]) if cursor else None}
    conditions, values = ["tenant_id = $1"], [tenant]
    for condition, value in filters.items():
        if value is not None:
            values.append(value)
            conditions.append(f"{condition}${len(values)}")
    values.append(limit + 1)
    sql = f"SELECT {COLUMNS} FROM runs WHERE {' AND '.join(conditions)} ORDER BY id DESC LIMIT ${len(values)}"
    rows = [dict(row) for row in await request.app.state.pool.fetch(sql, *values)]
    more = len(rows) > limit
    return {"runs": rows[:limit], "next_cursor": f"r{rows[limit - 1]['id']}" if more else None}


if __name__ == "__main__":
    uvicorn.run(app, host="127.0.0.1", port=int(sys.argv[1]), **UVICORN_OPTIONS)
