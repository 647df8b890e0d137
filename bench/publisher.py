"""The publisher both benchmarks share: raw nats-py ``js.publish_async`` of the workload, in a
child process of its own, as a gateway would be. The consumer then has the parent's core to
itself instead of sharing one event loop with the publisher.

Times are ``time.monotonic()``: on Linux that is CLOCK_MONOTONIC, one clock for every process,
so the parent can compare the child's first-publish time with its own commit time.
"""

from __future__ import annotations

import asyncio
import contextlib
import multiprocessing
import time
from dataclasses import dataclass
from multiprocessing.connection import Connection
from pathlib import Path

import nats

from bench.workload import Message, load_messages

READY, GO = "ready", "go"


@dataclass(frozen=True)
class Published:
    first: float  # monotonic time of the first publish
    acked: float  # monotonic time the last PubAck arrived
    count: int
    failed: int
    cpu_seconds: float  # the publisher process's own, from the first publish to the last PubAck

    @property
    def seconds(self) -> float:
        return self.acked - self.first


class PublisherProcess:
    """Start it, wait until it is connected, then ``go()`` and ``result()``."""

    def __init__(self, nats_url: str, messages_file: Path) -> None:
        context = multiprocessing.get_context("spawn")
        self._conn, child_conn = context.Pipe()
        self._process = context.Process(target=_main, args=(nats_url, str(messages_file), child_conn), daemon=True)

    async def start(self) -> None:
        self._process.start()
        await self._expect(READY)

    def go(self) -> None:
        self._conn.send(GO)

    async def result(self, timeout: float) -> Published:
        if not await asyncio.to_thread(self._conn.poll, timeout):
            raise TimeoutError(f"publisher did not finish within {timeout:.0f}s")
        published: Published = self._conn.recv()
        return published

    def kill(self) -> None:
        """The child waits idle after its result until this: its exit (freeing every message) must
        not take CPU from a run still being timed."""
        if self._process.is_alive():
            self._process.kill()
            self._process.join()

    async def _expect(self, what: str) -> None:
        if not await asyncio.to_thread(self._conn.poll, 60):
            raise TimeoutError(f"publisher never said {what!r}")
        said = self._conn.recv()
        if said != what:
            raise RuntimeError(f"publisher said {said!r}, expected {what!r}")


def _main(nats_url: str, messages_file: str, conn: Connection) -> None:
    messages = load_messages(Path(messages_file))
    conn.send(asyncio.run(_publish_when_told(nats_url, messages, conn)))
    with contextlib.suppress(EOFError):
        conn.recv()  # nothing comes: the parent kills this process when it is done measuring


async def _publish_when_told(nats_url: str, messages: list[Message], conn: Connection) -> Published:
    nc = await nats.connect(nats_url)
    js = nc.jetstream()
    conn.send(READY)
    if await asyncio.to_thread(conn.recv) != GO:
        raise RuntimeError("publisher expected 'go'")
    try:
        return await publish_all(js, messages)
    finally:
        await nc.close()


async def publish_all(js: nats.js.JetStreamContext, messages: list[Message]) -> Published:
    first, cpu_before = time.monotonic(), time.process_time()
    futures = [
        await js.publish_async(subject, payload, headers={"Nats-Msg-Id": msg_id})
        for subject, payload, msg_id in messages
    ]
    await js.publish_async_completed()
    acked, cpu_after = time.monotonic(), time.process_time()
    # Every future is done by now; reading them costs ~100x less than gathering them.
    failed = sum(1 for future in futures if future.exception() is not None or future.result().duplicate)
    return Published(first=first, acked=acked, count=len(messages), failed=failed, cpu_seconds=cpu_after - cpu_before)
