"""`crontopus-server`: run the whole platform in one process, or one service alone."""

from __future__ import annotations

import errno
import os
import signal
import socket
import tempfile
from pathlib import Path
from typing import Annotated, NoReturn

import pydantic_settings
import typer
from pydantic import ValidationError
from uvicorn.config import STARTUP_FAILURE

from crontopus_gateway.console import default_web_dir
from crontopus_gateway.ratelimit import Counters
from crontopus_gateway.settings import GatewaySettings
from crontopus_kit.logging import configure_logging, get_logger
from crontopus_kit.nats_security import without_credentials
from crontopus_kit.nats_server import free_port
from crontopus_kit.settings import SettingsError, describe_settings_error
from crontopus_schemas.private_files import private_dir
from crontopus_server.platform import SERVICES, all_in_one_app, service_nats_url, start_embedded_nats, write_private
from crontopus_server.serving import bind_port, run_server, serve

cli = typer.Typer(help=__doc__, no_args_is_help=True, add_completion=False)
log = get_logger("crontopus.server")

EMBEDDED_NATS_PORT = "CRONTOPUS_EMBEDDED_NATS_PORT"


@cli.callback()
def _commands() -> None:
    """Keeps `run` a named sub-command (Typer would fold a lone command into the program)."""


@cli.command()
def run(
    service: Annotated[str, typer.Argument(help="all, gateway, or one of: " + ", ".join(SERVICES))] = "all",
    port: Annotated[
        int | None,
        typer.Option(
            help="HTTP port. Default: for all and gateway CRONTOPUS_PORT, else 8080; for a service alone (its "
            "/health and /metrics) 8081 to 8085 in the order " + ", ".join(SERVICES) + " (CRONTOPUS_PORT is not read)"
        ),
    ] = None,
) -> None:
    """Start the platform (`all`), the gateway alone, or one service alone."""
    try:
        settings = GatewaySettings()
        configure_logging(fmt=settings.log_format, level=settings.log_level)
        settings.secret_bytes()  # refuse to start with a default secret outside the embedded mode
        if service != "gateway":  # the gateway keeps nothing on disk
            # Databases, secret key, NATS credentials, repositories: for this user's eyes only.
            private_dir(settings.data_dir, with_files=True)
        if service == "all":
            _run_all(settings, port or settings.port)
        elif service == "gateway":
            _run_gateway(settings, port or settings.port)
        elif service in SERVICES:
            _run_service(service, port)
        else:
            raise typer.BadParameter(f"unknown service {service!r}; choose all, gateway, {', '.join(SERVICES)}")
    except (pydantic_settings.SettingsError, ValidationError) as exc:
        _refuse(exc)


@cli.command()
def docs(out: Annotated[Path, typer.Option(help="folder to write into")] = Path("docs")) -> None:
    """Write the REST (OpenAPI), event (AsyncAPI) and job manifest (JSON Schema) contracts."""
    from crontopus_server.docs import write_docs

    for path in write_docs(out):
        typer.echo(f"wrote {path}")


@cli.command("nats-config")
def nats_config(
    output: Annotated[
        Path | None,
        typer.Option(
            "--output",
            "-o",
            help="write it to this file, readable by its owner only (0600), replacing it whole; default: print it",
        ),
    ] = None,
) -> None:
    """Print the nats-server configuration for your own NATS: the CRONTOPUS account with the
    service logins (passwords derived from CRONTOPUS_SECRET_KEY), the AGENTS account agents land
    in and what it imports, and the auth callout agents go through. Regenerate after upgrades."""
    from crontopus_kit.nats_security import server_config

    try:
        # Always a production secret: this configures NATS servers that other hosts reach.
        secret = GatewaySettings().secret_bytes(for_production=True)
    except (pydantic_settings.SettingsError, ValidationError) as exc:
        _refuse(exc)
    if output is None:
        typer.echo(server_config(secret), nl=False)
        return
    _write_owner_only(output, server_config(secret))
    typer.echo(f"wrote {output} (mode 0600: it holds passwords); restart or reload NATS to apply it", err=True)


def _refuse(exc: Exception) -> NoReturn:
    typer.secho(f"error: {describe_settings_error(exc)}", fg=typer.colors.RED, err=True)
    raise typer.Exit(2) from exc


def _write_owner_only(path: Path, text: str) -> None:
    """Written beside ``path`` at 0600 and renamed over it: never readable by others, not even for
    a moment, and a NATS reloading meanwhile reads the old file or the new one, never half."""
    fd, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")  # mkstemp: 0600
    try:
        with os.fdopen(fd, "w") as out:
            out.write(text)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


