"""Everything that prints: Rich tables for people, plain JSON for scripts, errors on stderr."""

from __future__ import annotations

import itertools
import json
from collections.abc import Collection, Iterable, Mapping
from datetime import datetime
from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.measure import Measurement
from rich.table import Table
from rich.text import Text

# Console() resolves sys.stdout/sys.stderr when writing, so test runners that swap them still capture.
console = Console(highlight=False)
err_console = Console(stderr=True, highlight=False)

STATUS_STYLES = {"success": "green", "failure": "bold red", "timeout": "yellow", "running": "cyan", "log": "dim"}
NONE = "-"
DURATION_UNITS = [("d", 86400), ("h", 3600), ("m", 60), ("s", 1)]


def print_json(data: Any) -> None:
    """Machine-readable output: exactly the JSON, nothing else, never wrapped or coloured."""
    console.file.write(json.dumps(data, indent=2, ensure_ascii=False) + "\n")
    console.file.flush()


def print_error(message: str) -> None:
    err_console.print(f"[red]error:[/red] {escape(message)}", soft_wrap=True)


def print_warning(message: str) -> None:
    err_console.print(f"[yellow]warning:[/yellow] {escape(message)}", soft_wrap=True)


def print_hint(message: str) -> None:
    err_console.print(Text(message, style="dim"), soft_wrap=True)


def print_table(table: Table) -> None:
    """In a terminal, fit the screen; in a pipe or file, never cut a cell (grep must find it)."""
    if console.is_terminal:
        console.print(table)
        return
    needed = Measurement.get(console, console.options.update_width(10_000), table).maximum
    # Console.print(width=...) is capped at the console's width, so render on a wide enough one.
    Console(file=console.file, width=max(needed, console.width), highlight=False).print(table)


def status_text(status: str | None) -> Text:
    return Text(status or NONE, style=STATUS_STYLES.get(status or "", ""))


def human_duration(ms: int | float | None) -> str:
    """450ms, 2.5s, 45s, 1m 30s, 2h 5m, 3d 4h: the two largest units, enough to compare runs."""
    if ms is None:
        return NONE
    if ms < 1000:
        return f"{int(ms)}ms"
    if ms < 10_000:
        return f"{ms / 1000:.1f}s"
    seconds = int(ms // 1000)
    for (big, big_size), (small, small_size) in itertools.pairwise(DURATION_UNITS):
        if seconds >= big_size:
            major, rest = divmod(seconds, big_size)
            minor = rest // small_size
            return f"{major}{big} {minor}{small}" if minor else f"{major}{big}"
    return f"{seconds}s"


def parse_time(value: str | None) -> datetime | None:
    if not value:
        return None
    try:
        return datetime.fromisoformat(value)
    except ValueError:
        return None


def short_time(value: str | None, *, now: datetime | None = None) -> str:
    """Local time, as short as stays unambiguous: 14:03:22 today, Mar 05 14:03 this year."""
    moment = parse_time(value)
    if moment is None:
        return value or NONE
    local = moment.astimezone()  # naive values are taken as local, which is what a user expects
    now = (now or datetime.now()).astimezone()
    if local.date() == now.date():
        return local.strftime("%H:%M:%S")
    if local.year == now.year:
        return local.strftime("%b %d %H:%M")
    return local.strftime("%Y-%m-%d %H:%M")


def full_time(value: str | None) -> str:
    moment = parse_time(value)
    if moment is None:
        return value or NONE
    return moment.astimezone().strftime("%Y-%m-%d %H:%M:%S %Z").strip()


def human_size(size: int | None) -> str:
    if size is None:
        return NONE
    for unit in ("B", "KiB", "MiB"):
        if size < 1024 or unit == "MiB":
            return f"{size} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024  # type: ignore[assignment]
    return NONE  # unreachable


def key_values(pairs: Mapping[str, Any]) -> str:
    """Labels and the like as the manifests write them: ``team=data, tier=1`` ('' for none)."""
    return ", ".join(f"{key}={value}" for key, value in pairs.items())


def list_table(*columns: str, no_wrap: Collection[str] = ()) -> Table:
    """The borderless table every `list` command prints, with these column headers; the columns
    in ``no_wrap`` are never wrapped."""
    table = Table(box=None, header_style="bold", pad_edge=False)
    for column in columns:
        table.add_column(column, no_wrap=column in no_wrap)
    return table


def runs_table(runs: Iterable[Mapping[str, Any]]) -> Table:
    table = list_table(
        "RUN ID", "JOB", "STATUS", "STARTED", "DURATION", "EXIT", "SOURCE",
        no_wrap={"RUN ID", "STATUS", "STARTED", "DURATION"},
    )  # fmt: skip
    for run in runs:
        table.add_row(
            escape(str(run.get("run_id", NONE))),
            escape(str(run.get("job", NONE))),
            status_text(run.get("status")),
            short_time(run.get("started_at") or run.get("finished_at")),
            human_duration(run.get("duration_ms")),
            _or_none(run.get("exit_code")),
            escape(_or_none(run.get("source"))),
        )
    return table


def details_table(rows: Iterable[tuple[str, str | Text]]) -> Table:
    """Label/value pairs, one per line, for `show` and `whoami`."""
    table = Table.grid(padding=(0, 2))
    table.add_column(style="bold")
    table.add_column()
    for label, value in rows:
        table.add_row(label, value if isinstance(value, Text) else Text(value))
    return table


def _or_none(value: Any) -> str:
    return NONE if value is None else str(value)
