"""`crontopus jobs`: the jobs on the server (`list`, `show`, `create`, `delete`; each change is a
commit in the team's repository) and offline checks of manifests (`validate`, `plan`)."""

from __future__ import annotations

import itertools
import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.markup import escape
from rich.table import Table
from rich.text import Text
from ruamel.yaml.error import YAMLError

from crontopus_cli import output
from crontopus_cli.client import ApiClient
from crontopus_cli.context import JsonOption, ServerOption, state
from crontopus_cli.errors import CliError
from crontopus_cli.labels import label_pairs
from crontopus_schemas.cron import day_rule_warning, dst_warnings, fire_times
from crontopus_schemas.manifest import JobManifest, duration_seconds
from crontopus_schemas.manifest_files import MANIFEST_SUFFIXES, read_manifest
from crontopus_schemas.manifests import LoadResult, ManifestError, load_files, yaml_reader
from crontopus_schemas.names import JOB_REF_PATTERN

app = typer.Typer(help="Jobs: list and change them on the server, check manifests offline.", no_args_is_help=True)

Paths = Annotated[
    list[Path], typer.Argument(help="manifest files, or folders holding <namespace>/<name>.yaml", exists=True)
]
OVERLAP_HORIZON = 50  # fire times looked at to find the shortest gap between runs


@app.command()
def validate(paths: Paths, as_json: JsonOption = False) -> None:
    """Check manifests: YAML, fields, schedules, time zones, namespace folders, duplicates.
    Exits 1 when anything is wrong (usable as a pre-commit hook and in CI)."""
    result = load(paths)
    warnings = [
        {"file": job.file, "line": job.line, "job": job.manifest.ref, "message": warning}
        for job in result.jobs
        if (warning := day_rule_warning(job.manifest.spec.schedule))
    ]
    if as_json:
        output.print_json(
            {"jobs": [job.manifest.ref for job in result.jobs], "errors": [vars(error) for error in result.errors],
             "warnings": warnings}
        )  # fmt: skip
    else:
        for error in result.errors:
            output.console.print(escape(str(error)), soft_wrap=True)
        for found in warnings:
            output.print_warning(f"{found['file']}:{found['line']}: {found['job']}: {found['message']}")
        summary = f"{len(result.jobs)} job(s) valid, {len(result.errors)} problem(s)"
        output.console.print(f"[red]{summary}[/red]" if result.errors else f"[green]{summary}[/green]")
    if result.errors:
        raise typer.Exit(1)


@app.command()
def plan(
    paths: Paths,
    count: Annotated[int, typer.Option("--count", "-n", min=1, max=100, help="fire times per job")] = 5,
    as_json: JsonOption = False,
) -> None:
    """Show each job's next fire times in its time zone, with DST shifts and self-overlaps."""
    result = load(paths)
    for error in result.errors:
        output.print_warning(str(error))
    now = datetime.now(UTC)
    plans = [_plan(job.manifest, now, count) for job in result.jobs]
    if as_json:
        output.print_json({"jobs": plans})
    else:
        for job_plan in plans:
            _print_plan(job_plan)
    if result.errors:
        raise typer.Exit(1)


def load(paths: list[Path]) -> LoadResult:
    """Files as given and every manifest below the given folders; a file's namespace is the
    name of the folder it is in, found from the absolute path so that `hello.yaml` typed inside
    `jobs/staging/` is in `staging` (messages still name the file as typed). A file that cannot
    be read, or is not UTF-8, is an error of that file: the others are still checked."""
    files, unreadable = [], []
    for path in paths:
        found = [path] if path.is_file() else [p for p in sorted(path.rglob("*")) if _is_manifest(p, path)]
        for file in found:
            try:
                files.append((str(file), read_manifest(file)))
            except OSError as exc:
                unreadable.append(ManifestError(str(file), None, None, f"cannot read it: {exc.strerror or exc}"))
    result = load_files(files, folder_of=lambda file: Path(file).resolve().parent.name)
    result.errors = sorted(unreadable + result.errors, key=lambda error: error.file)  # stable: lines stay in order
    return result


