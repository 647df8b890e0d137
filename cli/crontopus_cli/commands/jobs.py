"""`crontopus jobs`: check job manifests offline (`validate`, `plan`), before they are pushed."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.markup import escape
from rich.table import Table

from crontopus_cli import output
from crontopus_cli.context import JsonOption
from crontopus_cli.errors import CliError
from crontopus_schemas.cron import fire_times
from crontopus_schemas.manifest import JobManifest, duration_seconds
from crontopus_schemas.manifests import MANIFEST_SUFFIXES, LoadResult, load_files

app = typer.Typer(help="Job manifests: check them offline before you push.", no_args_is_help=True)

Paths = Annotated[
    list[Path], typer.Argument(help="manifest files, or folders holding <namespace>/<name>.yaml", exists=True)
]
OVERLAP_HORIZON = 50  # fire times looked at to find the shortest gap between runs


@app.command()
def validate(paths: Paths, as_json: JsonOption = False) -> None:
    """Check manifests: YAML, fields, schedules, time zones, namespace folders, duplicates.
    Exits 1 when anything is wrong (usable as a pre-commit hook and in CI)."""
    result = load(paths)
    if as_json:
        output.print_json(
            {"jobs": [job.manifest.ref for job in result.jobs], "errors": [vars(error) for error in result.errors]}
        )
    else:
        for error in result.errors:
            output.console.print(escape(str(error)), soft_wrap=True)
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
    name of the folder it is in."""
    files = []
    for path in paths:
        found = [path] if path.is_file() else [p for p in sorted(path.rglob("*")) if _is_manifest(p, path)]
        files += [(str(file), _read(file)) for file in found]
    return load_files(files)


def _is_manifest(path: Path, root: Path) -> bool:
    hidden = any(part.startswith(".") for part in path.relative_to(root).parts)
    return path.suffix in MANIFEST_SUFFIXES and path.is_file() and not hidden


def _read(path: Path) -> str:
    try:
        return path.read_text()
    except (OSError, UnicodeDecodeError) as exc:
        raise CliError(f"cannot read {path}: {exc}") from exc


def _plan(manifest: JobManifest, now: datetime, count: int) -> dict[str, Any]:
    spec = manifest.spec
    upcoming = fire_times(spec.schedule, spec.timezone, after=now, count=max(count, OVERLAP_HORIZON))
    warnings = sorted({fire.note for fire in upcoming if fire.note})
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
