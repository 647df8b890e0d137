"""`crontopus auth`: sign in and out, and show who the CLI acts as."""

from __future__ import annotations

from typing import Annotated, Any

import typer
from rich.markup import escape

from crontopus_cli import output
from crontopus_cli.client import ApiClient, error_message
from crontopus_cli.config import save_config
from crontopus_cli.context import JsonOption, ServerOption, state
from crontopus_cli.errors import CliError
from crontopus_cli.prompts import ask

app = typer.Typer(help="Sign in and out, and show who you are signed in as.", no_args_is_help=True)


@app.command()
def login(
    ctx: typer.Context,
    server: ServerOption = None,
    username: Annotated[str | None, typer.Option("--username", "-u", help="Prompted for when missing.")] = None,
    password: Annotated[
        str | None, typer.Option("--password", "-p", help="Prompted for (hidden) when missing.")
    ] = None,
) -> None:
    """Sign in with a username and password; the tokens are stored in the config file (mode 0600)."""
    app_state = state(ctx)
    url = app_state.server(server)  # resolve (and validate) before prompting
    username = username or ask("Username", "--username")
    password = password or ask("Password", "--password", secret=True)
    with app_state.client(url, use_api_key=False) as client:
        pair = client.post(
            "/api/auth/login",
            auth=False,
            data={"grant_type": "password", "username": username, "password": password},
            headers=client.device_cookie(),
        )
        if not isinstance(pair, dict) or not pair.get("access_token"):
            raise CliError(f"the server at {url} answered the login with something unexpected")
        client.store_tokens(pair)
    output.console.print(f"Logged in to [bold]{url}[/bold] as [bold]{username}[/bold].")


@app.command()
def register(
    ctx: typer.Context,
    server: ServerOption = None,
    username: Annotated[str | None, typer.Option("--username", "-u", help="Prompted for when missing.")] = None,
    email: Annotated[str | None, typer.Option("--email", help="Prompted for when missing.")] = None,
    tenant: Annotated[str | None, typer.Option("--tenant", help="Your new team's name, e.g. acme-ops.")] = None,
    password: Annotated[
        str | None, typer.Option("--password", "-p", help="Prompted for (hidden, twice) when missing.")
    ] = None,
) -> None:
    """Sign up: create a team (tenant) with you as its owner, then sign in."""
    app_state = state(ctx)
    url = app_state.server(server)
    body = {
        "username": username or ask("Username", "--username"),
        "email": email or ask("Email", "--email"),
        "tenant": tenant or ask("Team name (lowercase letters, digits, '-')", "--tenant"),
        "password": password or ask("Password", "--password", secret=True, twice=True),
    }
    with app_state.client(url, use_api_key=False) as client:
        client.post("/api/auth/register", auth=False, json=body)
    output.console.print(f"Registered [bold]{escape(body['username'])}[/bold] in team {escape(body['tenant'])}.")
    login(ctx, server=url, username=body["username"], password=body["password"])


@app.command()
def logout(ctx: typer.Context) -> None:
    """Revoke the session on the server and delete the stored tokens (even if the server is down)."""
    app_state = state(ctx)
    config = app_state.config
    if not config.signed_in:
        output.console.print("Not logged in.")
        return
    try:
        end_session(ApiClient(server=config.server or app_state.server(), config=config, transport=app_state.transport))
    except CliError as exc:
        output.print_warning(f"{exc.message}; the local tokens are deleted anyway")
    config.clear_tokens()
    path = save_config(config)
    output.console.print(f"Logged out (tokens removed from {path}).")


def end_session(client: ApiClient) -> None:
    """Revoke the refresh token; a 401 means the session is already dead, which is the goal."""
    with client:
        if not client.config.refresh_token:
            return
        body = {"refresh_token": client.config.refresh_token}
        response = client.send("POST", "/api/auth/logout", auth=True, json=body)
        if response.status_code >= 400 and response.status_code != 401:
            raise CliError(f"the server did not revoke the session: {error_message(response)}")


TokenArgument = Annotated[str, typer.Argument(help="the token in the mailed link (after ?token=)")]


