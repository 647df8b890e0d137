"""The crontab backend: the agent's jobs as entries in one user's crontab (``crontab -l`` / ``crontab -``).

What the agent owns, and nothing else:

- a header line, written once above the first entry it appends::

      # crontopus: entries below this line are managed by crontopus-agent; edit the job manifests in Git

- each entry: a marker comment, then the entry on the very next line::

      # crontopus: job=<ns/name> fingerprint=<AgentJob.fingerprint> sha=<first 12 hex of sha256(entry line)>
      <5 fields> <crontopus-agent exec --home H [--guard] ns/name -- command args...>

  A paused job's entry is written commented out (``# `` in front), still under its marker, so
  users see it. ``%`` is escaped as ``\\%`` because cron turns a bare ``%`` into a newline.

Every other line (comments, ``MAILTO=`` and other environment lines, blank lines, the user's own
jobs, a final newline or its absence) is kept byte for byte and in place. New entries are appended
at the end of the crontab.

Drift (repaired, and reported): the marker records the sha of the line as written, so

- a line under a marker whose sha differs was edited by hand: rewritten in place, ``edited``;
- a job recorded in ``<home>/crontab-state.json`` (jobs this backend installed) with no entry
  left was deleted by hand: appended again, ``deleted``; a marker left without its line gets
  the line back in place, also ``deleted``;
- a duplicated entry is reduced to one (an intact copy wins), ``edited``;
- an owned entry for a job that is neither desired nor recorded as installed is removed, ``unknown``.

The line under a marker is taken as its entry only when its sha matches or it still runs this job
(``exec`` and the ref among its words); otherwise it is the user's line and is kept.

Parsing and planning are pure functions on text (``plan_crontab``); ``CrontabBackend`` adds the
``crontab`` subprocesses and the state file.
"""

from __future__ import annotations

import hashlib
import json
import re
import shlex
import subprocess
import time
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from crontopus_agent.files import write_private
from crontopus_agent.jobs import AgentJob, exec_argv
from crontopus_agent.schedulers import zones
from crontopus_agent.schedulers.base import Drift, DriftKind, ReconcileReport, SchedulerError

# Seconds of the minute around cron's periodic check (it wakes at the top of the minute).
CRON_RELOAD_SECONDS = frozenset({58, 59, 0, 1, 2})
SAFE_SECOND = 3

HEADER = "# crontopus: entries below this line are managed by crontopus-agent; edit the job manifests in Git"
STATE_FILE = "crontab-state.json"
# Debian's cron (MAX_COMMAND = 1000) rejects a longer command part, and with it the whole crontab.
MAX_COMMAND_CHARS = 998

_MARKER = re.compile(r"# crontopus: job=(?P<ref>\S+) fingerprint=(?P<fingerprint>\S+) sha=(?P<sha>[0-9a-f]+)")


# --- lines and the owned items among them ---------------------------------------------------


@dataclass(frozen=True)
class Entry:
    """What the agent wants under one marker."""

    fingerprint: str
    line: str  # the entry line as written, without its newline


@dataclass(frozen=True)
class Marker:
    ref: str
    fingerprint: str
    sha: str


@dataclass(frozen=True)
class Foreign:
    text: str  # the user's line, with its newline if it had one


@dataclass(frozen=True)
class Header:
    text: str


@dataclass(frozen=True)
class Owned:
    """A marker found in the crontab and the line under it (None: that line is gone)."""

    marker: Marker
    line: str | None
    text: str  # marker and line exactly as found

    @property
    def intact(self) -> bool:
        return self.line is not None and line_sha(self.line) == self.marker.sha


Item = Foreign | Header | Owned


def line_sha(line: str) -> str:
    return hashlib.sha256(line.encode("utf-8", "surrogateescape")).hexdigest()[:12]


def marker_line(ref: str, entry: Entry) -> str:
    return f"# crontopus: job={ref} fingerprint={entry.fingerprint} sha={line_sha(entry.line)}"


def render_block(ref: str, entry: Entry) -> str:
    return f"{marker_line(ref, entry)}\n{entry.line}\n"


