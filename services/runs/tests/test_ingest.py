"""The check-in consumer against a real nats-server: JetStream -> runs table, acked after commit."""

import asyncio
import json
import uuid

import nats
import pytest
from faststream.nats import NatsBroker
from prometheus_client import REGISTRY
from structlog.testing import capture_logs

from crontopus_kit.broker import make_broker
from crontopus_kit.errors import NotFound
from crontopus_kit.unit import start_units, stop_units
from crontopus_runs import service
from crontopus_runs.handlers import CheckinIngester
from crontopus_runs.settings import RunsSettings
from crontopus_runs.unit import RunsUnit
from crontopus_schemas import subjects
from crontopus_schemas.events import CheckInEvent
from crontopus_schemas.runs import RunListRequest
from crontopus_server.testing import wait_until_async

TENANT = uuid.uuid4().hex


@pytest.fixture
async def running_runs(nats_server, settings_factory):
    broker = make_broker(nats_server.url, name="test-runs")
    unit = RunsUnit(settings_factory(RunsSettings, batch_timeout=0.05), broker=broker)
    await start_units(broker, [unit])
    yield unit
    await stop_units(broker, [unit])


async def publish(js, tenant: str, checkin: CheckInEvent | bytes, msg_id: str | None = None):
    payload = checkin if isinstance(checkin, bytes) else checkin.model_dump_json().encode()
    headers = {"Nats-Msg-Id": msg_id} if msg_id else None
    return await js.publish(subjects.checkin_subject(tenant, "api"), payload, headers=headers)


async def count(unit: RunsUnit) -> int:
    async with unit.db.session() as session:
        return await service.count_runs(session=session)


async def test_checkins_published_to_jetstream_become_runs_and_run_events(running_runs, nats_server):
    nc = await nats.connect(nats_server.url)
    js = nc.jetstream()
    events = await js.subscribe(subjects.run_recorded_subject(TENANT), ordered_consumer=True)
    run_id = str(uuid.uuid4())
    await publish(js, TENANT, CheckInEvent(job="production/backup", run_id=run_id, status="running"))
    await publish(js, TENANT, b"{not json")  # a malformed message must not block the others
    stray = CheckInEvent(job="production/backup", run_id=str(uuid.uuid4()), status="running")
    await js.publish(subjects.checkin_subject(TENANT, "api") + ".extra", stray.model_dump_json().encode())
    await publish(js, TENANT, CheckInEvent(job="production/backup", run_id=run_id, status="success", exit_code=0))

    async def finished():
        async with running_runs.db.session() as session:
            try:
                run = await service.get_run(session=session, tenant_id=TENANT, run_id=run_id)
            except NotFound:
                return None
        return run if run.status == "success" else None

    run = await wait_until_async(finished)
    assert run.exit_code == 0 and run.duration_ms is not None
    statuses = set()
    while "success" not in statuses:
        msg = await events.next_msg(timeout=5)
        statuses |= {run["status"] for run in json.loads(msg.data)["runs"]}
    assert await count(running_runs) == 1  # nothing from the malformed subject

    async def all_acked():
        info = await js.consumer_info(subjects.CHECKINS_STREAM.name, subjects.RUNS_CHECKINS_DURABLE)
        return info.num_pending == 0 and info.num_ack_pending == 0

    await wait_until_async(all_acked)  # the malformed ones dropped, not left to redeliver
    await nc.close()


class FakeMsg:
    """A delivered check-in: what the ingester reads of nats-py's Msg, and whether it was acked."""

    def __init__(self, tenant: str, checkin: CheckInEvent) -> None:
        self.subject = subjects.checkin_subject(tenant, "api")
        self.data = checkin.model_dump_json().encode()
        self.acked = False

    async def ack(self) -> None:
        self.acked = True


async def test_batches_are_stored_and_announced_in_arrival_order_even_when_the_first_is_slow(
    settings_factory, monkeypatch
):
    """Two batches are handled at once (one stored, the next parsed meanwhile). If the first one's
    database round trip is slow, the second still waits: the newest run keeps the highest id."""
    unit = RunsUnit(settings_factory(RunsSettings), broker=NatsBroker())  # its database only
    await unit.prepare()
    announced: list[bytes] = []

    async def announce(messages: list[tuple[str, bytes, str]]) -> None:
        announced.extend(payload for _, payload, _ in messages)

    ingester = CheckinIngester(db=unit.db, settings=unit.settings, announce=announce)
    store_runs = service.store_runs
    calls = 0

    async def first_call_slow(**kwargs):
        nonlocal calls
        calls += 1
        if calls == 1:
            await asyncio.sleep(0.3)
        return await store_runs(**kwargs)

    monkeypatch.setattr(service, "store_runs", first_call_slow)
    first = [FakeMsg(TENANT, CheckInEvent(job="production/backup", run_id="first", status="running"))]
    second = [FakeMsg(TENANT, CheckInEvent(job="production/backup", run_id="second", status="running"))]
    await asyncio.gather(ingester.store_batch(first), ingester.store_batch(second))  # type: ignore[arg-type]

    async with unit.db.session() as session:
        page = await service.list_runs(session=session, query=RunListRequest(tenant_id=TENANT))
    assert [run.run_id for run in page.runs] == ["second", "first"]  # newest first
    assert [json.loads(event)["runs"][0]["run_id"] for event in announced] == ["first", "second"]
    assert all(msg.acked for msg in first + second)
    await unit.close()


async def test_a_checkin_reusing_another_jobs_run_id_is_refused_logged_counted_and_acked(settings_factory):
    """Job B's finish under job A's run id: A's run and the run events keep A's outcome; B's
    check-in is acknowledged (it could never be stored), said in the log and counted."""
    unit = RunsUnit(settings_factory(RunsSettings), broker=NatsBroker())  # its database only
    await unit.prepare()
    announced: list[dict] = []

    async def announce(messages: list[tuple[str, bytes, str]]) -> None:
        announced.extend(run for _, payload, _ in messages for run in json.loads(payload)["runs"])

    ingester = CheckinIngester(db=unit.db, settings=unit.settings, announce=announce)
    conflicting = "crontopus_runs_checkins_conflicting_total"
    before = REGISTRY.get_sample_value(conflicting) or 0
    a_start = FakeMsg(TENANT, CheckInEvent(job="ops/a", run_id="nightly", status="running"))
    b_finish = FakeMsg(TENANT, CheckInEvent(job="ops/b", run_id="nightly", status="failure", exit_code=3))
    await ingester.store_batch([a_start])  # type: ignore[list-item]
    with capture_logs() as logs:
        await ingester.store_batch([b_finish])  # type: ignore[list-item]

    async with unit.db.session() as session:
        run = await service.get_run(session=session, tenant_id=TENANT, run_id="nightly")
    assert (run.job, run.status, run.exit_code) == ("ops/a", "running", None)
    assert [(r["job"], r["status"]) for r in announced] == [("ops/a", "running")]
    assert a_start.acked and b_finish.acked
    assert REGISTRY.get_sample_value(conflicting) == before + 1
    (line,) = [entry for entry in logs if entry["event"].startswith("check-in refused")]
    assert (line["job"], line["run_id"], line["run_id_held_by"]) == ("ops/b", "nightly", "ops/a")
    await unit.close()