def _is_manifest(path: Path, root: Path) -> bool:
    hidden = any(part.startswith(".") for part in path.relative_to(root).parts)
    return path.suffix in MANIFEST_SUFFIXES and path.is_file() and not hidden


def _read(path: Path) -> str:
    try:
        return read_manifest(path)
    except OSError as exc:
        raise CliError(f"cannot read {path}: {exc}") from exc


def _plan(manifest: JobManifest, now: datetime, count: int) -> dict[str, Any]:
    spec = manifest.spec
    upcoming = fire_times(spec.schedule, spec.timezone, after=now, count=max(count, OVERLAP_HORIZON))
    warnings = sorted({fire.note for fire in upcoming if fire.note})
    warnings += [warning for warning in [day_rule_warning(spec.schedule)] if warning]
    if upcoming:
        warnings += dst_warnings(spec.schedule, spec.timezone, start=now, end=upcoming[-1].at)
    overlap = _overlap_warning(manifest, [fire.at for fire in upcoming])
    if overlap:
        warnings.append(overlap)
    return {
        "job": manifest.ref,
        "schedule": spec.schedule,
        "timezone": spec.timezone,
        "enabled": spec.enabled,
        "paused": spec.paused,
        "next": [
            {"at": fire.at.isoformat(), "local": f"{fire.at:%a %Y-%m-%d %H:%M %Z}", "note": fire.note}
            for fire in upcoming[:count]
        ],
        "warnings": warnings,
    }


def _overlap_warning(manifest: JobManifest, times: list[datetime]) -> str | None:
    spec = manifest.spec
    if not spec.timeout or len(times) < 2:
        return None
    shortest = min((b - a).total_seconds() for a, b in itertools.pairwise(times))
    timeout = duration_seconds(spec.timeout)
    if timeout <= shortest:
        return None
    effect = {"forbid": "a run still going skips the next", "replace": "a new run stops the one still going",
              "allow": "runs can overlap"}[spec.concurrency]  # fmt: skip
    return f"timeout {spec.timeout} is longer than the shortest gap between runs ({int(shortest)}s): {effect}"


def _print_plan(job_plan: dict[str, Any]) -> None:
    state = (
        "" if job_plan["enabled"] and not job_plan["paused"] else (" (paused)" if job_plan["paused"] else " (disabled)")
    )
    header = f"[bold]{escape(job_plan['job'])}[/bold]{state}  {escape(job_plan['schedule'])}  {job_plan['timezone']}"
    output.console.print(header, soft_wrap=True)
    table = Table(box=None, show_header=False, pad_edge=False)
    table.add_column()
    table.add_column()
    for fire in job_plan["next"]:
        table.add_row(f"  {fire['local']}", escape(fire["note"] or ""))
    for warning in job_plan["warnings"]:
        table.add_row("  [yellow]warning[/yellow]", escape(warning))
    output.print_table(table)


# --- the jobs on the server ---------------------------------------------------------------------

JOB_REF = re.compile(JOB_REF_PATTERN)
SHORT_SHA = 7


def _job_ref(value: str) -> str:
    if not JOB_REF.match(value):
        raise typer.BadParameter(f"{value!r} is not <namespace>/<name>, e.g. production/backup")
    return value


JobRef = Annotated[str, typer.Argument(callback=_job_ref, help="<namespace>/<name>, e.g. production/backup")]


@app.command("list")
def list_jobs(
    ctx: typer.Context,
    namespace: Annotated[str | None, typer.Option("--namespace", "-n", help="Only this namespace.")] = None,
    label: Annotated[
        list[str] | None,
        typer.Option("--label", "-l", callback=label_pairs, help="key=value; repeat: all must match."),
    ] = None,
    server: ServerOption = None,
    as_json: JsonOption = False,
) -> None:
    """List the jobs at the repository's synced commit."""
    params: dict[str, Any] = {"namespace": namespace, "label": label or None}
    with state(ctx).client(server) as client:
        listed = client.get("/api/jobs", params={k: v for k, v in params.items() if v is not None})
        # A manifest that does not load has no job to list: say so, or its jobs vanish unseen.
        problems = [] if as_json else client.get("/api/gitops/repository").get("errors") or []
    if as_json:
        output.print_json(listed)
        return
    found = listed.get("jobs") or []
    if not found:
        output.console.print("No jobs match these filters." if namespace or label else "No jobs yet.")
    else:
        output.print_table(_jobs_table(found))
    if problems:
        files = len({problem.get("file") for problem in problems})
        output.print_warning(
            f"{files} manifest file(s) did not load, so their jobs are missing: crontopus jobs problems"
        )


