"""ensure_streams against real nats-servers: a single server, and a three-node JetStream cluster
where CRONTOPUS_NATS_STREAM_REPLICAS=3 keeps check-ins through the loss of a node."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path
from typing import TypeVar

import nats
import pytest
from faststream.nats import NatsBroker

from crontopus_kit.broker import ensure_streams, make_broker
from crontopus_kit.nats_server import NatsServerProcess
from crontopus_kit.settings import CrontopusSettings
from crontopus_kit.testing import nats_cluster
from crontopus_kit.unit import stop_broker
from crontopus_schemas.subjects import CHECKINS_STREAM, checkin_subject

NODES = 3
T = TypeVar("T")


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[list[NatsServerProcess]]:
    """Three nats-servers routed to each other, JetStream clustered (a meta leader is elected)."""
    with nats_cluster(tmp_path, nodes=NODES) as nodes:
        yield nodes


@pytest.fixture
async def cluster_broker(cluster: list[NatsServerProcess]) -> AsyncIterator[NatsBroker]:
    broker = make_broker(",".join(node.url for node in cluster), name="test-streams")
    await broker.connect()
    yield broker
    await stop_broker(broker)  # a test may have stopped the node it was connected to: still reconnecting


async def _once_led(call: Callable[[], Awaitable[T]]) -> T:
    """A cluster answers JetStream requests once it has elected a leader (for JetStream as a whole,
    or for a stream whose leader was lost): within a few seconds."""
    for _ in range(100):
        try:
            return await call()
        except Exception:  # no leader yet
            await asyncio.sleep(0.2)
    return await call()  # the real error


async def _ensure_when_ready(broker: NatsBroker, replicas: int) -> None:
    await _once_led(lambda: ensure_streams(broker, [CHECKINS_STREAM], replicas=replicas))


def test_the_replicas_setting_defaults_to_one_and_is_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    assert CrontopusSettings().nats_stream_replicas == 1
    monkeypatch.setenv("CRONTOPUS_NATS_STREAM_REPLICAS", "3")
    assert CrontopusSettings().nats_stream_replicas == 3
    monkeypatch.setenv("CRONTOPUS_NATS_STREAM_REPLICAS", "0")
    with pytest.raises(ValueError, match="nats_stream_replicas"):
        CrontopusSettings()


async def test_with_three_replicas_stored_checkins_survive_the_loss_of_a_node(
    cluster: list[NatsServerProcess], cluster_broker: NatsBroker
) -> None:
    await _ensure_when_ready(cluster_broker, replicas=3)
    nc = await nats.connect([node.url for node in cluster], max_reconnect_attempts=-1, reconnect_time_wait=0.1)
    js = nc.jetstream()
    info = await js.stream_info(CHECKINS_STREAM.name)
    assert info.config.num_replicas == 3 and len(info.cluster.replicas or []) == 2
    for number in range(50):
        await js.publish(checkin_subject("t" * 32, "api"), str(number).encode())

    leader = cluster[int(info.cluster.leader.removeprefix("n"))]  # servers are named n0, n1, n2
    leader.stop()  # the stream's leader, and with it one copy of every check-in
    info = await _once_led(lambda: js.stream_info(CHECKINS_STREAM.name))  # elected among the other two
    assert info.state.messages == 50
    await js.publish(checkin_subject("t" * 32, "api"), b"after")  # and it still takes new ones
    await nc.close()


async def test_an_existing_single_copy_stream_is_brought_to_three(
    cluster: list[NatsServerProcess], cluster_broker: NatsBroker
) -> None:
    await _ensure_when_ready(cluster_broker, replicas=1)
    js = cluster_broker.config.connection_state.stream
    # The new stream elects its leader on its own, a moment after it is created (longer on a busy
    # machine); the message id keeps a publish repeated after a lost answer from counting twice.
    await _once_led(lambda: js.publish(checkin_subject("t" * 32, "api"), b"kept", headers={"Nats-Msg-Id": "kept"}))
    assert (await js.stream_info(CHECKINS_STREAM.name)).config.num_replicas == 1

    # Placing three copies needs all three servers known to the leader, which may take a moment more.
    await _once_led(lambda: ensure_streams(cluster_broker, [CHECKINS_STREAM], replicas=3))

    info = await js.stream_info(CHECKINS_STREAM.name)
    assert info.config.num_replicas == 3 and info.state.messages == 1


async def test_asking_a_single_server_for_three_replicas_is_a_clear_error(nats_server: NatsServerProcess) -> None:
    broker = make_broker(nats_server.url, name="test-streams")
    await broker.connect()
    try:
        with pytest.raises(RuntimeError, match="CRONTOPUS_NATS_STREAM_REPLICAS=3"):
            await ensure_streams(broker, [CHECKINS_STREAM], replicas=3)
    finally:
        await broker.stop()
