"""`crontopus alerts`: incidents, the team's alert rules, notification channels."""

from __future__ import annotations

import json
from enum import StrEnum
from typing import Annotated, Any

import typer
from rich.markup import escape
from rich.table import Table
from rich.text import Text

from crontopus_cli import output
from crontopus_cli.context import JsonOption, ServerOption, state
from crontopus_cli.errors import CliError
from crontopus_cli.labels import as_dict, label_pairs

app = typer.Typer(help="Incidents, alert rules and notification channels.", no_args_is_help=True)
incidents = typer.Typer(help="What went wrong: list, show, acknowledge, resolve.", no_args_is_help=True)
rules = typer.Typer(help="The team's default rules (a job's spec.monitor overrides them).", no_args_is_help=True)
channels = typer.Typer(help="Where notifications go (any Apprise URL).", no_args_is_help=True)
silences = typer.Typer(help="Maintenance windows and snoozes: record incidents, notify nobody.", no_args_is_help=True)
app.add_typer(incidents, name="incidents")
app.add_typer(silences, name="silences")
app.add_typer(rules, name="rules")
app.add_typer(channels, name="channels")

STATUS_STYLES = {"open": "red", "acknowledged": "yellow", "resolved": "green"}
IdArgument = Annotated[str, typer.Argument(help="the id shown by the list command")]


class IncidentStatus(StrEnum):
    open = "open"
    acknowledged = "acknowledged"
    resolved = "resolved"


# --- incidents ---------------------------------------------------------------------------------


@incidents.command("list")
def list_incidents(
    ctx: typer.Context,
    status: Annotated[
        list[IncidentStatus] | None,
        typer.Option(case_sensitive=False, help="only this status; repeat for any of them"),
    ] = None,
    job: Annotated[str | None, typer.Option(help="namespace/name")] = None,
    limit: Annotated[int, typer.Option(min=1, max=500)] = 50,
    server: ServerOption = None,
    as_json: JsonOption = False,
) -> None:
    """Incidents, newest first."""
    # A list is sent as the parameter repeated (status=open&status=acknowledged): the API lists any of them.
    wanted = [value.value for value in status or []]
    params = {k: v for k, v in {"status": wanted or None, "job": job, "limit": limit}.items() if v is not None}
    with state(ctx).client(server) as client:
        found = client.get("/api/incidents", params=params)
    if as_json:
        output.print_json(found)
        return
    output.print_table(_incidents_table(found["incidents"]))


@incidents.command("show")
def show_incident(
    ctx: typer.Context, incident_id: IdArgument, server: ServerOption = None, as_json: JsonOption = False
) -> None:
    """One incident: what, since when, which run and commit, who acknowledged or resolved it."""
    with state(ctx).client(server) as client:
        incident = client.get(f"/api/incidents/{incident_id}")
    if as_json:
        output.print_json(incident)
        return
    output.print_table(output.details_table(_incident_details(incident)))
    if incident.get("deliveries"):
        output.console.print()
        output.print_table(_deliveries_table(incident["deliveries"]))


@incidents.command("ack")
def acknowledge(ctx: typer.Context, incident_id: IdArgument, server: ServerOption = None) -> None:
    """Acknowledge: no more reminders or escalation for it."""
    with state(ctx).client(server) as client:
        incident = client.post(f"/api/incidents/{incident_id}/ack")
    output.console.print(f"Incident {incident['id']} is {_status(incident)}.")


@incidents.command("resolve")
def resolve(ctx: typer.Context, incident_id: IdArgument, server: ServerOption = None) -> None:
    """Resolve by hand."""
    with state(ctx).client(server) as client:
        incident = client.post(f"/api/incidents/{incident_id}/resolve")
    output.console.print(f"Incident {incident['id']} is {_status(incident)}.")


def _status(incident: dict[str, Any]) -> Text:
    return Text(incident["status"], style=STATUS_STYLES.get(incident["status"], ""))


def _incidents_table(found: list[dict[str, Any]]) -> Table:
    table = output.list_table("ID", "JOB / AGENT", "CAUSE", "STATUS", "OPENED", "DETAIL")
    for incident in found:
        subject = incident["job"] or f"agent {incident['agent_id']}"
        table.add_row(
            incident["id"], escape(subject), incident["cause"], _status(incident),
            output.short_time(incident["opened_at"]), escape(incident["detail"][:60]),
        )  # fmt: skip
    return table


