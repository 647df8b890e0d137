"""The `crontopus` command: a Typer app with one sub-app per resource (auth, runs, ...).

To add a group: write `commands/<name>.py` exporting `app`, then `app.add_typer(...)` below.
"""

from __future__ import annotations

from typing import Annotated

import typer
from typer.core import TyperGroup

from crontopus_cli import __version__, output
from crontopus_cli.commands import agents, alerts, api_keys, audit, auth, badges, jobs, runs, teams
from crontopus_cli.context import AppState
from crontopus_cli.errors import CliError


class CliGroup(TyperGroup):
    """Turns a CliError from any subcommand into a message on stderr and an exit code."""

    def invoke(self, ctx: typer.Context) -> object:  # type: ignore[override]
        try:
            return super().invoke(ctx)
        except CliError as exc:
            output.print_error(exc.message)
            raise typer.Exit(exc.exit_code) from None


app = typer.Typer(
    name="crontopus",
    cls=CliGroup,
    help="Crontopus: GitOps-first cron jobs. Talks to the gateway's REST API.",
    no_args_is_help=True,
    # Locals in a traceback could show tokens and passwords.
    pretty_exceptions_show_locals=False,
)
app.add_typer(auth.app, name="auth")
app.add_typer(jobs.app, name="jobs")
app.add_typer(runs.app, name="runs")
app.add_typer(agents.app, name="agents")
app.add_typer(alerts.app, name="alerts")
app.add_typer(api_keys.app, name="api-keys")
app.add_typer(teams.teams_app, name="teams")
app.add_typer(teams.members_app, name="members")
app.add_typer(audit.app, name="audit")
app.add_typer(badges.app, name="badges")


def _version(value: bool) -> None:
    if value:
        typer.echo(f"crontopus {__version__}")
        raise typer.Exit()


@app.callback()
def main(
    ctx: typer.Context,
    server: Annotated[
        str | None,
        typer.Option("--server", help="Gateway URL. Else CRONTOPUS_SERVER, else the config file, else :8080."),
    ] = None,
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Show the version and exit.")
    ] = False,
) -> None:
    app_state = ctx.ensure_object(AppState)
    if server:
        app_state.server_flag = server


if __name__ == "__main__":
    app()
