"""`crontopus agents`: the hosts that run your jobs, and tokens to enroll new ones."""

from __future__ import annotations

from typing import Annotated, Any

import typer
from rich.markup import escape
from rich.table import Table
from rich.text import Text

from crontopus_cli import output
from crontopus_cli.commands.runs import job_ref
from crontopus_cli.context import JsonOption, ServerOption, state

app = typer.Typer(help="List, inspect and revoke agents; create enrollment tokens.", no_args_is_help=True)

STATUS_STYLES = {"online": "green", "offline": "yellow", "revoked": "dim"}


@app.command("list")
def list_agents(
    ctx: typer.Context,
    job: Annotated[
        str | None,
        typer.Option(
            "--job", callback=job_ref, help="Only the agents that have this job installed: <namespace>/<name>."
        ),
    ] = None,
    server: ServerOption = None,
    as_json: JsonOption = False,
) -> None:
    """Every agent of your team: online or not, its scheduler and the commit it applied."""
    with state(ctx).client(server) as client:
        agents = client.get("/api/agents", params={"job": job} if job else None)
    if as_json:
        output.print_json(agents)
        return
    if job and not agents["agents"]:
        output.console.print(
            f"No agent has installed {escape(job)}: agents install the jobs whose target labels theirs include, "
            "at their next sync (`crontopus jobs show` shows its target, `crontopus agents show` an agent's labels)"
        )
        return
    output.print_table(_agents_table(agents["agents"]))


@app.command()
def show(
    ctx: typer.Context,
    agent_id: Annotated[str, typer.Argument(help="the id shown by `agents list`")],
    server: ServerOption = None,
    as_json: JsonOption = False,
) -> None:
    """One agent in detail: last sync, installed jobs, drift it repaired and per-job errors."""
    with state(ctx).client(server) as client:
        agent = client.get(f"/api/agents/{agent_id}")
    if as_json:
        output.print_json(agent)
        return
    output.print_table(output.details_table(_details(agent)))


@app.command()
def revoke(
    ctx: typer.Context,
    agent_id: Annotated[str, typer.Argument(help="the id shown by `agents list`")],
    server: ServerOption = None,
) -> None:
    """Revoke an agent: NATS refuses it from now on. Its scheduler entries stay on the host."""
    with state(ctx).client(server) as client:
        agent = client.request("DELETE", f"/api/agents/{agent_id}")
    output.console.print(f"Revoked agent [bold]{escape(agent['name'])}[/bold] ({agent['id']}).")


@app.command("enrollment-token")
def enrollment_token(
    ctx: typer.Context,
    ttl: Annotated[int, typer.Option(help="seconds the token stays valid")] = 3600,
    uses: Annotated[int, typer.Option(help="how many agents it may enroll")] = 1,
    server: ServerOption = None,
    as_json: JsonOption = False,
) -> None:
    """A token for `crontopus-agent enroll --token ...` (shown once)."""
    with state(ctx).client(server) as client:
        created = client.post("/api/agents/enrollment-tokens", json={"ttl_seconds": ttl, "max_uses": uses})
    if as_json:
        output.print_json(created)
        return
    output.console.print(
        f"Enrollment token for {uses} agent(s), valid until {output.full_time(created['expires_at'])}:"
    )
    typer.echo(created["token"])
    output.print_hint(f"on the host: crontopus-agent enroll --server {state(ctx).server(server)} --token <token>")


def _status(agent: dict[str, Any]) -> Text:
    return Text(agent["status"], style=STATUS_STYLES.get(agent["status"], ""))


def _agents_table(agents: list[dict[str, Any]]) -> Table:
    table = output.list_table("ID", "NAME", "STATUS", "SCHEDULER", "COMMIT", "JOBS", "LAST SEEN", "PROBLEMS")
    for agent in agents:
        problems = len(agent["errors"]) + (1 if agent["sync_error"] else 0)
        table.add_row(
            agent["id"], escape(agent["name"]), _status(agent), agent["scheduler"] or "-",
            (agent["applied_commit"] or "-")[:12], str(len(agent["jobs"])),
            output.short_time(agent["last_seen_at"]), str(problems) if problems else "",
        )  # fmt: skip
    return table


def _details(agent: dict[str, Any]) -> list[tuple[str, str | Text]]:
    labels = output.key_values(dict(sorted(agent["labels"].items()))) or output.NONE
    drift = "; ".join(f"{d['ref']} ({d['kind']})" for d in agent["drift"]) or "none"
    return [
        ("id", agent["id"]), ("name", escape(agent["name"])), ("status", _status(agent)),
        ("host", escape(f"{agent['hostname']} ({agent['platform']})")), ("version", agent["version"] or "-"),
        ("labels", escape(labels)), ("scheduler", agent["scheduler"] or "-"),
        ("applied commit", agent["applied_commit"] or "-"), ("last sync", output.full_time(agent["last_sync_at"])),
        ("sync error", escape(agent["sync_error"] or "none")), ("last seen", output.full_time(agent["last_seen_at"])),
        ("jobs", escape(", ".join(agent["jobs"]) or "none")), ("drift repaired", escape(drift)),
        ("job errors", escape("; ".join(agent["errors"]) or "none")),
        ("spooled check-ins", f"{agent['spool_pending']} waiting, {agent['spool_dropped']} dropped"),
        ("enrolled", output.full_time(agent["enrolled_at"])),
    ]  # fmt: skip
