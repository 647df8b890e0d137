"""`crontopus-agent`: enroll, run (the daemon), exec (what the scheduler calls), status."""

from __future__ import annotations

import asyncio
import json
import logging
import sys
from enum import StrEnum
from pathlib import Path

import typer

from crontopus_agent.files import tighten_home
from crontopus_agent.home import Credentials, NotEnrolledError, default_home
from crontopus_schemas.private_files import private_dir

app = typer.Typer(help="Crontopus agent: runs your Git-defined jobs on this host's scheduler.", no_args_is_help=True)

HomeOption = typer.Option(None, "--home", help="Agent home folder (env CRONTOPUS_AGENT_HOME)", show_default=False)


@app.callback()
def main() -> None:
    """Crontopus agent."""


def _home(home: Path | None) -> Path:
    return home or default_home()


@app.command(
    "exec",
    context_settings={"allow_interspersed_args": False},
    help="Run one job's command and report it (what scheduler entries call): exec ns/name -- command args...",
)
def exec_command(
    ref: str = typer.Argument(..., help="the job, as namespace/name"),
    command: list[str] = typer.Argument(..., help="the command and its arguments, after --"),
    home: Path | None = HomeOption,
    guard: bool = typer.Option(False, "--guard", help="run only if now is one of the job's fire times (its zone)"),
) -> None:
    from crontopus_agent.runner import execute

    raise typer.Exit(execute(home=_home(home), ref=ref, argv=command, guard=guard))


def _fail(message: str) -> typer.Exit:
    typer.echo(f"error: {message}", err=True)
    return typer.Exit(1)


def _enrolled(home: Path) -> Credentials:
    try:
        return Credentials.load(home)
    except NotEnrolledError as exc:
        raise _fail(str(exc)) from None


CloneUrlOption = typer.Option(
    None, "--clone-url", help="fetch the jobs from this URL instead of the server's (a mirror this host reaches)"
)
GitUserOption = typer.Option(None, "--git-username", help="user name for a private HTTPS repository")
GitPasswordOption = typer.Option(
    None, "--git-password-file", help="file holding its password or access token ('-': standard input)"
)


@app.command("enroll", help="Enroll this host with a Crontopus server and save its credentials (mode 0600).")
def enroll_command(
    server: str = typer.Option(..., "--server", help="the Crontopus URL, e.g. https://crontopus.example.com"),
    token: str = typer.Option(..., "--token", help="an enrollment token (POST /api/agents/enrollment-tokens)"),
    name: str | None = typer.Option(None, "--name", help="the agent's name (default: this host's name)"),
    label: list[str] = typer.Option([], "--label", help="k=v; repeat for more (jobs select agents by labels)"),
    force: bool = typer.Option(False, "--force", help="replace existing credentials (enroll as a new agent)"),
    clone_url: str | None = CloneUrlOption,
    git_username: str | None = GitUserOption,
    git_password_file: str | None = GitPasswordOption,
    home: Path | None = HomeOption,
) -> None:
    from crontopus_agent.enroll import EnrollError, enroll, parse_labels

    where = _home(home)
    password = _read_password(git_password_file)  # before enrolling: a typo must not spend the token
    try:
        credentials = enroll(server=server, token=token, home=where, name=name, labels=parse_labels(label), force=force)
        if clone_url or git_username or password is not None:
            _set_repository(credentials, clone_url=clone_url, username=git_username, password=password)
            credentials.save(where)
    except EnrollError as exc:
        raise _fail(str(exc)) from None
    except OSError as exc:
        raise _fail(f"cannot write the credentials in {where}: {exc}") from None
    typer.echo(f"enrolled as {credentials.name} ({credentials.agent_id}); credentials in {where / 'credentials.json'}")
    typer.echo("start the agent with: crontopus-agent run" + (f" --home {where}" if home else ""))


