"""Which services exist and how the all-in-one process composes them."""

from __future__ import annotations

import importlib
import os
from collections.abc import Callable
from pathlib import Path
from urllib.parse import urlsplit

from fastapi import FastAPI
from faststream.nats import NatsBroker

from crontopus_gateway.app import create_app
from crontopus_gateway.ratelimit import Counters
from crontopus_gateway.settings import GatewaySettings
from crontopus_kit.broker import make_broker
from crontopus_kit.logging import get_logger
from crontopus_kit.nats_security import SERVICE_USER, server_config, service_password, with_credentials
from crontopus_kit.nats_server import NatsServerProcess, PortTaken
from crontopus_kit.unit import ServiceUnit
from crontopus_schemas.private_files import private_dir
from crontopus_server.local_agent import LocalAgentUnit

log = get_logger("crontopus.server")

# name -> "module:UnitClass"; each unit builds its own settings from the environment and is
# built with its broker: UnitClass(broker=broker).
SERVICES: dict[str, str] = {
    "identity": "crontopus_identity.unit:IdentityUnit",
    "runs": "crontopus_runs.unit:RunsUnit",
    "gitops": "crontopus_gitops.unit:GitopsUnit",
    "agents": "crontopus_agents.unit:AgentsUnit",
    "alerting": "crontopus_alerting.unit:AlertingUnit",
}


def unit_factory(name: str) -> Callable[..., ServiceUnit]:
    module_name, _, class_name = SERVICES[name].partition(":")
    return getattr(importlib.import_module(module_name), class_name)  # type: ignore[no-any-return]


def build_units(broker: NatsBroker, names: list[str] | None = None) -> list[ServiceUnit]:
    return [unit_factory(name)(broker=broker) for name in (names or list(SERVICES))]


def embedded_nats(data_dir: Path, secret: bytes, port: int = 0) -> NatsServerProcess:
    """The embedded NATS: JetStream data under the data dir, a free port unless one is given,
    so two stacks with different data dirs and ports run side by side; secured as in
    production (service logins, agents through the auth callout into their own account), see
    nats_security. The configuration is written anew at every start, so an upgrade takes the
    current layout."""
    config = data_dir / "nats-server.conf"
    write_private(config, server_config(secret))
    return NatsServerProcess(
        store_dir=data_dir / "nats", port=port, log_file=data_dir / "nats-server.log", config_file=config
    )


def start_embedded_nats(data_dir: Path, secret: bytes, port: int | None = None) -> NatsServerProcess:
    """The embedded NATS, started on ``port``, else on the port it had the last time (in
    ``nats.url``), else on a free one. Agents keep the address they enrolled with: a new port at
    every start would leave each of them outside, spooling, after a restart of the server."""
    if port is None and (last := last_nats_port(data_dir)):
        nats = embedded_nats(data_dir, secret, last)
        try:
            nats.start()
            return nats
        except PortTaken:
            log.warning(
                "the embedded NATS's port of last time is taken by another program; it listens on "
                "another, which agents enrolled before (but the local one) learn only by enrolling again",
                port=last,
            )
    nats = embedded_nats(data_dir, secret, port or 0)
    nats.start()
    return nats


def last_nats_port(data_dir: Path) -> int | None:
    """The embedded NATS's port of the last start, from the URL written then."""
    try:
        return urlsplit((data_dir / "nats.url").read_text().strip()).port
    except (OSError, ValueError):
        return None


def service_nats_url(url: str, secret: bytes) -> str:
    """The URL the all-in-one process (and the repositories' hooks) log in with."""
    return with_credentials(url, SERVICE_USER, service_password(secret, SERVICE_USER))


def write_private(path: Path, text: str) -> None:
    """Write a file only its owner can read (it holds credentials)."""
    private_dir(path.parent)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as out:
        out.write(text)
    path.chmod(0o600)


def all_in_one_app(
    nats_url: str,
    settings: GatewaySettings | None = None,
    *,
    local_agent: str = "off",
    counters: Counters | None = None,
) -> FastAPI:
    """Every service on one broker; ``local_agent`` (builtin or crontab) adds `make run`'s agent."""
    settings = settings or GatewaySettings()
    broker = make_broker(nats_url, name="crontopus-all-in-one")
    units = build_units(broker)
    if local_agent != "off":
        units.append(LocalAgentUnit(settings, broker=broker, scheduler=local_agent))
    return create_app(settings=settings, broker=broker, units=units, counters=counters)