@cli.command()
def migrate(
    services: Annotated[
        list[str] | None, typer.Argument(help="services to migrate (default: all of " + ", ".join(SERVICES) + ")")
    ] = None,
) -> None:
    """Bring the services' databases to this version's schema, then exit: what every service does
    at start-up (under a PostgreSQL advisory lock), for an upgrade that migrates before its rollout.
    Uses the same settings as the services (CRONTOPUS_DATABASE_URL, the secret); NATS is not needed."""
    import asyncio

    names = services or list(SERVICES)
    unknown = [name for name in names if name not in SERVICES]
    if unknown:
        raise typer.BadParameter(f"unknown service {', '.join(unknown)}; choose from {', '.join(SERVICES)}")
    try:
        settings = GatewaySettings()
        configure_logging(fmt=settings.log_format, level=settings.log_level)
        settings.secret_bytes()
        for name in names:
            asyncio.run(_migrate(name))
            typer.echo(f"{name}: migrated")
    except (pydantic_settings.SettingsError, ValidationError) as exc:
        _refuse(exc)


async def _migrate(name: str) -> None:
    from faststream.nats import NatsBroker

    from crontopus_server.platform import unit_factory

    unit = unit_factory(name)(broker=NatsBroker())  # never connected: only the unit's database is used
    try:
        await unit.prepare()  # migrations (and, for identity, its first signing key)
    finally:
        await unit.close()


@cli.command("rotate-signing-key")
def rotate_signing_key(
    retire_others: Annotated[
        bool, typer.Option("--retire-others", help="stop accepting tokens signed with the other keys now (a leak)")
    ] = False,
) -> None:
    """Add a new signing key for access tokens. Identity services sign with it from their next key
    reload (within a minute); the old keys keep verifying until their tokens expired, unless
    --retire-others."""
    import asyncio

    try:
        kid = asyncio.run(_rotate_signing_key(retire_others=retire_others))
    except (pydantic_settings.SettingsError, ValidationError) as exc:
        _refuse(exc)
    typer.echo(f"new signing key {kid}; identity services sign with it from their next reload")
    if retire_others:
        typer.echo("the other keys are retired: tokens they signed stop working as gateways refresh (5 minutes)")


async def _rotate_signing_key(*, retire_others: bool) -> str:
    from faststream.nats import NatsBroker

    from crontopus_identity.audit import record_for_every_team
    from crontopus_identity.tokens import rotate_signing_key as rotate
    from crontopus_identity.unit import IdentityUnit

    unit = IdentityUnit(broker=NatsBroker())  # never connected: only the unit's database is used
    try:
        await unit.prepare()  # migrations, and the first key if there is none yet
        async with unit.db.session() as session:
            key = await rotate(session=session, secret=unit.settings.secret_bytes(), retire_others=retire_others)
            await record_for_every_team(session, action="platform.signing-key.rotate", target=key.kid,
                                        details={"retire_others": str(retire_others).lower()})  # fmt: skip
        return key.kid
    finally:
        await unit.close()


MAX_TEAMS = "CRONTOPUS_IDENTITY_MAX_TEAMS"
# `run all`'s gateway processes unless CRONTOPUS_WORKERS says, where the machine has the cores: the
# first process also runs every service, so a second one serves HTTP while the first is busy with
# them (one process on two cores answered pings at ~0.3x a bare app; two, ~0.5-0.7x: benchmarks.md).
RUN_ALL_WORKERS = 2


def _run_all(settings: GatewaySettings, port: int) -> None:
    workers = settings.workers or _cores_up_to(RUN_ALL_WORKERS)
    # The port first: taken, nothing starts and no banner sends the user to another server.
    sock = _listen(settings.host, port, workers=workers)
    port = sock.getsockname()[1]  # port 0: the one the kernel chose
    nats = None
    nats_url = settings.nats_url
    try:
        if nats_url is None:
            secret = settings.secret_bytes()
            port_wanted = os.environ.get(EMBEDDED_NATS_PORT)
            nats = start_embedded_nats(settings.data_dir, secret, int(port_wanted) if port_wanted else None)
            nats_url = service_nats_url(nats.url, secret)
            write_private(settings.data_dir / "nats.url", nats_url + "\n")
        local_agent = settings.local_agent or ("builtin" if nats else "off")
        if local_agent != "off":  # its jobs run beside every team's data: one team (local_agent.py)
            os.environ.setdefault(MAX_TEAMS, "1")
        _banner(settings, port, nats_url, embedded=nats is not None, local_agent=local_agent, workers=workers)
        counters = _counters(workers)
        app = all_in_one_app(nats_url, settings, local_agent=local_agent, counters=counters)
        # uvicorn re-raises SIGTERM or SIGINT once it has shut down; with the default handlers that
        # would end the process before `finally` stops the embedded nats-server (SIGTERM), or with
        # status 130 (SIGINT): Ctrl-C is how `make run` is meant to stop, so it ends with 0.
        signal.signal(signal.SIGTERM, _exit_quietly)
        signal.signal(signal.SIGINT, _exit_quietly)
        serve(app, host=settings.host, port=port, nats_url=nats_url, workers=workers, sock=sock, counters=counters)
    finally:
        sock.close()
        if nats:
            nats.stop()


