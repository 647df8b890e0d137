"""A service keeps its NATS connection through restarts of a secured three-node cluster (which
advertises its nodes to clients), and a process whose connection is gone for good exits for its
supervisor instead of staying up disconnected."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from faststream.nats import NatsBroker
from nats.aio.client import Client

from crontopus_kit.broker import EXIT_NATS_GONE, make_broker
from crontopus_kit.nats_server import NatsServerProcess
from crontopus_kit.testing import nats_cluster
from crontopus_kit.unit import stop_broker

USER, PASSWORD = "runs", "s3cret-pw"
NODES = 3


def users_config(password: str = PASSWORD) -> str:
    return f'authorization {{ users: [ {{ user: "{USER}", password: "{password}" }} ] }}\n'


@pytest.fixture
def secured_cluster(tmp_path: Path) -> Iterator[list[NatsServerProcess]]:
    """Three routed nats-servers that only let USER in; each advertises the others
    to clients (NATS's default, which `no_advertise: true` turns off)."""
    with nats_cluster(tmp_path, nodes=NODES, config=users_config()) as nodes:
        yield nodes


def with_login(node: NatsServerProcess) -> str:
    return f"nats://{USER}:{PASSWORD}@127.0.0.1:{node.port}"


def client(broker: NatsBroker) -> Client:
    return broker.config.connection_state.connection


async def until(condition: Callable[[], bool], *, seconds: float = 15) -> None:
    for _ in range(int(seconds / 0.05)):
        if condition():
            return
        await asyncio.sleep(0.05)
    assert condition()


async def reconnected_after(broker: NatsBroker, restart: Callable[[], None]) -> None:
    """``restart`` breaks the connection; the broker is connected again, and answers."""
    reconnects = client(broker).stats["reconnects"]
    restart()
    await until(lambda: client(broker).stats["reconnects"] > reconnects and client(broker).is_connected)
    await client(broker).flush(timeout=2)


def restart_all(nodes: list[NatsServerProcess]) -> None:
    for node in nodes:
        node.stop()
    for node in nodes:
        node.start()


def node_of(nodes: list[NatsServerProcess], broker: NatsBroker) -> NatsServerProcess:
    url = client(broker).connected_url
    assert url is not None
    return next(node for node in nodes if node.port == url.port)


@pytest.mark.slow
async def test_a_broker_given_one_node_with_a_login_fails_over_to_the_nodes_the_cluster_advertised(
    secured_cluster: list[NatsServerProcess],
) -> None:
    seed = secured_cluster[0]
    broker = make_broker(with_login(seed), name="test-reconnect")
    await broker.connect()
    try:
        await until(lambda: len(client(broker).discovered_servers) >= NODES - 1)

        # The only node it was given is down: it can only go to one it learnt of, with its login.
        await reconnected_after(broker, seed.stop)
        assert node_of(secured_cluster, broker) is not seed
        seed.start()

        await reconnected_after(broker, lambda: restart_all(secured_cluster))
    finally:
        await stop_broker(broker)


@pytest.mark.slow
async def test_a_broker_given_the_whole_cluster_with_a_login_survives_rolling_and_full_restarts(
    secured_cluster: list[NatsServerProcess],
) -> None:
    broker = make_broker(",".join(with_login(node) for node in secured_cluster), name="test-reconnect")
    await broker.connect()
    try:
        # The nodes it was given are the ones the cluster advertises: one entry each in its pool.
        pool = sorted(server.netloc for server in client(broker).servers)
        assert pool == sorted(f"127.0.0.1:{node.port}" for node in secured_cluster)

        for _ in range(3):  # the node it is connected to, several times: the pool is shuffled each time
            node = node_of(secured_cluster, broker)

            def restart(node: NatsServerProcess = node) -> None:
                node.stop()
                node.start()

            await reconnected_after(broker, restart)

        await reconnected_after(broker, lambda: restart_all(secured_cluster))
    finally:
        await stop_broker(broker)


SERVICE = """
import asyncio
from crontopus_kit.service_app import service_app
from crontopus_kit.settings import CrontopusSettings

async def main():
    app = service_app(lambda broker: [], CrontopusSettings(), name="gone-test")
    await app.start()
    print("started", flush=True)
    await asyncio.sleep(60)
    print("still running", flush=True)

asyncio.run(main())
"""


@pytest.fixture
def secured_server(tmp_path: Path) -> Iterator[NatsServerProcess]:
    config = tmp_path / "nats.conf"
    config.write_text(users_config())
    server = NatsServerProcess(store_dir=tmp_path / "nats", config_file=config, log_file=tmp_path / "nats.log")
    server.start()
    yield server
    server.stop()


@contextlib.contextmanager
def started_service(server: NatsServerProcess, tmp_path: Path) -> Iterator[subprocess.Popen[str]]:
    """A service process connected to ``server`` (it prints "started"), killed at the end."""
    env = {**os.environ, "CRONTOPUS_NATS_URL": with_login(server), "CRONTOPUS_DATA_DIR": str(tmp_path)}
    service = subprocess.Popen([sys.executable, "-c", SERVICE], env=env, stdout=subprocess.PIPE, text=True)
    try:
        assert service.stdout is not None and service.stdout.readline() == "started\n"
        yield service
    finally:
        service.kill()
        service.wait()


@pytest.mark.slow
def test_a_service_whose_nats_refuses_its_reconnect_exits_for_its_supervisor_to_restart_it(
    secured_server: NatsServerProcess, tmp_path: Path
) -> None:
    with started_service(secured_server, tmp_path) as service:
        # NATS comes back with another password (a secret changed on one side only): nats-py
        # would stay "reconnecting" for ever, answering nothing.
        assert secured_server.config_file is not None
        secured_server.config_file.write_text(users_config("another-pw"))
        secured_server.stop()
        secured_server.start()

        assert service.wait(timeout=20) == EXIT_NATS_GONE


@pytest.mark.slow
def test_a_service_whose_nats_closes_its_connection_exits_for_its_supervisor_to_restart_it(
    secured_server: NatsServerProcess, tmp_path: Path
) -> None:
    with started_service(secured_server, tmp_path) as service:
        # The password changes on a running NATS (a configuration reload): it closes the
        # connection with 'Authorization Violation', and nats-py does not reconnect after that.
        assert secured_server.config_file is not None and secured_server.process is not None
        secured_server.config_file.write_text(users_config("another-pw"))
        secured_server.process.send_signal(signal.SIGHUP)

        assert service.wait(timeout=20) == EXIT_NATS_GONE