@app.command("accept-invitation")
def accept_invitation(
    ctx: typer.Context,
    token: TokenArgument,
    server: ServerOption = None,
    username: Annotated[str | None, typer.Option("--username", "-u", help="for a new account")] = None,
    password: Annotated[str | None, typer.Option("--password", "-p", help="for a new account")] = None,
) -> None:
    """Join the team of a mailed invitation: as the signed-in account (it must have the invited
    address), or, when not signed in, as a new account with that address (prompted for)."""
    app_state = state(ctx)
    with app_state.client(server, use_api_key=False) as client:
        body: dict[str, Any] = {"token": token}
        signed_in = client.has_session
        if not signed_in:
            body["username"] = username or ask("Username", "--username")
            body["password"] = password or ask("Password", "--password", secret=True, twice=True)
        pair = client.post("/api/invitations/accept", auth=signed_in, json=body)
        client.store_tokens(pair)
        me = client.get("/api/auth/me")
    output.console.print(f"Joined team [bold]{escape(me['tenant'])}[/bold] as {me['role']}; the CLI acts for it now.")


@app.command("forgot-password")
def forgot_password(
    ctx: typer.Context, email: Annotated[str, typer.Argument(help="your account's email")], server: ServerOption = None
) -> None:
    """Mail a link to choose a new password (if an account has this address)."""
    with state(ctx).client(server, use_api_key=False) as client:
        answer = client.post("/api/auth/password-reset", auth=False, json={"email": email})
    output.console.print(escape(answer["detail"]) + "; then: crontopus auth reset-password TOKEN")


@app.command("reset-password")
def reset_password(
    ctx: typer.Context,
    token: TokenArgument,
    server: ServerOption = None,
    password: Annotated[str | None, typer.Option("--password", "-p", help="Prompted for (hidden, twice).")] = None,
) -> None:
    """Choose a new password with the mailed link's token; every session of the account ends."""
    new = password or ask("New password", "--password", secret=True, twice=True)
    with state(ctx).client(server, use_api_key=False) as client:
        client.post("/api/auth/password-reset/confirm", auth=False, json={"token": token, "password": new})
    output.console.print("Password changed; every session ended. Sign in with: crontopus auth login")


@app.command("verify-email")
def verify_email(ctx: typer.Context, token: TokenArgument, server: ServerOption = None) -> None:
    """Confirm your email address with the token of the mail sent at sign-up."""
    with state(ctx).client(server, use_api_key=False) as client:
        client.post("/api/auth/verify-email", auth=False, json={"token": token})
    output.console.print("Email address confirmed.")


@app.command()
def whoami(ctx: typer.Context, server: ServerOption = None, as_json: JsonOption = False) -> None:
    """Show the signed-in user, their tenant and role; with CRONTOPUS_API_KEY set, that key."""
    with state(ctx).client(server) as client:
        using_key = bool(client.api_key)
        me = client.get("/api/api-keys/current" if using_key else "/api/auth/me")
        server = client.server
    if as_json:
        output.print_json(me)
        return
    rows = _key_rows(me, server) if using_key else _identity_rows(me, server)
    output.print_table(output.details_table(rows))


def _key_rows(key: dict[str, Any], server: str) -> list[tuple[str, str]]:
    rows = [("API key", f"{key['name']} ({key['prefix']}…, from CRONTOPUS_API_KEY)"), ("Scope", key["scope"]),
            ("Tenant", str(key.get("tenant") or key["tenant_id"])), ("Key ID", key["id"])]  # fmt: skip
    if key.get("created_by"):
        rows.append(("Created by", key["created_by"]))
    rows.append(("Server", server))
    return rows


def _identity_rows(me: dict[str, Any], server: str) -> list[tuple[str, str]]:
    labels = {"username": "User", "email": "Email", "tenant": "Tenant", "role": "Role", "id": "User ID"}
    rows = [(label, str(me[key])) for key, label in labels.items() if me.get(key) is not None]
    if me.get("tenant_id") and me.get("tenant_id") != me.get("tenant"):
        rows.append(("Tenant ID", str(me["tenant_id"])))
    if me.get("created_at"):
        rows.append(("Since", output.full_time(me["created_at"])))
    rows.append(("Server", server))
    return rows
