"""`crontopus badges`: the team's public status badge URLs, and rotating the key that signs them."""

from __future__ import annotations

from typing import Annotated, Any

import typer
from rich.markup import escape

from crontopus_cli import output
from crontopus_cli.context import JsonOption, ServerOption, state

app = typer.Typer(help="Public status badges of your jobs, namespaces and labels (for READMEs).", no_args_is_help=True)
KINDS = ("job", "namespace", "label")


@app.command("list")
def list_badges(
    ctx: typer.Context,
    job: Annotated[str | None, typer.Option(help="only this job's badge (namespace/name)")] = None,
    kind: Annotated[str | None, typer.Option(help="job, namespace or label")] = None,
    markdown: Annotated[bool, typer.Option("--markdown", help="print the Markdown snippets only")] = False,
    server: ServerOption = None,
    as_json: JsonOption = False,
) -> None:
    """Each badge with its status and SVG URL (public: no sign-in needed to show it)."""
    if kind is not None and kind not in KINDS:
        raise typer.BadParameter(f"{kind!r}: one of job, namespace, label", param_hint="--kind")
    with state(ctx).client(server) as client:
        found = client.get("/api/badges", params={"job": job} if job else None)
    badges = [badge for badge in found["badges"] if kind is None or badge["kind"] == kind]
    if as_json:
        output.print_json({**found, "badges": badges})
        return
    if markdown:
        for badge in badges:
            typer.echo(badge["markdown"])
        return
    output.print_table(_table(badges))
    if not badges:
        output.print_hint("No badges: every job gets one (and its namespace and labels) once the team has jobs.")


@app.command("rotate")
def rotate(
    ctx: typer.Context,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation.")] = False,
    server: ServerOption = None,
    as_json: JsonOption = False,
) -> None:
    """A new badge key (owners and admins): every badge URL given out so far stops working."""
    if not yes:
        typer.confirm("Rotate the badge key? Every badge URL given out so far answers 404 from now on.", abort=True,
                      err=True)  # fmt: skip
    with state(ctx).client(server) as client:
        found = client.post("/api/badges/rotate")
    if as_json:
        output.print_json(found)
        return
    typer.echo(f"Badge key rotated: the old URLs answer 404. {len(found['badges'])} new URLs: crontopus badges list")


def _table(badges: list[dict[str, Any]]) -> Any:
    table = output.list_table("KIND", "NAME", "STATUS", "JOBS", "SVG URL", no_wrap=("SVG URL",))
    for badge in badges:
        table.add_row(badge["kind"], escape(badge["name"]), badge["status"], str(badge["jobs"]), badge["svg_url"])
    return table