def _listen(host: str, port: int, *, workers: int) -> socket.socket:
    """The HTTP port, bound; a clear line and STARTUP_FAILURE when it cannot be."""
    try:
        return bind_port(host, port, workers=workers)
    except OSError as exc:
        if exc.errno == errno.EADDRINUSE:
            message = (
                f"port {port} is in use (another Crontopus or program listens there): "
                f"CRONTOPUS_PORT={free_port()} make run"
            )
        else:
            message = f"cannot listen on {host}:{port}: {exc.strerror or exc}"
        typer.secho(f"error: {message}", fg=typer.colors.RED, err=True)
        raise typer.Exit(STARTUP_FAILURE) from exc


def _exit_quietly(*_: object) -> None:
    raise SystemExit(0)


def _run_gateway(settings: GatewaySettings, port: int) -> None:
    from crontopus_gateway.app import create_app
    from crontopus_kit.broker import exit_process, make_broker

    if not settings.nats_url:
        raise SettingsError("CRONTOPUS_NATS_URL is required to run the gateway alone")
    workers = settings.workers or 1
    counters = _counters(workers)
    # As each service alone: a connection NATS ended for good ends the process, for its supervisor.
    broker = make_broker(settings.nats_url, name="crontopus-gateway", when_gone=exit_process)
    app = create_app(settings=settings, broker=broker, counters=counters)
    serve(app, host=settings.host, port=port, nats_url=settings.nats_url, workers=workers, counters=counters)


def _cores_up_to(most: int) -> int:
    """The cores this process may run on (its affinity, which a container's cpuset sets), at most ``most``."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    return max(1, min(most, cores))


def _counters(workers: int) -> Counters | None:
    """The rate limits' tables in memory the gateway processes share (one process: its own)."""
    return Counters.create(shared=True) if workers > 1 else None


def _run_service(name: str, port: int | None) -> None:
    from crontopus_kit.service_app import service_app
    from crontopus_kit.settings import CrontopusSettings
    from crontopus_server.platform import unit_factory

    settings = CrontopusSettings()  # what every service's settings share: NATS, host, logging
    app = service_app(lambda broker: [unit_factory(name)(broker=broker)], settings, name=name)
    default_port = 8081 + list(SERVICES).index(name)
    run_server(app, host=settings.host, port=port or default_port)


def _banner(
    settings: GatewaySettings, port: int, nats_url: str, *, embedded: bool, local_agent: str, workers: int
) -> None:
    url = f"http://{settings.host}:{port}"
    data = settings.data_dir.resolve()
    lines = [
        "",
        "Crontopus is starting" + (" (embedded default)" if embedded else ""),
        f"  web console:  {_console_line(settings, url)}",
        f"  API + docs:   {url}/api  ({url}/docs)",
        f"  NATS:         {without_credentials(nats_url)}"
        + (f"  (JetStream data in {data / 'nats'}; agents log in through the auth callout)" if embedded else ""),
        f"  databases:    {'SQLite files in ' + str(data) if not settings.uses_postgres else 'PostgreSQL'}",
        f"  services:     gateway{_processes(workers)}, {', '.join(SERVICES)}",
        f"  local agent:  {_local_agent_line(local_agent, data)}",
        "",
        f"Sign up at {url}/register, or with the CLI (either creates your team and signs you in),",
        "then make an API key for check-ins:",
        f"  .venv/bin/crontopus auth register --server {url}",
        "  .venv/bin/crontopus api-keys create my-host --scope write",
        "",
    ]
    typer.echo("\n".join(lines))


def _processes(workers: int) -> str:
    return f" ({workers} processes, CRONTOPUS_WORKERS)" if workers > 1 else ""


def _console_line(settings: GatewaySettings, url: str) -> str:
    web_dir = settings.web_dir or default_web_dir()
    if (web_dir / "index.html").is_file():
        return url
    return f"not built ({web_dir} has no index.html): make web, with Node.js 20.19+"


def _local_agent_line(local_agent: str, data: Path) -> str:
    if local_agent == "off":
        return "off (CRONTOPUS_LOCAL_AGENT=builtin|crontab starts one)"
    return (
        f"{local_agent} scheduler, enrolled into the first team that signs up (log: {data / 'agent' / 'agent.log'});"
        f"\n                one team only while it runs ({MAX_TEAMS}={os.environ.get(MAX_TEAMS)};"
        " CRONTOPUS_LOCAL_AGENT=off allows more)"
    )


def main() -> None:
    cli()


if __name__ == "__main__":
    main()
