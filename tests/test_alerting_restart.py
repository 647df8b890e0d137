"""The control plane goes down while a job keeps running on its host; when it comes back, a
backlog of check-ins is waiting. Nobody must be told the job missed runs it did not miss."""

from __future__ import annotations

import asyncio
import threading
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import nats
import pytest

from crontopus_kit.nats_server import NatsServerProcess
from crontopus_schemas.events import CheckInEvent
from crontopus_schemas.subjects import checkin_msg_id, checkin_subject
from crontopus_server.testing import Account, sign_up, start_stack, wait_until

pytestmark = pytest.mark.slow
JOB = "ops/every-minute"
MANIFEST = (
    "apiVersion: crontopus.io/v1\nkind: Job\nmetadata:\n  name: every-minute\n  namespace: ops\n"
    'spec:\n  schedule: "* * * * *"\n  command: /bin/true\n  monitor: {grace: 5s}\n'
)


@pytest.fixture
def database_backend() -> str:
    return "sqlite"


class Host:
    """Runs the job every minute, as cron would, reporting straight to NATS (like an agent)."""

    def __init__(self, nats_url: str, tenant_id: str) -> None:
        self.nats_url, self.tenant_id = nats_url, tenant_id
        self.running = True
        self.noise = 0  # extra check-ins of another job to send with the next run (a backlog)
        self.thread = threading.Thread(target=lambda: asyncio.run(self._loop()), daemon=True)
        self.thread.start()

    async def _loop(self) -> None:
        connection = await nats.connect(self.nats_url, max_reconnect_attempts=-1)
        js = connection.jetstream()
        last_minute = None
        while self.running:
            now = datetime.now(UTC)
            minute = now.replace(second=0, microsecond=0)
            if minute != last_minute and now.second < 3:
                last_minute = minute
                await self._run(js, JOB, now)
                for _ in range(self.noise):
                    await self._run(js, "ops/noise", now)
                self.noise = 0
            await asyncio.sleep(0.2)
        await connection.close()

    async def _run(self, js: Any, job: str, at: datetime) -> None:
        run_id = uuid.uuid4().hex
        for status in ("running", "success"):
            event = CheckInEvent(job=job, run_id=run_id, status=status, exit_code=0, timestamp=at, source="host")
            await js.publish(
                checkin_subject(self.tenant_id, "host"), event.model_dump_json().encode(),
                headers={"Nats-Msg-Id": checkin_msg_id(self.tenant_id, "host", run_id, status)},
            )  # fmt: skip


def missed(client: httpx.Client, account: Account) -> list[dict[str, Any]]:
    found = client.get("/api/incidents", params={"job": JOB}, headers=account.headers).json()["incidents"]
    return [incident for incident in found if incident["cause"] == "missed"]


def test_after_an_outage_with_a_backlog_no_missed_run_is_reported_that_ran(
    nats_server: NatsServerProcess, tmp_path: Path, stack_env: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    env = {**stack_env, "CRONTOPUS_ALERTING_TICK_INTERVAL": "0.2", "CRONTOPUS_ALERTING_SETTLE_SECONDS": "1"}
    stack = start_stack(nats=nats_server, data_dir=tmp_path / "data", env=env, monkeypatch=monkeypatch)
    with stack.client() as client:
        alice = sign_up(client, "alice")
        tenant_id = client.get("/api/auth/me", headers=alice.headers).json()["tenant_id"]
        assert client.post("/api/jobs", json={"manifest": MANIFEST}, headers=alice.headers).status_code == 201
    host = Host(nats_server.url, tenant_id)
    try:
        _wait_for_second(10)  # the job is watched and has run at least once by the next minute
        stack.stop()  # the whole control plane is down; the host keeps running the job
        host.noise = 3000  # and with its next run comes a backlog the runs service must work through
        time.sleep(75)  # at least one scheduled run happens while nothing is watching
        stack = start_stack(nats=nats_server, data_dir=tmp_path / "data", env=env, monkeypatch=monkeypatch)
        with stack.client() as client:
            time.sleep(15)  # the backlog drains; any false alert would be raised by now
            assert missed(client, alice) == []
            host.running = False  # now it really stops running: that is reported
            [incident] = wait_until(lambda: missed(client, alice), timeout=75, interval=1)
            assert incident["status"] == "open"
    finally:
        host.running = False
        stack.stop()


def _wait_for_second(second: int) -> None:
    """Sleep past the next minute boundary, until ``second`` seconds into that minute."""
    now = datetime.now(UTC)
    time.sleep(60 - now.second - now.microsecond / 1e6 + second)
