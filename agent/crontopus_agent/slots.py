"""Which fire time a guarded wrapper runs: a late wrapper still runs its own, none runs twice, and
one that is too late says so.

A scheduler entry with ``--guard`` fires on the host's clock at least whenever the job is due in its
own zone (see schedulers/zones.py), and the wrapper decides. Deciding by the minute the wrapper
*started* in skipped, silently, every run whose wrapper started a minute or more late (a loaded host:
cron forks on time, the interpreter takes a while). So each job keeps a book,
``<home>/slots/<ns>/<name>.json``, read and rewritten under an exclusive lock:

- A fire time may start up to ``LATE_START_WINDOW`` after it. A wrapper runs the latest fire time
  within that window that no wrapper has claimed yet, and claims it; when every one is claimed it
  exits silently (the entry fires at a minute the job is not due, or another wrapper took it). Two
  wrappers never run the same fire time; a late wrapper and the next minute's both run, each its own.
- A fire time that leaves the window unclaimed was not run: the first wrapper to see that says so
  (stderr, which cron mails, and the output of the run it starts, if any), and it is settled.
- The daemon starts a job's book when it installs the job or its schedule or zone changes
  (``start_books``), from that moment: fire times before it are never run nor reported (cron runs a
  new entry from the next minute on). A wrapper that finds no book for its schedule starts one from
  ``now - LATE_START_WINDOW``, so it can still run its own fire time.

The book keeps only what is needed: the instant up to which every fire time is settled, and the
claims after it.
"""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from crontopus_agent.files import open_private
from crontopus_agent.jobs import AgentJob
from crontopus_agent.platform import HOST
from crontopus_schemas.cron import fire_times, zone

# How late a run may still start. Cron forks on time, but a wrapper on a loaded host can take
# a minute or more to get going; past a few minutes a run is better skipped (and said) than
# started at a time nobody expects, close to the next one.
LATE_START_WINDOW = timedelta(minutes=5)
SLOTS_DIR = "slots"
MISSED_COUNTED = 1000  # beyond that a message says "1000 or more"
_LOCK_SECONDS = 10.0  # a wrapper holds the lock for milliseconds; this only bounds a pathological wait
_BATCH = 64


def book_path(home: Path, ref: str) -> Path:
    namespace, name = ref.split("/", 1)
    return home / SLOTS_DIR / namespace / f"{name}.json"


@dataclass(frozen=True)
class SlotBook:
    """One job's book: every fire time at or before ``settled_through`` is settled (run, or said
    to be missed); ``claimed`` are the later ones a wrapper has taken."""

    schedule: str
    timezone: str
    settled_through: datetime
    claimed: frozenset[datetime] = field(default_factory=frozenset)

    def is_for(self, job: AgentJob) -> bool:
        return (self.schedule, self.timezone) == (job.schedule, job.timezone)

    def to_json(self) -> bytes:
        body = {
            "schedule": self.schedule,
            "timezone": self.timezone,
            "settled_through": self.settled_through.isoformat(),
            "claimed": sorted(at.isoformat() for at in self.claimed),
        }
        return (json.dumps(body) + "\n").encode()

    @classmethod
    def from_json(cls, raw: bytes) -> SlotBook:
        body: dict[str, Any] = json.loads(raw)
        return cls(
            schedule=body["schedule"],
            timezone=body["timezone"],
            settled_through=datetime.fromisoformat(body["settled_through"]),
            claimed=frozenset(datetime.fromisoformat(at) for at in body["claimed"]),
        )


@dataclass(frozen=True)
class Turn:
    """What one wrapper does: run ``slot`` (None: nothing), and say that ``missed`` were not run."""

    now: datetime
    slot: datetime | None
    missed: tuple[datetime, ...] = ()
    more_missed: bool = False  # more than ``missed`` (only the first MISSED_COUNTED are looked at)

    @property
    def late_by(self) -> timedelta:
        return self.now - self.slot if self.slot else timedelta()

    def notes(self, job: AgentJob) -> list[str]:
        """Lines for the output of the run this wrapper starts."""
        notes = [self.missed_message(job)] if self.missed else []
        if self.late_by >= timedelta(minutes=1):
            notes.append(
                f"started {_duration(self.late_by)} after its time, {_when(self.slot, job)};"
                f" a run may start up to {_duration(LATE_START_WINDOW)} late"
            )
        return notes

    def missed_message(self, job: AgentJob) -> str:
        window = _duration(LATE_START_WINDOW)
        if len(self.missed) == 1 and not self.more_missed:
            what = f"the run due at {_when(self.missed[0], job)} was"
        else:
            count = f"{len(self.missed)}{' or more' if self.more_missed else ''}"
            what = f"{count} runs due from {_when(self.missed[0], job)} on were"
        return (
            f"{job.ref}: {what} not run: no wrapper started within {window} of the time "
            "(a busy host, or cron or the host was not running then)"
        )


