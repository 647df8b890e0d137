"""The check-in consumer against a real nats-server: JetStream -> runs table, acked after commit."""

import json
import uuid

import nats
import pytest

from crontopus_kit.broker import make_broker
from crontopus_kit.errors import NotFound
from crontopus_kit.unit import start_units, stop_units
from crontopus_runs import service
from crontopus_runs.settings import RunsSettings
from crontopus_runs.unit import RunsUnit
from crontopus_schemas import subjects
from crontopus_schemas.events import CheckInEvent
from crontopus_server.testing import wait_until_async

TENANT = uuid.uuid4().hex


@pytest.fixture
async def running_runs(nats_server, settings_factory):
    unit = RunsUnit(settings_factory(RunsSettings, batch_timeout=0.05))
    broker = make_broker(nats_server.url, name="test-runs")
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
    assert await count(running_runs) == 1
    await nc.close()
