"""`crontopus audit`: who changed what in your team (owners and admins)."""

from __future__ import annotations

from typing import Annotated, Any

import typer
from rich.markup import escape

from crontopus_cli import output
from crontopus_cli.commands.runs import parse_since
from crontopus_cli.context import JsonOption, ServerOption, state

app = typer.Typer(help="The audit log of your team: who changed what, when, from where.", no_args_is_help=True)


@app.command("list")
def list_entries(
    ctx: typer.Context,
    actor: Annotated[str | None, typer.Option(help="a username, an API key's name, or an id")] = None,
    action: Annotated[str | None, typer.Option(help="an action (job.update) or an area with a dot (job.)")] = None,
    target: Annotated[str | None, typer.Option(help="a job (ns/name), an id, an email")] = None,
    since: Annotated[
        str | None, typer.Option(callback=lambda value: parse_since(value), help="an ISO 8601 time or an age (2h, 7d)")
    ] = None,
    limit: Annotated[int, typer.Option(min=1, max=500)] = 50,
    cursor: Annotated[str | None, typer.Option(help="the next page's cursor, as the last line prints it")] = None,
    server: ServerOption = None,
    as_json: JsonOption = False,
) -> None:
    """Newest first."""
    params = {"actor": actor, "action": action, "target": target, "since": since, "limit": limit, "cursor": cursor}
    with state(ctx).client(server) as client:
        page = client.get("/api/audit", params={k: v for k, v in params.items() if v is not None})
    if as_json:
        output.print_json(page)
        return
    output.print_table(_table(page["entries"]))
    if page.get("next_cursor"):
        output.print_hint(f"Older entries: crontopus audit list --cursor {page['next_cursor']}")


def _table(entries: list[dict[str, Any]]) -> Any:
    table = output.list_table("WHEN", "ACTOR", "ACTION", "TARGET", "OUTCOME", "FROM", "DETAILS")
    for entry in entries:
        actor = entry.get("actor") or entry.get("actor_id") or "-"
        kind = "" if entry["actor_type"] == "user" else f" ({entry['actor_type']})"
        details = output.key_values(dict(sorted(entry.get("details", {}).items())))
        target = escape(entry.get("target") or "-")
        table.add_row(output.short_time(entry["at"]), escape(actor + kind), entry["action"], target,
                      entry["outcome"], entry.get("source") or "-", escape(details))  # fmt: skip
    return table