@app.command("repository", help="Show or set where this host fetches the jobs from, and its Git login.")
def repository_command(
    clone_url: str | None = CloneUrlOption,
    git_username: str | None = GitUserOption,
    git_password_file: str | None = GitPasswordOption,
    reset: bool = typer.Option(False, "--reset", help="forget this host's URL and login (use the server's URL)"),
    home: Path | None = HomeOption,
) -> None:
    where = _home(home)
    credentials = _enrolled(where)
    password = _read_password(git_password_file)
    changing = reset or clone_url or git_username or password is not None
    if reset:
        credentials.host_clone_url = credentials.git_username = credentials.git_password = None
    _set_repository(credentials, clone_url=clone_url, username=git_username, password=password)
    if changing:
        try:
            credentials.save(where)
        except OSError as exc:
            raise _fail(f"cannot write the credentials in {where}: {exc}") from None
    _show_repository(credentials)
    if changing:
        typer.echo("saved; a running agent uses it after a restart (crontopus-agent run)")


def _set_repository(
    credentials: Credentials, *, clone_url: str | None, username: str | None, password: str | None
) -> None:
    if clone_url:
        credentials.host_clone_url = clone_url.strip()
    if username:
        credentials.git_username = username.strip()
    if password is not None:
        credentials.git_password = password


def _show_repository(credentials: Credentials) -> None:
    from crontopus_schemas.git_urls import redact_url

    server_url = redact_url(credentials.clone_url or "") or "(none)"
    typer.echo(f"server's clone URL: {server_url}")
    typer.echo(f"this host fetches:  {redact_url(credentials.fetch_url or '') or '(nothing)'}")
    typer.echo(f"branch, folder:     {credentials.branch}, {credentials.folder or '(repository root)'}")
    login = f"{credentials.git_login[0]} (password set)" if credentials.git_login else "none"
    typer.echo(f"Git login:          {login}")


def _read_password(source: str | None) -> str | None:
    """A password from a file or standard input, never from the command line (ps shows that)."""
    if source is None:
        return None
    try:
        text = sys.stdin.read() if source == "-" else Path(source).read_text()
    except OSError as exc:
        raise _fail(f"cannot read the Git password from {source}: {exc}") from None
    password = text.strip()
    if not password:
        raise _fail(f"{source} is empty: it should hold the Git password or access token")
    return password


class SchedulerOption(StrEnum):
    auto = "auto"
    crontab = "crontab"
    builtin = "builtin"
    windows = "windows"


@app.command("run", help="Run the agent: sync jobs from Git into the scheduler, heartbeat, report.")
def run_command(
    scheduler: SchedulerOption = typer.Option(
        SchedulerOption.auto,
        "--scheduler",
        help="auto: windows on Windows, crontab where cron runs, else builtin (the agent starts jobs itself)",
    ),
    heartbeat_interval: float = typer.Option(30.0, "--heartbeat-interval", min=0.1, help="seconds"),
    poll_interval: float = typer.Option(60.0, "--poll-interval", min=0.1, help="seconds between fallback syncs"),
    log_level: str = typer.Option("INFO", "--log-level", help="DEBUG, INFO, WARNING or ERROR"),
    home: Path | None = HomeOption,
) -> None:
    from crontopus_agent.daemon import Daemon, choose_scheduler

    where = _home(home)
    credentials = _enrolled(where)
    logging.basicConfig(level=log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    private_dir(where)  # a home an older version (or a package) made readable by others is tightened
    tighten_home(where)  # and what an older version wrote in it with the umask's modes
    daemon = Daemon(
        where,
        credentials,
        choose_scheduler(scheduler.value, where),
        heartbeat_interval=heartbeat_interval,
        poll_interval=poll_interval,
    )
    asyncio.run(daemon.run(handle_signals=True))


@app.command("status", help="Show the enrollment and what the daemon last did (from the agent home).")
def status_command(
    as_json: bool = typer.Option(False, "--json", help="print JSON"),
    home: Path | None = HomeOption,
) -> None:
    from crontopus_agent.status import collect, render

    info = collect(_home(home))
    typer.echo(json.dumps(info, indent=2) if as_json else render(info))
    if not info["enrolled"]:
        raise typer.Exit(1)
