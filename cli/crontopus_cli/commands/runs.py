"""`crontopus runs`: the run history (one row per run: its start and finish merged)."""

from __future__ import annotations

import re
import shlex
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Annotated, Any
from urllib.parse import quote

import typer
from rich.markup import escape
from rich.text import Text

from crontopus_cli import output
from crontopus_cli.client import ApiClient
from crontopus_cli.context import JsonOption, ServerOption, state

app = typer.Typer(help="Run history: what ran, when, and how it went.", no_args_is_help=True)

MAX_PAGE_SIZE = 500
JOB_REF = re.compile(r"^[^/\s]+/[^/\s]+$")
RELATIVE = re.compile(r"^(\d+)\s*([smhdw])$")
RELATIVE_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}


class RunStatus(StrEnum):
    running = "running"
    success = "success"
    failure = "failure"
    timeout = "timeout"
    log = "log"


def job_ref(value: str | None) -> str | None:
    if value is not None and not JOB_REF.match(value):
        raise typer.BadParameter(f"{value!r} is not <namespace>/<name>, e.g. production/backup")
    return value


def parse_since(value: str | None, *, now: datetime | None = None) -> str | None:
    """An ISO 8601 date or time (local unless it says otherwise) or a relative age: 30m, 2h, 7d."""
    if value is None:
        return None
    value = value.strip()
    if match := RELATIVE.match(value):
        amount, unit = int(match[1]), RELATIVE_UNITS[match[2]]
        moment = (now or datetime.now().astimezone()) - timedelta(**{unit: amount})
    else:
        try:
            moment = datetime.fromisoformat(value)
        except ValueError:
            raise typer.BadParameter(
                f"{value!r} is neither an ISO 8601 time (2024-05-01, 2024-05-01T14:00) nor an age (30m, 2h, 7d)"
            ) from None
    return moment.astimezone().isoformat()  # naive times are the user's local time


def _since_option(value: str | None) -> str | None:
    return parse_since(value)


@app.command("list")
def list_runs(
    ctx: typer.Context,
    job: Annotated[
        str | None, typer.Option("--job", callback=job_ref, help="Only this job: <namespace>/<name>.")
    ] = None,
    status: Annotated[
        RunStatus | None, typer.Option("--status", case_sensitive=False, help="Only this status.")
    ] = None,
    since: Annotated[
        str | None,
        typer.Option(
            "--since", callback=_since_option, help="Only runs since an ISO 8601 time or an age (30m, 2h, 7d)."
        ),
    ] = None,
    limit: Annotated[int, typer.Option("--limit", min=1, max=MAX_PAGE_SIZE, help="Runs per page.")] = 50,
    cursor: Annotated[str | None, typer.Option("--cursor", help="Continue after a previous page.")] = None,
    all_pages: Annotated[bool, typer.Option("--all", help="Follow the cursor through every page.")] = False,
    server: ServerOption = None,
    as_json: JsonOption = False,
) -> None:
    """List runs, newest first."""
    params = {"job": job, "status": status.value if status else None, "since": since, "limit": limit}
    with state(ctx).client(server) as client:
        runs, next_cursor = _fetch(client, params, cursor=cursor, all_pages=all_pages)
    if as_json:
        output.print_json({"runs": runs, "next_cursor": next_cursor})
        return
    if not runs:
        filtered = job or status or since or cursor
        output.console.print("No runs match these filters." if filtered else "No runs yet.")
    else:
        output.print_table(output.runs_table(runs))
    if next_cursor:
        output.print_hint(f"More runs: {_next_page_command(params, since, next_cursor)}  (or --all)")


def _fetch(
    client: ApiClient, params: dict[str, Any], *, cursor: str | None, all_pages: bool
) -> tuple[list[dict[str, Any]], str | None]:
    runs: list[dict[str, Any]] = []
    seen: set[str] = set()
    while True:
        page = client.get("/api/runs", params={k: v for k, v in {**params, "cursor": cursor}.items() if v is not None})
        runs.extend(page.get("runs") or [])
        cursor = page.get("next_cursor")
        # `seen` guards against a server that hands out the same cursor twice (an endless loop).
        if not all_pages or not cursor or cursor in seen:
            return runs, cursor if not all_pages else None
        seen.add(cursor)


def _next_page_command(params: dict[str, Any], since: str | None, cursor: str) -> str:
    words = ["crontopus", "runs", "list"]
    for flag, value in (("--job", params["job"]), ("--status", params["status"]), ("--since", since)):
        if value:
            words += [flag, value]
    if params["limit"] != 50:
        words += ["--limit", str(params["limit"])]
    return shlex.join([*words, "--cursor", cursor])


@app.command("show")
def show_run(
    ctx: typer.Context,
    run_id: Annotated[str, typer.Argument(help="The run's id (first column of `crontopus runs list`).")],
    server: ServerOption = None,
    as_json: JsonOption = False,
) -> None:
    """Show one run with its output."""
    with state(ctx).client(server) as client:
        run = client.get(f"/api/runs/{_path_segment(run_id)}")
    if as_json:
        output.print_json(run)
        return
    output.print_table(output.details_table(_run_rows(run)))
    _print_output(run)


def _path_segment(value: str) -> str:
    return quote(value, safe="")


def _run_rows(run: dict[str, Any]) -> list[tuple[str, str | Text]]:
    replaced = [("Replaced by", f"{run['replaced_by']} (concurrency: replace)")] if run.get("replaced_by") else []
    return [
        ("Run", str(run.get("run_id"))),
        ("Job", str(run.get("job"))),
        ("Status", output.status_text(run.get("status"))),
        ("Started", output.full_time(run.get("started_at"))),
        ("Finished", output.full_time(run.get("finished_at"))),
        ("Duration", output.human_duration(run.get("duration_ms"))),
        ("Exit code", output.NONE if run.get("exit_code") is None else str(run["exit_code"])),
        ("Source", run.get("source") or output.NONE),
        ("Commit", run.get("manifest_commit") or output.NONE),
        ("Output size", output.human_size(run.get("output_size"))),
        *replaced,
    ]


def _print_output(run: dict[str, Any]) -> None:
    text = run.get("output")
    if not text:
        output.console.print("\n[dim]No output.[/dim]")
        return
    title = "Output"
    if run.get("output_truncated"):
        title += f" (the last {output.human_size(len(text.encode()))} of {output.human_size(run.get('output_size'))})"
    output.console.print(f"\n[bold]{escape(title)}[/bold]")
    # The job's own bytes, verbatim: no markup, no highlighting, no re-wrapping.
    output.console.print(Text(text.rstrip("\n")), soft_wrap=True)