def split_lines(text: str) -> list[str]:
    """Lines with their ``\\n`` (the last one may lack it); ``"".join`` gives ``text`` back.
    Only ``\\n`` ends a line for cron, unlike ``str.splitlines``."""
    lines = [f"{line}\n" for line in text.split("\n")]
    lines[-1] = lines[-1][:-1]
    return lines if lines[-1] else lines[:-1]


def parse_marker(body: str) -> Marker | None:
    found = _MARKER.fullmatch(body)
    return Marker(found["ref"], found["fingerprint"], found["sha"]) if found else None


def parse_crontab(text: str) -> list[Item]:
    lines = split_lines(text)
    items: list[Item] = []
    at = 0
    while at < len(lines):
        item, used = _parse_at(lines, at)
        items.append(item)
        at += used
    return items


def _parse_at(lines: list[str], at: int) -> tuple[Item, int]:
    body = lines[at].removesuffix("\n")
    if body == HEADER:
        return Header(lines[at]), 1
    marker = parse_marker(body)
    if marker is None:
        return Foreign(lines[at]), 1
    if at + 1 < len(lines) and _belongs_to(lines[at + 1].removesuffix("\n"), marker):
        return Owned(marker, lines[at + 1].removesuffix("\n"), lines[at] + lines[at + 1]), 2
    return Owned(marker, None, lines[at]), 1


def _belongs_to(line: str, marker: Marker) -> bool:
    if line_sha(line) == marker.sha:
        return True
    if line == HEADER or parse_marker(line):
        return False
    # An edited entry still runs the job; a line that does not is the user's (never swallow it).
    words = line.split()
    return "exec" in words and shlex.quote(marker.ref) in words


def owned_entries(text: str) -> dict[str, str]:
    """ref -> fingerprint of the marker, for each owned entry whose line is present."""
    found: dict[str, str] = {}
    for item in parse_crontab(text):
        if isinstance(item, Owned) and item.line is not None:
            found.setdefault(item.marker.ref, item.marker.fingerprint)
    return found


# --- rendering a job --------------------------------------------------------------------------


def render_entry(job: AgentJob, *, home: Path, agent_command: Sequence[str] | None = None) -> Entry:
    """The entry for ``job``, or ValueError saying why cron cannot hold it."""
    on_host_clock = zones.runs_on_host_clock(job.timezone)
    fields = job.schedule if on_host_clock else zones.host_fields(job.schedule, job.timezone)
    command = cron_command(entry_argv(home, job, guard=not on_host_clock, agent_command=agent_command))
    if len(command) > MAX_COMMAND_CHARS:
        raise ValueError(f"its crontab command is {len(command)} characters; cron takes at most {MAX_COMMAND_CHARS}")
    line = f"{fields} {command}"
    return Entry(job.fingerprint, f"# {line}" if job.paused else line)


def entry_argv(home: Path, job: AgentJob, *, guard: bool, agent_command: Sequence[str] | None = None) -> list[str]:
    """``jobs.exec_argv``, with another program in place of the agent when ``agent_command`` is given."""
    if agent_command is None:
        return exec_argv(home, job, guard=guard)
    flags = ["--guard"] if guard else []
    return [*agent_command, "exec", "--home", str(home), *flags, job.ref, "--", job.command, *job.args]


def cron_command(argv: Sequence[str]) -> str:
    """The command part of a crontab line that makes ``/bin/sh`` run exactly ``argv``."""
    for arg in argv:
        if "\n" in arg or "\r" in arg or "\0" in arg:
            raise ValueError(f"argument {arg!r} contains a line break or NUL, which a crontab line cannot hold")
    return _escape_percent(" ".join(shlex.quote(arg) for arg in argv))


def _escape_percent(command: str) -> str:
    # cron takes "\%" for a literal %, but a backslash already in front of the % would pair with
    # cron's escape; shlex.quote puts any backslash inside '...', so close and reopen the quote.
    return re.sub(r"(\\?)%", lambda found: (found[1] + "''" if found[1] else "") + "\\%", command)


# --- planning: the new crontab and what changed ----------------------------------------------