def _incident_details(incident: dict[str, Any]) -> list[tuple[str, str | Text]]:
    return [
        ("id", incident["id"]), ("job", escape(incident["job"] or "-")), ("agent", incident["agent_id"] or "-"),
        ("cause", incident["cause"]), ("status", _status(incident)), ("detail", escape(incident["detail"])),
        ("run", incident["run_id"] or "-"), ("commit", incident["commit"] or "-"),
        ("silenced", "yes (maintenance or snooze)" if incident["silenced"] else "no"),
        ("opened", output.full_time(incident["opened_at"])),
        ("acknowledged", _by(incident["acknowledged_at"], incident["acknowledged_by"])),
        ("resolved", _by(incident["resolved_at"], incident["resolved_by"])),
    ]  # fmt: skip


def _deliveries_table(deliveries: list[dict[str, Any]]) -> Table:
    """The notifications sent for an incident: whether each arrived, or why not."""
    table = output.list_table("NOTIFIED", "CHANNEL", "EVENT", "STATUS", "ATTEMPTS", "LAST ERROR")
    for delivery in deliveries:
        table.add_row(
            output.short_time(delivery["sent_at"] or delivery["created_at"]),
            escape(delivery.get("channel_name") or delivery["channel_id"]),
            delivery["event"], delivery["status"], str(delivery["attempts"]), escape(delivery["last_error"] or "-"),
        )  # fmt: skip
    return table


def _by(at: str | None, who: str | None) -> str:
    return f"{output.full_time(at)} by {who}" if at else "-"


# --- rules -------------------------------------------------------------------------------------


@rules.command("show")
def show_rules(ctx: typer.Context, server: ServerOption = None, as_json: JsonOption = False) -> None:
    """The team's default rules."""
    with state(ctx).client(server) as client:
        current = client.get("/api/alert-rules")
    if as_json:
        output.print_json(current)
        return
    output.print_table(output.details_table([(key, json.dumps(value)) for key, value in current.items()]))


@rules.command("set")
def set_rules(
    ctx: typer.Context,
    settings: Annotated[list[str], typer.Argument(help="key=value, e.g. grace=10m missed=false (JSON values allowed)")],
    server: ServerOption = None,
    as_json: JsonOption = False,
) -> None:
    """Change some of the team's rules; the others stay as they are."""
    with state(ctx).client(server) as client:
        current = client.get("/api/alert-rules")
        updated = client.request("PUT", "/api/alert-rules", json={**current, **_parse_settings(settings)})
    if as_json:
        output.print_json(updated)
        return
    output.console.print("Rules updated.")


def _parse_settings(settings: list[str]) -> dict[str, Any]:
    parsed: dict[str, Any] = {}
    for item in settings:
        key, sep, raw = item.partition("=")
        if not sep or not key:
            raise typer.BadParameter(f"{item!r} is not key=value")
        try:
            parsed[key.replace("-", "_")] = json.loads(raw)
        except json.JSONDecodeError:
            parsed[key.replace("-", "_")] = raw  # a plain string such as 10m
    return parsed


# --- channels ----------------------------------------------------------------------------------


@channels.command("list")
def list_channels(ctx: typer.Context, server: ServerOption = None, as_json: JsonOption = False) -> None:
    """The team's channels (URLs masked)."""
    with state(ctx).client(server) as client:
        found = client.get("/api/channels")
    if as_json:
        output.print_json(found)
        return
    table = output.list_table("ID", "NAME", "KIND", "URL", "ROUTES", "ESCALATION")
    for channel in found["channels"]:
        routes = output.key_values(channel["match_labels"]) or "all jobs"
        table.add_row(
            channel["id"], escape(channel["name"]), channel["kind"], escape(channel["url"]), escape(routes),
            "yes" if channel["escalation"] else "",
        )  # fmt: skip
    output.print_table(table)


@channels.command("create")
def create_channel(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="a name for it, e.g. ops-slack")],
    url: Annotated[str, typer.Argument(help="an Apprise URL, e.g. slack://T000/B000/XXXX or json://host/hook")],
    label: Annotated[
        list[str] | None,
        typer.Option(
            "--label", "-l", callback=label_pairs, help="route only jobs with this label (k=v); repeat: all must match"
        ),
    ] = None,
    escalation: Annotated[bool, typer.Option(help="only for incidents not acknowledged in time")] = False,
    server: ServerOption = None,
    as_json: JsonOption = False,
) -> None:
    """Add a channel; its URL is stored encrypted."""
    body = {"name": name, "url": url, "match_labels": as_dict(label), "escalation": escalation}
    with state(ctx).client(server) as client:
        created = client.post("/api/channels", json=body)
    if as_json:
        output.print_json(created)
        return
    output.console.print(
        f"Created channel [bold]{escape(created['name'])}[/bold] ({created['id']}, {created['kind']})."
    )
    output.print_hint(f"try it: crontopus alerts channels test {created['id']}")


