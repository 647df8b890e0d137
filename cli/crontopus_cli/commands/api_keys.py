"""`crontopus api-keys`: keys for scripts and hosts (check-ins, read-only dashboards)."""

from __future__ import annotations

from typing import Annotated, Any

import typer
from rich.markup import escape
from rich.table import Table

from crontopus_cli import output
from crontopus_cli.context import JsonOption, ServerOption, state

app = typer.Typer(help="Create, list and revoke API keys of your team.", no_args_is_help=True)


@app.command()
def create(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="what the key is for, e.g. the host that uses it")],
    scope: Annotated[str, typer.Option(help="read or write (write is needed for check-ins)")] = "read",
    server: ServerOption = None,
    as_json: JsonOption = False,
) -> None:
    """Create a key. It is shown this once: only its hash is stored."""
    if scope not in ("read", "write"):
        raise typer.BadParameter("scope is read or write", param_hint="--scope")
    with state(ctx).client(server) as client:
        created = client.post("/api/api-keys", json={"name": name, "scope": scope})
    if as_json:
        output.print_json(created)
        return
    output.console.print(f"Created {scope} key [bold]{escape(name)}[/bold] ({created['id']}). Keep it now:")
    typer.echo(created["key"])  # plain, so it can be piped or copied without markup


@app.command("list")
def list_keys(ctx: typer.Context, server: ServerOption = None, as_json: JsonOption = False) -> None:
    """The team's keys (never the keys themselves)."""
    with state(ctx).client(server) as client:
        keys = client.get("/api/api-keys")
    if as_json:
        output.print_json(keys)
        return
    output.print_table(_keys_table(keys["api_keys"]))


@app.command()
def revoke(
    ctx: typer.Context,
    key_id: Annotated[str, typer.Argument(help="the id shown by `api-keys list`")],
    server: ServerOption = None,
) -> None:
    """Revoke a key: it stops working at once."""
    with state(ctx).client(server) as client:
        client.request("DELETE", f"/api/api-keys/{key_id}")
    output.console.print(f"Revoked {escape(key_id)}.")


def _keys_table(keys: list[dict[str, Any]]) -> Table:
    table = output.list_table("ID", "NAME", "SCOPE", "PREFIX", "CREATED", "BY", "LAST USED")
    for key in keys:
        table.add_row(
            key["id"], escape(key["name"]), key["scope"], key["prefix"] + "…", output.short_time(key.get("created_at")),
            escape(key.get("created_by") or "-"), output.short_time(key.get("last_used_at")),
        )  # fmt: skip
    return table