@app.command("problems")
def list_problems(ctx: typer.Context, server: ServerOption = None, as_json: JsonOption = False) -> None:
    """What did not load at the repository's synced commit: each manifest's file, line, field
    and why (the other jobs loaded), and the last sync's error."""
    with state(ctx).client(server) as client:
        repository = client.get("/api/gitops/repository")
    problems, sync_error = repository.get("errors") or [], repository.get("last_error")
    if as_json:
        output.print_json({"errors": problems, "last_error": sync_error})
        return
    if sync_error:
        output.print_error(f"the last sync failed: {sync_error}")
    for problem in problems:
        where = ":".join(str(part) for part in (problem.get("file"), problem.get("line")) if part is not None)
        field = f"{problem['field']}: " if problem.get("field") else ""
        output.console.print(f"{escape(where)}: {escape(field + str(problem.get('message')))}", soft_wrap=True)
    if not problems and not sync_error:
        output.console.print(f"Every manifest at {_short(repository.get('head_commit'))} loaded.")


def _jobs_table(found: list[dict[str, Any]]) -> Table:
    with_status = any(job.get("last_status") for job in found)
    columns = ["JOB", "SCHEDULE", "TIMEZONE", "STATE", *(["LAST STATUS"] if with_status else []), "COMMIT"]
    table = output.list_table(*columns, no_wrap=set(columns) - {"JOB"})
    for job in found:
        status = [output.status_text(job.get("last_status"))] if with_status else []
        table.add_row(escape(str(job.get("job"))), escape(str(job.get("schedule"))), escape(str(job.get("timezone"))),
                      _state(job), *status, _short(job.get("commit")))  # fmt: skip
    return table


def _state(job: dict[str, Any]) -> Text:
    if not job.get("enabled", True):
        return Text("disabled", style="dim")
    if job.get("paused"):
        return Text("paused", style="yellow")
    return Text("enabled")


def _short(sha: str | None) -> str:
    return sha[:SHORT_SHA] if sha else output.NONE


@app.command("show")
def show_job(ctx: typer.Context, job: JobRef, server: ServerOption = None, as_json: JsonOption = False) -> None:
    """Show a job: its settings, its manifest as committed, and the commits that changed it."""
    with state(ctx).client(server) as client:
        detail = client.get(f"/api/jobs/{job}")
    if as_json:
        output.print_json(detail)
        return
    output.print_table(output.details_table(_job_rows(detail)))
    output.console.print("\n[bold]Manifest[/bold]")
    output.console.print(Text(str(detail.get("yaml") or "").rstrip("\n")), soft_wrap=True)
    output.console.print("\n[bold]History[/bold]")
    output.print_table(_history_table(detail.get("history") or []))


def _job_rows(detail: dict[str, Any]) -> list[tuple[str, str | Text]]:
    labels = output.key_values(detail.get("labels") or {})
    target = ((detail.get("manifest") or {}).get("spec") or {}).get("target") or {}
    wanted = output.key_values(target.get("matchLabels") or {})
    return [
        ("Job", str(detail.get("job"))),
        ("Schedule", str(detail.get("schedule"))),
        ("Time zone", str(detail.get("timezone"))),
        ("State", _state(detail)),
        ("Command", str(detail.get("command"))),
        ("Labels", labels or output.NONE),
        ("Target", f"agents labelled {wanted}" if wanted else "every agent"),
        ("Last status", output.status_text(detail.get("last_status"))),
        ("Ping URL", detail.get("ping_url") or output.NONE),
        ("File", str(detail.get("file"))),
        ("Commit", str(detail.get("commit"))),
    ]


