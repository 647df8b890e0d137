"""A batch consumer for a durable JetStream pull consumer.

Why not nats-py's ``fetch`` (or FastStream's pull subscriber on top of it): ``fetch`` waits with
``asyncio.wait_for(queue.get(), timeout)``, and on Python 3.11 a message that arrives as that
timeout fires can be taken off the queue and dropped. It is redelivered only after ``ack_wait``,
so a check-in would appear 30 s late. Here messages arrive through a subscription callback into
our own buffer; only a wake-up can be late, never a message.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import Awaitable, Callable

from nats.aio.client import Client
from nats.aio.msg import Msg
from nats.aio.subscription import Subscription
from nats.js.api import AckPolicy, ConsumerConfig
from nats.js.client import JetStreamContext
from nats.js.errors import NotFoundError

from crontopus_kit.logging import get_logger
from crontopus_schemas import subjects

log = get_logger(__name__)

BatchHandler = Callable[[list[Msg]], Awaitable[None]]
STATUS_HEADER = "Status"


def _settings(config: ConsumerConfig) -> tuple[object, ...]:
    """What ``BatchPuller`` sets on its durable, to tell whether an existing one differs."""
    return config.ack_wait, config.max_ack_pending, config.filter_subject


class BatchPuller:
    """Pulls up to ``batch_size`` messages at a time and hands each batch to ``handler``.

    A batch is handed over as soon as it is full, or ``linger`` seconds after its first message,
    so a lone check-in is processed at once and a burst fills whole batches. The handler acks.
    Up to ``concurrency`` batches are handled at once, so the next batch is being parsed while
    the database commits the previous one; above 1, the next batch is also pulled while one is
    handled, so its ``ack_wait`` runs meanwhile. A handler that raises leaves its batch unacked:
    JetStream redelivers it after ``ack_wait``.
    ``max_batch_bytes`` caps a pull request's payload (the server ends the request before the
    message that would exceed it), so a batch of large messages stays bounded in memory; it must
    exceed the largest message the server accepts, or that message would never be delivered.
    """

    def __init__(
        self,
        *,
        stream: str,
        durable: str,
        filter_subject: str,
        handler: BatchHandler,
        batch_size: int,
        linger: float,
        ack_wait: float,
        max_ack_pending: int,
        poll_expires: float = 5.0,
        concurrency: int = 1,
        max_batch_bytes: int | None = None,
    ) -> None:
        self.stream, self.durable, self.filter_subject = stream, durable, filter_subject
        self.handler = handler
        self.batch_size, self.linger, self.poll_expires = batch_size, linger, poll_expires
        self.max_batch_bytes = max_batch_bytes
        self.config = ConsumerConfig(
            durable_name=durable,
            ack_policy=AckPolicy.EXPLICIT,
            ack_wait=ack_wait,
            max_ack_pending=max_ack_pending,
            filter_subject=filter_subject,
        )
        self._slots = asyncio.Semaphore(concurrency)
        self._handling: set[asyncio.Task[None]] = set()
        self._buffer: list[Msg] = []
        self._arrived = asyncio.Event()
        self._outstanding = 0  # messages the open pull request may still deliver
        self._task: asyncio.Task[None] | None = None
        self._sub: Subscription | None = None
        self._nc: Client | None = None

    async def start(self, nc: Client, js: JetStreamContext) -> None:
        await self._ensure_consumer(js)
        self._nc = nc
        self._inbox = nc.new_inbox()
        self._sub = await nc.subscribe(self._inbox, cb=self._on_message)
        self._task = asyncio.create_task(self._loop(), name=f"pull {self.stream}/{self.durable}")

    async def stop(self) -> None:
        """Stop pulling, then let the batches being handled finish (their acks matter)."""
        if self._task:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        await asyncio.gather(*self._handling, return_exceptions=True)
        if self._sub:
            with contextlib.suppress(Exception):
                await self._sub.unsubscribe()

    async def _ensure_consumer(self, js: JetStreamContext) -> None:
        try:
            info = await js.consumer_info(self.stream, self.durable)
        except NotFoundError:
            await js.add_consumer(self.stream, config=self.config)
            return
        if _settings(info.config) != _settings(self.config):
            # A durable keeps its old settings unless told: bring it to ours.
            await js.add_consumer(self.stream, config=self.config)

    async def _on_message(self, msg: Msg) -> None:
        if not msg.data and msg.headers and STATUS_HEADER in msg.headers:
            self._outstanding = 0  # the pull request expired (408) or was refused (409)
        else:
            self._buffer.append(msg)
            self._outstanding = max(0, self._outstanding - 1)
        self._arrived.set()

    async def _loop(self) -> None:
        while True:
            await self._slots.acquire()  # before taking a batch, so it fills while we wait
            try:
                batch = await self._next_batch()
            except Exception:  # e.g. reconnecting; keep pulling
                self._slots.release()
                log.warning("pull request failed; retrying", stream=self.stream, durable=self.durable, exc_info=True)
                await asyncio.sleep(1)
                continue
            if not batch:
                self._slots.release()
                continue
            task = asyncio.create_task(self._handle(batch))
            self._handling.add(task)
            task.add_done_callback(self._handling.discard)

    async def _handle(self, batch: list[Msg]) -> None:
        try:
            await self.handler(batch)
        except Exception:
            log.exception("batch handler failed; the batch will be redelivered", stream=self.stream, size=len(batch))
        finally:
            self._slots.release()

    async def _next_batch(self) -> list[Msg]:
        if not self._outstanding and len(self._buffer) < self.batch_size:
            await self._request(self.batch_size - len(self._buffer))
        if not self._buffer and not await self._wait(self.poll_expires + 1):
            self._outstanding = 0  # not even its expiry notice came (server restarted?): ask anew
        if self._buffer and len(self._buffer) < self.batch_size:
            await self._linger()
        batch, self._buffer = self._buffer[: self.batch_size], self._buffer[self.batch_size :]
        return batch

    async def _linger(self) -> None:
        deadline = asyncio.get_running_loop().time() + self.linger
        while len(self._buffer) < self.batch_size and self._outstanding:
            remaining = deadline - asyncio.get_running_loop().time()
            if remaining <= 0:
                return
            await self._wait(remaining)

    async def _wait(self, timeout: float) -> bool:
        """Sleep until a message or notice arrives (True) or the timeout passes (False)."""
        self._arrived.clear()
        try:
            async with asyncio.timeout(timeout):
                await self._arrived.wait()
        except TimeoutError:
            return False
        return True

    async def _request(self, count: int) -> None:
        assert self._nc is not None
        body = {"batch": count, "expires": int(self.poll_expires * 1e9)}
        if self.max_batch_bytes:
            body["max_bytes"] = self.max_batch_bytes
        subject = subjects.consumer_next_subject(self.stream, self.durable)
        self._outstanding = count
        await self._nc.publish(subject, json.dumps(body).encode(), reply=self._inbox)
