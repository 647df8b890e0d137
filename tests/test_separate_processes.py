"""The production shape: every service its own process against PostgreSQL and a NATS secured as
`crontopus-server nats-config` prints it, each logging in as its own user with only the shared
secret (``nats://<service>@host:port``, the password derived from it), as compose.yaml runs them."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import nats
import pytest
from nats.errors import Error as NatsError

from crontopus_kit.nats_server import NatsServerProcess, free_port
from crontopus_server.platform import SERVICES
from crontopus_server.testing import sign_up, wait_until

pytestmark = [pytest.mark.slow, pytest.mark.postgres]


@pytest.fixture
def database_backend() -> str:
    return "postgres"


def start(service: str, *, env: dict[str, str], port: int, logs: Path) -> subprocess.Popen[bytes]:
    log = open(logs / f"{service}.log", "ab")  # noqa: SIM115
    command = [sys.executable, "-m", "crontopus_server.cli", "run", service, "--port", str(port)]
    return subprocess.Popen(command, env=env, stdout=log, stderr=log)


@pytest.fixture
def processes(
    secure_nats: NatsServerProcess, stack_env: dict[str, Any], tmp_path: Path
) -> Iterator[dict[str, tuple[subprocess.Popen[bytes], int]]]:
    host_port = secure_nats.url.removeprefix("nats://")
    base = {**os.environ, **{key: str(value) for key, value in stack_env.items()}, "CRONTOPUS_LOG_FORMAT": "json"}
    running: dict[str, tuple[subprocess.Popen[bytes], int]] = {}
    try:
        for service in [*SERVICES, "gateway"]:
            port = free_port()
            env = {**base, "CRONTOPUS_NATS_URL": f"nats://{service}@{host_port}", "CRONTOPUS_PORT": str(port)}
            running[service] = (start(service, env=env, port=port, logs=tmp_path), port)
        yield running
    finally:
        for process, _ in running.values():
            process.terminate()
        for process, _ in running.values():
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()


def healthy(processes: dict[str, tuple[subprocess.Popen[bytes], int]]) -> bool:
    for service, (process, port) in processes.items():
        assert process.poll() is None, f"{service} exited; see {service}.log in the test's tmp dir"
        try:
            if httpx.get(f"http://127.0.0.1:{port}/health", timeout=2).json().get("nats") != "connected":
                return False
        except httpx.HTTPError:
            return False
    return True


def test_services_in_their_own_processes_log_in_with_the_shared_secret_and_serve_a_checkin(processes) -> None:
    wait_until(lambda: healthy(processes), timeout=60, interval=0.25)
    _, gateway_port = processes["gateway"]
    with httpx.Client(base_url=f"http://127.0.0.1:{gateway_port}", timeout=10) as client:
        alice = sign_up(client, "alice")
        for status in ("running", "success"):
            body = {"job": "production/backup", "run_id": "r-1", "status": status}
            assert client.post("/api/checkins", json=body, headers=alice.headers).status_code == 202
        run = wait_until(lambda: _finished_run(client, alice.headers), timeout=20)
    assert run["job"] == "production/backup"


def _finished_run(client: httpx.Client, headers: dict[str, str]) -> dict[str, Any] | None:
    runs = client.get("/api/runs", headers=headers).json()["runs"]
    return runs[0] if runs and runs[0]["status"] == "success" else None


def test_a_service_without_a_login_is_refused_by_the_secured_nats(secure_nats: NatsServerProcess) -> None:
    async def connect() -> None:
        connection = await nats.connect(secure_nats.url, allow_reconnect=False, max_reconnect_attempts=0)
        await connection.close()

    with pytest.raises((NatsError, OSError)):
        asyncio.run(connect())
