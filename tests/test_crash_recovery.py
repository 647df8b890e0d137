"""Kill the runs service with SIGKILL in the middle of 10,000 runs (20,000 check-ins) and
start it again: every run is stored exactly once, with its start and finish merged."""

import asyncio
import os
import signal
import subprocess
import sys
import uuid
from datetime import UTC, datetime, timedelta

import httpx
import nats
import pytest
from faststream.nats import NatsBroker
from sqlalchemy import func, select

from crontopus_kit.nats_server import free_port
from crontopus_runs.models import Run
from crontopus_runs.settings import RunsSettings
from crontopus_runs.unit import RunsUnit
from crontopus_schemas import subjects
from crontopus_schemas.events import CheckInEvent
from crontopus_server.testing import wait_until_async

RUNS = 10_000
TENANT = uuid.uuid4().hex

pytestmark = pytest.mark.slow


def start_runs_service(env: dict[str, str], log_path, port: int) -> subprocess.Popen:
    log = open(log_path, "ab")  # noqa: SIM115
    command = [sys.executable, "-m", "crontopus_server.cli", "run", "runs", "--port", str(port)]
    return subprocess.Popen(command, env=env, stdout=log, stderr=log)


def service_env(settings: RunsSettings, nats_url: str) -> dict[str, str]:
    env = {**os.environ, "CRONTOPUS_NATS_URL": nats_url, "CRONTOPUS_DATA_DIR": str(settings.data_dir),
           "CRONTOPUS_SECRET_KEY": settings.secret_key.get_secret_value(), "CRONTOPUS_RUNS_ACK_WAIT": "2",
           "CRONTOPUS_RUNS_BATCH_SIZE": "200", "CRONTOPUS_LOG_FORMAT": "json"}  # fmt: skip
    if settings.database_url:
        env["CRONTOPUS_DATABASE_URL"] = settings.database_url
        env["CRONTOPUS_DATABASE_SCHEMA_PREFIX"] = settings.database_schema_prefix
    return env


async def publish_all(nats_url: str) -> None:
    nc = await nats.connect(nats_url)
    js = nc.jetstream()
    t0 = datetime(2026, 11, 27, tzinfo=UTC)
    futures = []
    for i in range(RUNS):
        run_id = f"run-{i:05}"
        for status, at in (("running", t0), ("success", t0 + timedelta(seconds=i % 60 + 1))):
            checkin = CheckInEvent(job=f"production/job-{i % 50}", run_id=run_id, status=status, timestamp=at,
                                   exit_code=0 if status == "success" else None)  # fmt: skip
            futures.append(
                await js.publish_async(
                    subjects.checkin_subject(TENANT, "api"),
                    checkin.model_dump_json().encode(),
                    headers={"Nats-Msg-Id": subjects.checkin_msg_id(TENANT, "api", run_id, status)},
                )
            )
    await asyncio.gather(*futures)
    await nc.close()


async def counts(unit: RunsUnit) -> tuple[int, int]:
    # One statement, so both numbers come from the same snapshot while the service keeps committing.
    query = select(func.count(), func.count().filter(Run.status == "success")).select_from(Run)
    async with unit.db.session() as session:
        total, done = (await session.execute(query)).one()
    return total, done


async def test_killing_the_runs_service_mid_stream_loses_and_duplicates_nothing(
    nats_server, settings_factory, tmp_path
):
    settings = settings_factory(RunsSettings)
    env = service_env(settings, nats_server.url)
    port = free_port()
    first = start_runs_service(env, tmp_path / "runs-1.log", port)
    observer = RunsUnit(settings, broker=NatsBroker())  # reads the database only
    try:
        await wait_until_async(lambda: _tables_exist(observer, first), timeout=30)
        # In a thread of its own: publish_async rarely yields, and the watcher below must keep polling.
        publishing = asyncio.create_task(asyncio.to_thread(asyncio.run, publish_all(nats_server.url)))
        await wait_until_async(lambda: _some_but_not_all(observer), timeout=60, interval=0.01)
        first.send_signal(signal.SIGKILL)
        first.wait()
        await publishing
        killed_at = await counts(observer)
        second = start_runs_service(env, tmp_path / "runs-2.log", port)
        try:
            final = await wait_until_async(lambda: _all_done(observer), timeout=120, interval=0.2)
            health, metrics = _operational_endpoints(port)
        finally:
            second.terminate()
            second.wait(timeout=20)
    finally:
        if first.poll() is None:
            first.kill()
        await observer.close()
    assert killed_at[1] < RUNS, "the kill came too late to prove anything"
    assert final == (RUNS, RUNS)
    assert health == {"status": "ok", "nats": "connected", "services": ["runs"], "problems": []}
    assert "crontopus_runs_checkins_stored_total" in metrics


def _operational_endpoints(port: int) -> tuple[dict, str]:
    with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=5) as client:
        return client.get("/health").json(), client.get("/metrics").text


async def _tables_exist(unit: RunsUnit, process: subprocess.Popen) -> bool:
    assert process.poll() is None, "the runs service exited; see its log in the test's tmp dir"
    try:
        await counts(unit)
    except Exception:
        return False
    return True


async def _some_but_not_all(unit: RunsUnit) -> bool:
    _, done = await counts(unit)
    return 0 < done < RUNS // 2


async def _all_done(unit: RunsUnit) -> tuple[int, int] | None:
    total, done = await counts(unit)
    return (total, done) if done == RUNS else None