@channels.command("delete")
def delete_channel(ctx: typer.Context, channel_id: IdArgument, server: ServerOption = None) -> None:
    """Remove a channel."""
    with state(ctx).client(server) as client:
        client.request("DELETE", f"/api/channels/{channel_id}")
    output.console.print(f"Deleted channel {escape(channel_id)}.")


@channels.command("test")
def test_channel(
    ctx: typer.Context, channel_id: IdArgument, server: ServerOption = None, as_json: JsonOption = False
) -> None:
    """Send a test notification through a channel."""
    with state(ctx).client(server) as client:
        delivery = client.post(f"/api/channels/{channel_id}/test")
    if as_json:
        output.print_json(delivery)
        return
    output.console.print(f"Test notification queued (delivery {delivery['id']}, {delivery['status']}).")


# --- silences ----------------------------------------------------------------------------------


def covers(silence: dict[str, Any]) -> str:
    """What a silence covers, in a few words: a job, a namespace, a label selector, every job."""
    if silence.get("job"):
        return str(silence["job"])
    if silence.get("namespace"):
        return f"namespace {silence['namespace']}"
    if silence.get("match_labels"):
        return "labels " + output.key_values(silence["match_labels"])
    return "every job"


@silences.command("create")
def create_silence(
    ctx: typer.Context,
    duration: Annotated[str, typer.Option("--for", help="how long, e.g. 2h, 30m, 1h30m or 2d (at most 90 days)")],
    job: Annotated[str | None, typer.Option(help="namespace/name: only this job")] = None,
    namespace: Annotated[str | None, typer.Option("--namespace", "-n", help="every job of this namespace")] = None,
    label: Annotated[
        list[str] | None,
        typer.Option(
            "--label", "-l", callback=label_pairs, help="key=value: jobs with this label; repeat: all must match"
        ),
    ] = None,
    reason: Annotated[str, typer.Option(help="why, for the others")] = "",
    server: ServerOption = None,
    as_json: JsonOption = False,
) -> None:
    """Silence notifications from now on, for a while: one job (--job), a namespace (--namespace),
    the jobs with some labels (--label k=v ...), or, with none of them, every job of the team."""
    given = [name for name, value in (("--job", job), ("--namespace", namespace), ("--label", label)) if value]
    if len(given) > 1:
        raise CliError(f"give one of --job, --namespace or --label, not {' and '.join(given)}")
    body: dict[str, Any] = {"duration": duration, "reason": reason}
    if job:
        body["job"] = job
    if namespace:
        body["namespace"] = namespace
    if label:
        body["match_labels"] = as_dict(label)
    with state(ctx).client(server) as client:
        created = client.post("/api/silences", json=body)
    if as_json:
        output.print_json(created)
        return
    what = escape(covers(created))
    output.console.print(f"Silenced {what} until {output.full_time(created['ends_at'])} ({created['id']}).")


@silences.command("list")
def list_silences(ctx: typer.Context, server: ServerOption = None, as_json: JsonOption = False) -> None:
    """Current and upcoming silences, and what each covers."""
    with state(ctx).client(server) as client:
        found = client.get("/api/silences")
    if as_json:
        output.print_json(found)
        return
    table = output.list_table("ID", "COVERS", "FROM", "UNTIL", "REASON")
    for silence in found["silences"]:
        table.add_row(
            silence["id"], escape(covers(silence)), output.full_time(silence["starts_at"]),
            output.full_time(silence["ends_at"]), escape(silence["reason"]),
        )  # fmt: skip
    output.print_table(table)


@silences.command("delete")
def delete_silence(ctx: typer.Context, silence_id: IdArgument, server: ServerOption = None) -> None:
    """End a silence now."""
    with state(ctx).client(server) as client:
        client.request("DELETE", f"/api/silences/{silence_id}")
    output.console.print(f"Deleted silence {escape(silence_id)}.")
