"""Which services exist and how the all-in-one process composes them."""

from __future__ import annotations

import importlib
from collections.abc import Callable
from pathlib import Path

from fastapi import FastAPI

from crontopus_gateway.app import create_app
from crontopus_gateway.settings import GatewaySettings
from crontopus_kit.broker import make_broker
from crontopus_kit.nats_server import NatsServerProcess
from crontopus_kit.unit import ServiceUnit

# name -> "module:UnitClass"; each unit builds its own settings from the environment.
SERVICES: dict[str, str] = {
    "identity": "crontopus_identity.unit:IdentityUnit",
    "runs": "crontopus_runs.unit:RunsUnit",
    "gitops": "crontopus_gitops.unit:GitopsUnit",
}


def unit_factory(name: str) -> Callable[[], ServiceUnit]:
    module_name, _, class_name = SERVICES[name].partition(":")
    return getattr(importlib.import_module(module_name), class_name)  # type: ignore[no-any-return]


def build_units(names: list[str] | None = None) -> list[ServiceUnit]:
    return [unit_factory(name)() for name in (names or list(SERVICES))]


def embedded_nats(data_dir: Path, port: int = 0) -> NatsServerProcess:
    """The embedded NATS: JetStream data under the data dir, a free port unless one is given,
    so two stacks with different data dirs and ports run side by side."""
    return NatsServerProcess(store_dir=data_dir / "nats", port=port, log_file=data_dir / "nats-server.log")


def all_in_one_app(nats_url: str, settings: GatewaySettings | None = None) -> FastAPI:
    settings = settings or GatewaySettings()
    broker = make_broker(nats_url, name="crontopus-all-in-one")
    return create_app(settings=settings, broker=broker, units=build_units())