def _history_table(history: list[dict[str, Any]]) -> Table:
    table = output.list_table("COMMIT", "AUTHOR", "WHEN", "MESSAGE", no_wrap={"COMMIT", "AUTHOR", "WHEN"})
    for commit in history:
        title = str(commit.get("message")).split("\n")[0]
        when = output.short_time(commit.get("committed_at"))
        table.add_row(_short(commit.get("sha")), escape(str(commit.get("author"))), when, escape(title))
    return table


@app.command("create")
def create_job(
    ctx: typer.Context,
    file: Annotated[Path, typer.Argument(help="a manifest with one job", exists=True, dir_okay=False)],
    message: Annotated[str | None, typer.Option("--message", "-m", help="Added to the commit message.")] = None,
    server: ServerOption = None,
    as_json: JsonOption = False,
) -> None:
    """Add a job: checked here first, then committed as `<namespace>/<name>.yaml` by the server."""
    text, ref = _checked_single_job(file)
    with state(ctx).client(server) as client:
        try:
            created = client.post("/api/jobs", json={"manifest": text, "message": message})
        except CliError as refused:
            raise _create_refused(client, ref, refused) from None
    if as_json:
        output.print_json(created)
        return
    output.console.print(f"Created {escape(created['job'])} in commit {created['commit']}.", soft_wrap=True)


def _create_refused(client: ApiClient, ref: str, refused: CliError) -> CliError:
    """The server refuses a job that exists with "update it instead", and the CLI has no update:
    say what does change a job. Any other refusal (409 too for a file holding other jobs) stands."""
    if refused.status != 409:
        return refused
    try:
        existing = client.get(f"/api/jobs/{ref}")
    except CliError:
        return refused
    return CliError(
        f"{ref} already exists (in {existing['file']}), and `jobs create` only adds jobs. To change it, edit "
        f"that file in the team's Git repository, or PUT the whole manifest to /api/jobs/{ref} with "
        f"base_commit={existing['commit']}"
    )


def _checked_single_job(file: Path) -> tuple[str, str]:
    """The file's text and its job's <namespace>/<name>, after the same checks the server makes.
    The server files the job under `<namespace>/<name>.yaml` wherever it lies here, so it is
    checked under that name."""
    text = _read(file)
    loaded = load_files([(_server_path(text), text)])
    for error in loaded.errors:
        output.console.print(
            escape(str(ManifestError(str(file), error.line, error.field, error.message))), soft_wrap=True
        )
    if loaded.errors:
        raise CliError(f"{file}: not created, {len(loaded.errors)} problem(s)")
    if len(loaded.jobs) != 1:
        raise CliError(f"{file}: holds {len(loaded.jobs)} jobs; create them one file at a time")
    return text, loaded.jobs[0].manifest.ref


def _server_path(text: str) -> str:
    try:
        first = next(iter(yaml_reader().load_all(text)), None)
    except YAMLError:
        return "manifest.yaml"  # the check reports the YAML error itself
    metadata = first.get("metadata") if isinstance(first, dict) else None
    if not isinstance(metadata, dict):
        return "manifest.yaml"
    return f"{metadata.get('namespace')}/{metadata.get('name')}.yaml"


@app.command("delete")
def delete_job(
    ctx: typer.Context,
    job: JobRef,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation.")] = False,
    message: Annotated[str | None, typer.Option("--message", "-m", help="Added to the commit message.")] = None,
    server: ServerOption = None,
) -> None:
    """Remove a job (a commit deleting its file). Refused if the job changed since it was read."""
    with state(ctx).client(server) as client:
        current = client.get(f"/api/jobs/{job}")
        if not yes:
            typer.confirm(f"Delete {job} (as of commit {_short(current['commit'])})?", abort=True, err=True)
        params = {"base_commit": current["commit"]}
        deleted = client.request("DELETE", f"/api/jobs/{job}", params=params, json={"message": message})
    output.console.print(f"Deleted {escape(job)} in commit {deleted['commit']}.", soft_wrap=True)
