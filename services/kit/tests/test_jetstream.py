"""BatchPuller against a real nats-server: batches, what is pulled while a handler is busy, byte caps."""

import asyncio

import nats
import pytest

from crontopus_kit.jetstream import BatchPuller


@pytest.mark.parametrize(("concurrency", "delivered_while_busy"), [(1, 5), (2, 10)])
async def test_the_next_batch_is_pulled_while_one_is_handled_only_with_concurrency(
    nats_server, concurrency, delivered_while_busy
):
    """A slow handler (gitops' syncs) with concurrency 1 holds one batch: nothing more waits
    for it with its ack_wait running. With 2 (the runs ingester) the next batch is here already."""
    nc = await nats.connect(nats_server.url)
    js = nc.jetstream()
    await js.add_stream(name="T", subjects=["t.>"])
    for number in range(20):
        await js.publish("t.x", str(number).encode())
    first_batch_taken, release, all_handled = asyncio.Event(), asyncio.Event(), asyncio.Event()
    handled: list[int] = []

    async def handler(batch):
        first_batch_taken.set()
        await release.wait()
        handled.extend(int(msg.data) for msg in batch)
        for msg in batch:
            await msg.ack()
        if len(handled) == 20:
            all_handled.set()

    puller = BatchPuller(stream="T", durable="d", filter_subject="t.>", handler=handler, batch_size=5, linger=0.05,
                         ack_wait=30, max_ack_pending=100, concurrency=concurrency)  # fmt: skip
    await puller.start(nc, js)
    try:
        await asyncio.wait_for(first_batch_taken.wait(), 5)
        await asyncio.sleep(0.3)  # time for a second batch to arrive, if one was asked for
        info = await js.consumer_info("T", "d")
        assert info.num_ack_pending == delivered_while_busy  # delivered, not yet acked
        release.set()
        await asyncio.wait_for(all_handled.wait(), 5)
        assert sorted(handled) == list(range(20))  # each once
    finally:
        release.set()
        await puller.stop()
        await nc.close()


async def test_a_byte_cap_splits_large_messages_into_smaller_batches_and_loses_none(nats_server):
    nc = await nats.connect(nats_server.url)
    js = nc.jetstream()
    await js.add_stream(name="T", subjects=["t.>"])
    for number in range(20):
        await js.publish("t.x", str(number).encode().ljust(100_000))
    batches: list[list[int]] = []
    all_handled = asyncio.Event()

    async def handler(batch):
        batches.append([int(msg.data) for msg in batch])
        for msg in batch:
            await msg.ack()
        if sum(map(len, batches)) == 20:
            all_handled.set()

    puller = BatchPuller(stream="T", durable="d", filter_subject="t.>", handler=handler, batch_size=50, linger=0.05,
                         ack_wait=30, max_ack_pending=100, max_batch_bytes=450_000)  # fmt: skip
    await puller.start(nc, js)
    try:
        await asyncio.wait_for(all_handled.wait(), 10)
    finally:
        await puller.stop()
        await nc.close()
    assert max(map(len, batches)) <= 4  # 4 x 100 kB fit in 450 kB, 5 do not
    assert [number for batch in batches for number in batch] == list(range(20))


async def test_an_existing_durable_is_brought_to_the_pullers_settings(nats_server):
    """A durable keeps its settings when its creator's code changes, unless told: an upgrade that
    widens the filter must reach the running durable, or it would keep the old one for ever."""
    nc = await nats.connect(nats_server.url)
    js = nc.jetstream()
    await js.add_stream(name="T", subjects=["t.>"])
    await js.add_consumer(
        "T", durable_name="d", filter_subject="t.*", ack_wait=30, max_ack_pending=100, ack_policy="explicit"
    )

    async def handler(batch):
        for msg in batch:
            await msg.ack()

    puller = BatchPuller(stream="T", durable="d", filter_subject="t.>", handler=handler, batch_size=5, linger=0.05,
                         ack_wait=30, max_ack_pending=100)  # fmt: skip
    await puller.start(nc, js)
    try:
        config = (await js.consumer_info("T", "d")).config
        assert (config.filter_subject, config.ack_wait, config.max_ack_pending) == ("t.>", 30, 100)
    finally:
        await puller.stop()
        await nc.close()