def plan_crontab(
    current: str, desired: Mapping[str, Entry], *, known: Collection[str] = (), keep: Collection[str] = ()
) -> tuple[str, ReconcileReport]:
    """The crontab holding exactly ``desired`` as owned entries, and the report of the changes.

    ``known``: refs this backend installed before (a desired one now missing was deleted by hand).
    ``keep``: refs whose owned entries stay exactly as they are (their job could not be rendered).
    """
    planner = _Planner(desired, known=set(known), keep=set(keep))
    return planner.plan(parse_crontab(current))


class _Planner:
    def __init__(self, desired: Mapping[str, Entry], *, known: set[str], keep: set[str]) -> None:
        self.desired = {ref: entry for ref, entry in desired.items() if ref not in keep}
        self.known = known
        self.keep = keep
        self.report = ReconcileReport(backend="crontab")
        self.written: set[str] = set()
        self.owned_left = 0

    def plan(self, items: list[Item]) -> tuple[str, ReconcileReport]:
        chosen = _choose_survivors(items)
        pieces = [self._visit(item, chosen) for item in items]
        appended = [self._append(ref) for ref in sorted(set(self.desired) - self.written)]
        headers = [item.text for item in items if isinstance(item, Header)]
        keep_header = bool(headers) and bool(self.owned_left or appended)
        text = _assemble(pieces, headers[0] if keep_header else "")
        text = _append_entries(text, appended, with_header=not keep_header)
        for refs in (self.report.added, self.report.updated, self.report.removed):
            refs.sort()
        return text, self.report

    def _visit(self, item: Item, chosen: Mapping[str, Owned]) -> str | None:
        """The text that replaces ``item``; None marks where a header was."""
        if isinstance(item, Foreign):
            return item.text
        if isinstance(item, Header):
            return None
        ref = item.marker.ref
        if ref in self.keep:
            self.owned_left += 1
            return item.text
        if ref not in self.desired:
            self._remove(ref)
            return ""
        if chosen[ref] is not item:
            self._drift(
                ref,
                "edited",
                "a duplicated entry was removed" if item.line is not None else "a stray marker was removed",
            )
            return ""
        self.owned_left += 1
        return self._restore(item)

    def _restore(self, item: Owned) -> str:
        ref, entry = item.marker.ref, self.desired[item.marker.ref]
        if item.line is None:
            self._drift(ref, "deleted", "its line under the marker was deleted")
        elif not item.intact:
            self._drift(ref, "edited", f"the line read {item.line!r}")
        if item.marker.fingerprint != entry.fingerprint:
            self.report.updated.append(ref)
        self.written.add(ref)
        return render_block(ref, entry)

    def _append(self, ref: str) -> str:
        if ref in self.known:
            self._drift(ref, "deleted", "its entry was deleted from the crontab")
        else:
            self.report.added.append(ref)
        return render_block(ref, self.desired[ref])

    def _remove(self, ref: str) -> None:
        if ref in self.report.removed:
            return
        self.report.removed.append(ref)
        if ref not in self.known:
            self._drift(ref, "unknown", "an owned entry for a job that is not desired was removed")

    def _drift(self, ref: str, kind: DriftKind, detail: str) -> None:
        self.report.drift.append(Drift(ref=ref, kind=kind, detail=detail))


def _choose_survivors(items: Iterable[Item]) -> dict[str, Owned]:
    """Per ref, the owned item that stays: the first intact one, else the first with a line, else the first."""
    chosen: dict[str, Owned] = {}
    for item in items:
        if isinstance(item, Owned) and _rank(item) < _rank(chosen.get(item.marker.ref)):
            chosen[item.marker.ref] = item
    return chosen


def _rank(item: Owned | None) -> int:
    if item is None:
        return 3
    return 0 if item.intact else 1 if item.line is not None else 2


def _assemble(pieces: Iterable[str | None], header: str) -> str:
    """Join the pieces, the first header slot holding ``header`` (the others dropped)."""
    text: list[str] = []
    for piece in pieces:
        if piece is not None:
            text.append(piece)
        else:
            text.append(header)
            header = ""
    return "".join(text)


def _append_entries(text: str, blocks: list[str], *, with_header: bool) -> str:
    if not blocks:
        return text
    if text and not text.endswith("\n"):
        text += "\n"  # the user's last line needs its end before anything follows it
    if with_header:
        gap = "" if text in ("", "\n") or text.endswith("\n\n") else "\n"
        text += f"{gap}{HEADER}\n"
    return text + "".join(blocks)