def plan_turn(book: SlotBook, *, now: datetime, window: timedelta = LATE_START_WINDOW) -> tuple[Turn, SlotBook]:
    """This wrapper's turn at ``now`` and the book after it (pure; see the module docstring)."""
    horizon = now - window  # a fire time at or before this is too late to start
    if book.settled_through > now:  # the clock was set back: what is claimed stays claimed
        book = SlotBook(book.schedule, book.timezone, horizon, book.claimed)
    passed = _fire_times(book, after=book.settled_through, until=horizon, limit=MISSED_COUNTED)
    missed = [at for at in passed if at not in book.claimed]
    recent = _fire_times(book, after=max(book.settled_through, horizon), until=now, limit=_BATCH)
    open_ = [at for at in recent if at not in book.claimed]
    slot = open_[-1] if open_ else None
    settled = max(book.settled_through, horizon)
    claimed = frozenset(at for at in (*book.claimed, *([slot] if slot else [])) if at > settled)
    turn = Turn(now=now, slot=slot, missed=tuple(missed), more_missed=len(passed) == MISSED_COUNTED)
    return turn, SlotBook(book.schedule, book.timezone, settled, claimed)


def _fire_times(book: SlotBook, *, after: datetime, until: datetime, limit: int) -> list[datetime]:
    """The job's fire times in (after, until], oldest first, at most ``limit`` of them."""
    found: list[datetime] = []
    while after < until and len(found) < limit:
        wanted = min(_BATCH, limit - len(found))
        fires = fire_times(book.schedule, book.timezone, after=after, count=wanted)
        batch = [fire.at.astimezone(UTC) for fire in fires]
        found += [at for at in batch if at <= until]
        if len(batch) < wanted:
            break
        after = batch[-1]
    return found


# --- the book on disk ----------------------------------------------------------------------------


def take_turn(home: Path, job: AgentJob, *, now: datetime) -> Turn:
    """Decide and record this wrapper's turn; OSError when the book cannot be read or written."""
    with _locked(book_path(home, job.ref)) as fd:
        book = _read(fd)
        if book is None or not book.is_for(job):
            book = SlotBook(job.schedule, job.timezone, settled_through=now - LATE_START_WINDOW)
        turn, book = plan_turn(book, now=now)
        HOST.overwrite(fd, book.to_json())
    return turn


def start_books(home: Path, jobs: Iterable[AgentJob], *, now: datetime) -> None:
    """A book from ``now`` for each job that has none for its schedule and zone (new or changed)."""
    for job in jobs:
        with _locked(book_path(home, job.ref)) as fd:
            book = _read(fd)
            if book is None or not book.is_for(job):
                HOST.overwrite(fd, SlotBook(job.schedule, job.timezone, settled_through=now).to_json())


def remove_book(home: Path, ref: str) -> None:
    """Forget a removed job's book: added again later, it starts afresh instead of reporting every
    fire time since as missed."""
    book_path(home, ref).unlink(missing_ok=True)


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[int]:
    fd = open_private(path)
    try:
        if not HOST.lock(fd, timeout=_LOCK_SECONDS):
            raise TimeoutError(f"{path} stayed locked for {_LOCK_SECONDS:g} s")
        try:
            yield fd
        finally:
            HOST.unlock(fd)
    finally:
        os.close(fd)


def _read(fd: int) -> SlotBook | None:
    """The book, or None when there is none yet (or it is unreadable: it is started again)."""
    os.lseek(fd, 0, os.SEEK_SET)
    raw = os.read(fd, 1 << 20)
    if not raw:
        return None
    try:
        return SlotBook.from_json(raw)
    except (ValueError, KeyError, TypeError):
        return None


# --- wording -----------------------------------------------------------------------------------------


def _when(at: datetime | None, job: AgentJob) -> str:
    if at is None:
        return "?"
    local = at.astimezone(zone(job.timezone))
    return f"{local:%Y-%m-%d %H:%M} {job.timezone} ({at.astimezone(UTC):%H:%M} UTC)"


def _duration(span: timedelta) -> str:
    seconds = int(span.total_seconds())
    if seconds < 60:
        return f"{seconds} s"
    minutes, rest = divmod(seconds, 60)
    return f"{minutes} min {rest} s" if rest else f"{minutes} min"
