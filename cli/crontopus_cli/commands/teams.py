"""`crontopus teams` and `crontopus members`: the teams you belong to, switching between them,
and a team's members and their roles."""

from __future__ import annotations

from dataclasses import replace
from typing import Annotated, Any

import typer
from rich.markup import escape
from rich.table import Table

from crontopus_cli import output
from crontopus_cli.client import ApiClient
from crontopus_cli.commands.auth import end_session
from crontopus_cli.context import JsonOption, ServerOption, state
from crontopus_cli.errors import CliError

teams_app = typer.Typer(help="The teams you belong to; act for another one.", no_args_is_help=True)
members_app = typer.Typer(help="Your team's members: list, change a role, remove (or leave).", no_args_is_help=True)
ROLES = ("viewer", "member", "admin", "owner")


@teams_app.command("list")
def list_teams(ctx: typer.Context, server: ServerOption = None, as_json: JsonOption = False) -> None:
    """Your teams and your role in each; the one the CLI acts for is marked."""
    with state(ctx).client(server) as client:
        teams = client.get("/api/teams")["teams"]
        current = client.get("/api/auth/me")["tenant_id"]
    if as_json:
        output.print_json({"teams": teams, "current": current})
        return
    table = output.list_table("", "TEAM", "ROLE", "ID")
    for team in teams:
        table.add_row("*" if team["id"] == current else "", escape(team["name"]), team["role"], team["id"])
    output.print_table(table)


@teams_app.command()
def use(
    ctx: typer.Context,
    team: Annotated[str, typer.Argument(help="the team's name or id (see `teams list`)")],
    server: ServerOption = None,
) -> None:
    """Act for another of your teams from now on (the CLI's session switches to it)."""
    app_state = state(ctx)
    with app_state.client(server, use_api_key=False) as client:
        chosen = _find_team(client, team)
        pair = client.post("/api/auth/switch-team", json={"team_id": chosen["id"]})
        previous = ApiClient(server=client.server, config=replace(client.config), transport=app_state.transport)
        client.store_tokens(pair)
    try:
        end_session(previous)  # the session for the team left behind
    except CliError as exc:
        output.print_warning(f"the previous session was not ended: {exc.message}")
    output.console.print(f"Now acting for team [bold]{escape(chosen['name'])}[/bold] as {chosen['role']}.")


def _find_team(client: ApiClient, wanted: str) -> dict[str, Any]:
    teams = client.get("/api/teams")["teams"]
    for team in teams:
        if wanted in (team["name"], team["id"]):
            return team  # type: ignore[no-any-return]
    names = ", ".join(team["name"] for team in teams) or "none"
    raise CliError(f"you are not in a team named {wanted!r}; your teams: {names}")


@members_app.command("list")
def list_members(ctx: typer.Context, server: ServerOption = None, as_json: JsonOption = False) -> None:
    """The members of the team you act for."""
    with state(ctx).client(server) as client:
        members = client.get("/api/members")
    if as_json:
        output.print_json(members)
        return
    output.print_table(_members_table(members["members"]))


@members_app.command("set-role")
def set_role(
    ctx: typer.Context,
    member: Annotated[str, typer.Argument(help="username, email or user id")],
    role: Annotated[str, typer.Argument(help="viewer, member, admin or owner")],
    server: ServerOption = None,
) -> None:
    """Give a member another role; it applies at once."""
    if role not in ROLES:
        raise typer.BadParameter(f"a role is one of {', '.join(ROLES)}", param_hint="ROLE")
    with state(ctx).client(server) as client:
        found = _find_member(client, member)
        client.request("PATCH", f"/api/members/{found['user_id']}", json={"role": role})
    output.console.print(f"{escape(found['username'])} is now {role}.")


@members_app.command()
def remove(
    ctx: typer.Context,
    member: Annotated[str, typer.Argument(help="username, email or user id; yourself to leave the team")],
    server: ServerOption = None,
) -> None:
    """Remove a member from the team (or yourself: leave); their sessions for it end at once."""
    with state(ctx).client(server) as client:
        found = _find_member(client, member)
        client.request("DELETE", f"/api/members/{found['user_id']}")
    output.console.print(f"Removed {escape(found['username'])} from the team.")


def _find_member(client: ApiClient, wanted: str) -> dict[str, Any]:
    for member in client.get("/api/members")["members"]:
        if wanted.lower() in (member["username"], member["email"].lower(), member["user_id"]):
            return member  # type: ignore[no-any-return]
    raise CliError(f"no member {wanted!r} in this team (see `crontopus members list`)")


def _members_table(members: list[dict[str, Any]]) -> Table:
    table = output.list_table("USERNAME", "EMAIL", "ROLE", "JOINED", "USER ID")
    for member in members:
        table.add_row(escape(member["username"]), escape(member["email"]), member["role"],
                      output.short_time(member.get("joined_at")), member["user_id"])  # fmt: skip
    return table


@members_app.command()
def invite(
    ctx: typer.Context,
    email: Annotated[str, typer.Argument(help="who to invite")],
    role: Annotated[str, typer.Option(help="viewer, member, admin or owner")] = "member",
    server: ServerOption = None,
    as_json: JsonOption = False,
) -> None:
    """Mail an invitation to join the team (good once, for 7 days); inviting again resends it."""
    if role not in ROLES:
        raise typer.BadParameter(f"a role is one of {', '.join(ROLES)}", param_hint="--role")
    with state(ctx).client(server) as client:
        invitation = client.post("/api/invitations", json={"email": email, "role": role})
    if as_json:
        output.print_json(invitation)
        return
    output.console.print(f"Invited {escape(invitation['email'])} as {role}; the link expires "
                         f"{output.full_time(invitation['expires_at'])}.")  # fmt: skip


@members_app.command()
def invitations(ctx: typer.Context, server: ServerOption = None, as_json: JsonOption = False) -> None:
    """The team's pending invitations."""
    with state(ctx).client(server) as client:
        pending = client.get("/api/invitations")
    if as_json:
        output.print_json(pending)
        return
    table = output.list_table("ID", "EMAIL", "ROLE", "BY", "EXPIRES")
    for item in pending["invitations"]:
        table.add_row(item["id"], escape(item["email"]), item["role"], escape(item.get("invited_by") or "-"),
                      output.short_time(item["expires_at"]))  # fmt: skip
    output.print_table(table)


@members_app.command()
def uninvite(
    ctx: typer.Context,
    invitation_id: Annotated[str, typer.Argument(help="the id `members invitations` shows")],
    server: ServerOption = None,
) -> None:
    """Revoke a pending invitation: its link stops working."""
    with state(ctx).client(server) as client:
        client.request("DELETE", f"/api/invitations/{invitation_id}")
    output.console.print(f"Revoked invitation {escape(invitation_id)}.")
