"""The production topology on one machine, for benchmarks: a nats-server secured as
`crontopus-server nats-config` prints it, every service its own `crontopus-server run <service>`
process logging in as its own NATS user, the gateway with ``workers`` processes, PostgreSQL (a
throwaway schema set, dropped at the end). As `docs/deployment.md` and `compose.yaml` describe it.
"""

from __future__ import annotations

import asyncio
import os
import secrets
import subprocess
import sys
import time
import uuid
from pathlib import Path

import asyncpg
import httpx

from crontopus_kit.nats_server import NatsServerProcess, die_with_parent, free_port
from crontopus_server.platform import SERVICES, embedded_nats


class Production:
    def __init__(
        self,
        workdir: Path,
        postgres_url: str,
        *,
        workers: int = 1,
        prefix: str | None = None,
        secret: str | None = None,
        keep: bool = False,
        **settings: str,
    ) -> None:
        """``prefix`` and ``secret``: a schema set and key kept from an earlier run (with ``keep``,
        nothing is dropped at the end), for a fixture too big to load each time."""
        self.workdir = workdir
        self.data_dir = workdir / "data"
        self.postgres_url = postgres_url.replace("postgresql+asyncpg://", "postgresql://")
        self.url = f"http://127.0.0.1:{free_port()}"
        self.workers = workers
        self.settings = settings  # more CRONTOPUS_* variables, for every process
        self.secret = secret or secrets.token_urlsafe(48)
        self.prefix = prefix or f"bench_{uuid.uuid4().hex[:8]}_"
        self.keep = keep
        self._nats: NatsServerProcess | None = None
        self._processes: dict[str, tuple[subprocess.Popen[bytes], int]] = {}

    async def start(self, timeout: float = 90) -> None:
        self._nats = embedded_nats(self.workdir / "nats", self.secret.encode())
        self._nats.start()
        for service in [*SERVICES, "gateway"]:
            port = int(self.url.rsplit(":", 1)[1]) if service == "gateway" else free_port()
            self._processes[service] = (self._spawn(service, port), port)
        await self._wait_healthy(timeout)

    def _spawn(self, service: str, port: int) -> subprocess.Popen[bytes]:
        assert self._nats is not None
        env = {key: value for key, value in os.environ.items() if not key.startswith("CRONTOPUS_")}
        env |= {
            "CRONTOPUS_NATS_URL": f"nats://{service}@{self._nats.url.removeprefix('nats://')}",
            "CRONTOPUS_DATABASE_URL": self.postgres_url,
            "CRONTOPUS_DATABASE_SCHEMA_PREFIX": self.prefix,
            "CRONTOPUS_SECRET_KEY": self.secret,
            "CRONTOPUS_DATA_DIR": str(self.data_dir),
            "CRONTOPUS_PUBLIC_URL": self.url,
            "CRONTOPUS_WORKERS": str(self.workers),
            "CRONTOPUS_LOG_FORMAT": "json",
            **self.settings,
        }
        command = [sys.executable, "-m", "crontopus_server.cli", "run", service, "--port", str(port)]
        with open(self.workdir / f"{service}.log", "ab") as log:
            return subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT, preexec_fn=die_with_parent)

    async def _wait_healthy(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        async with httpx.AsyncClient(timeout=2) as client:
            for service, (process, port) in self._processes.items():
                while True:
                    if process.poll() is not None or time.monotonic() > deadline:
                        raise RuntimeError(f"{service} did not start; see {self.workdir / service}.log")
                    try:
                        if (await client.get(f"http://127.0.0.1:{port}/health")).status_code == 200:
                            break
                    except httpx.TransportError:
                        pass
                    await asyncio.sleep(0.2)

    async def stored_checkins(self) -> int:
        """Starts plus finishes in the runs schema: a run reported by start and finish is one row."""
        conn = await asyncpg.connect(self.postgres_url)
        try:
            row = await conn.fetchrow(f'SELECT count(started_at), count(finished_at) FROM "{self.prefix}runs".runs')
        finally:
            await conn.close()
        assert row is not None
        return int(row[0] + row[1])

    async def stop(self) -> None:
        processes, self._processes = self._processes, {}
        for process, _ in processes.values():
            process.terminate()
        for process, _ in processes.values():
            try:
                await asyncio.to_thread(process.wait, 20)
            except subprocess.TimeoutExpired:
                process.kill()
        if self._nats is not None:
            self._nats.stop()
        if not self.keep:
            await self._drop_schemas()

    async def _drop_schemas(self) -> None:
        conn = await asyncpg.connect(self.postgres_url)
        try:
            for service in SERVICES:
                await conn.execute(f'DROP SCHEMA IF EXISTS "{self.prefix}{service}" CASCADE')
        finally:
            await conn.close()