# --- the backend ---------------------------------------------------------------------------


class CrontabBackend:
    """Scheduler backend for a user's crontab, through the ``crontab`` command."""

    name = "crontab"

    def __init__(
        self,
        home: Path,
        *,
        user: str | None = None,
        crontab_command: Sequence[str] = ("crontab",),
        agent_command: Sequence[str] | None = None,
        timeout_seconds: float = 30.0,
        clock: Callable[[], datetime] = datetime.now,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.home = home
        self.clock, self.sleep = clock, sleep
        self.user = user
        self.crontab_command = tuple(crontab_command)
        self.agent_command = tuple(agent_command) if agent_command is not None else None
        self.timeout_seconds = timeout_seconds

    def reconcile(self, jobs: Sequence[AgentJob]) -> ReconcileReport:
        desired, errors = self._render(jobs)
        current = self.read()
        failed = {job.ref for job in jobs if job.ref not in desired}
        known = self._load_state()
        text, report = plan_crontab(current, desired, known=known, keep=failed)
        report.errors = errors
        if text != current:
            self._write_so_cron_notices(text)
        self._save_state(set(owned_entries(text)), previous=known)
        return report

    def installed(self) -> dict[str, str]:
        return owned_entries(self.read())

    def _render(self, jobs: Sequence[AgentJob]) -> tuple[dict[str, Entry], list[str]]:
        desired: dict[str, Entry] = {}
        errors: list[str] = []
        for job in jobs:
            try:
                desired[job.ref] = render_entry(job, home=self.home, agent_command=self.agent_command)
            except ValueError as exc:
                errors.append(f"{job.ref}: {exc}")
        return desired, errors

    # --- crontab itself

    def read(self) -> str:
        """The crontab's text ("" when the user has none yet), or SchedulerError."""
        result = self._run("-l")
        if result.returncode == 0:
            return result.stdout.decode("utf-8", "surrogateescape")
        if b"no crontab for" in result.stderr:
            return ""
        raise SchedulerError(f"cannot read the crontab ({self._describe(result)})")

    def _write_so_cron_notices(self, text: str) -> None:
        """Debian's cron re-reads crontabs at the top of each minute when the spool folder's mtime
        (whole seconds) differs from what it saw; a write in the same second as that check would
        go unseen until the next change. Writes near the minute are made again a moment later."""
        self.write(text)
        second = self.clock().second
        if second in CRON_RELOAD_SECONDS:
            self.sleep((SAFE_SECOND - second) % 60 + 0.1)  # into a later second than cron's check
            self.write(text)

    def write(self, text: str) -> None:
        result = self._run("-", stdin=text.encode("utf-8", "surrogateescape"))
        if result.returncode != 0:
            raise SchedulerError(f"cannot write the crontab ({self._describe(result)})")

    def _run(self, *args: str, stdin: bytes | None = None) -> subprocess.CompletedProcess[bytes]:
        user = ("-u", self.user) if self.user else ()
        argv = [*self.crontab_command, *user, *args]
        try:
            return subprocess.run(argv, input=stdin, capture_output=True, timeout=self.timeout_seconds, check=False)
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise SchedulerError(f"cannot run {shlex.join(argv)}: {exc}") from exc

    @staticmethod
    def _describe(result: subprocess.CompletedProcess[bytes]) -> str:
        stderr = result.stderr.decode("utf-8", "replace").strip() or "no message"
        return f"{shlex.join(str(arg) for arg in result.args)} exited {result.returncode}: {stderr}"

    # --- which jobs this backend installed (tells "deleted by hand" from "new")

    def _load_state(self) -> set[str]:
        try:
            return set(json.loads((self.home / STATE_FILE).read_text())["installed"])
        except (OSError, ValueError, KeyError, TypeError):
            return set()  # no state yet (or unreadable): every missing job is simply added

    def _save_state(self, refs: set[str], *, previous: set[str]) -> None:
        if refs == previous:
            return
        write_private(self.home / STATE_FILE, json.dumps({"installed": sorted(refs)}, indent=2) + "\n")
