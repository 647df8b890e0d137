"""The built-in scheduler: the agent itself starts jobs, for containers and hosts without cron.

The desired jobs live in memory (``reconcile`` replaces them; nothing is written to the host, so
drift is impossible). ``serve`` is an asyncio loop that keeps each job's next fire time, sleeps
until the earliest one, and starts every due job as ``crontopus-agent exec ...`` (``exec_argv``),
exactly what a cron entry would run. The wrapper enforces concurrency, timeouts and retries and
reports the run; this loop only decides *when*.

Semantics
- Fire times come from ``crontopus_schemas.cron.fire_times`` in each job's own zone, so this
  backend agrees with the crontab backend's ``--guard`` and with the server's "next runs":
  a wall time skipped by a spring-forward runs once at the end of the gap (02:30 -> 03:00), and a
  wall time repeated by a fall-back runs once, the first time. Every wall time of the repeated
  hour is such a time, so ``*/30 * * * *`` does not run at 02:00 and 02:30 of the second pass
  (Vixie cron would, for a job whose hour field is ``*``).
- Instants are kept in UTC: two aware datetimes of the same zone compare by wall time, which
  gets the repeated hour of a fall-back wrong.
- Missed runs are not caught up (cron semantics). A fire time more than ``tolerance`` (60 s) in
  the past when the loop wakes (the agent was stopped, the host slept, the loop was starved) is
  skipped and logged; the job resumes at its next fire time. A burst of catch-up runs after a
  night of suspend would hit every downstream system at once, and a run that is hours late is
  usually wrong anyway. Within the tolerance, a job runs once per wake, for its latest fire time.
- A job that is added or changed gets the first fire time strictly after the reconcile, so a
  job reconciled in at 01:59:59 for 02:00 runs at 02:00. An unchanged job (same fingerprint,
  maybe a new commit) keeps its next fire time. Only jobs that just fired or changed are
  recomputed; a tick never recomputes every job.
- A paused job stays installed (``installed()`` lists it) but has no next fire time.
- Naps are capped at ``MAX_NAP_SECONDS`` (less than the tolerance), because asyncio sleeps on the
  monotonic clock, which stops while the host is suspended: after a resume, or a wall-clock
  step, the loop looks at the clock again within that cap.

What it does not do
- It does not kill running jobs when the loop stops (nor does cron): runs are started in their
  own session and the wrapper finishes and reports them. ``drain()`` waits for them.
- It does not persist anything: after a restart, the runs missed while stopped are skipped.
- It does not write job spec files; the daemon does that (``jobs.write_specs``) before it
  reconciles, because the wrapper reads them, and removes a job's spec only after its entry.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import subprocess
import threading
from collections.abc import Awaitable, Callable, Coroutine, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from crontopus_agent.jobs import AgentJob, agent_executable, exec_argv
from crontopus_agent.platform import HOST
from crontopus_agent.schedulers.base import ReconcileReport
from crontopus_schemas.cron import ScheduleError, fire_times

log = logging.getLogger(__name__)

DEFAULT_TOLERANCE = timedelta(seconds=60)
MAX_NAP_SECONDS = 30.0


@dataclass(frozen=True)
class Launch:
    """A job to start now, for the fire time ``at`` (UTC)."""

    at: datetime
    job: AgentJob
    note: str | None = None  # set when a DST change moved or merged this run

    @property
    def ref(self) -> str:
        return self.job.ref


@dataclass(frozen=True)
class Missed:
    """Fire times of a job that passed more than the tolerance ago: skipped, not run late."""

    ref: str
    first: datetime  # the earliest skipped fire time (UTC)
    resumes: datetime | None  # its next fire time, or None if it never fires again


@dataclass(frozen=True)
class Due:
    launches: list[Launch] = field(default_factory=list)  # ordered by (at, ref)
    missed: list[Missed] = field(default_factory=list)


Clock = Callable[[], datetime]  # now, timezone-aware
Sleep = Callable[[float], Awaitable[None]]
Launcher = Callable[[Launch], Coroutine[Any, Any, None]]  # runs in its own task: may await the run's end


def utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass
class _Entry:
    job: AgentJob
    at: datetime | None = None  # next fire time, UTC; None when paused or never again
    note: str | None = None


class Timetable:
    """Each job's next fire time. Pure (time is passed in) and not thread-safe: BuiltinScheduler
    holds a lock around it."""

    def __init__(self, *, tolerance: timedelta = DEFAULT_TOLERANCE) -> None:
        self.tolerance = tolerance
        self._entries: dict[str, _Entry] = {}

    def replace(self, jobs: Iterable[AgentJob], *, now: datetime) -> ReconcileReport:
        """Make the table hold exactly ``jobs``; a job whose schedule cannot be computed is
        reported in ``errors`` and left as it was."""
        report = ReconcileReport(backend="builtin")
        desired = {job.ref: job for job in jobs}
        for ref in sorted(self._entries.keys() - desired.keys()):
            del self._entries[ref]
            report.removed.append(ref)
        for ref in sorted(desired):
            self._put(desired[ref], now=now, report=report)
        return report

    def _put(self, job: AgentJob, *, now: datetime, report: ReconcileReport) -> None:
        old = self._entries.get(job.ref)
        if old is not None and old.job.fingerprint == job.fingerprint:
            old.job = job  # only the commit changed: keep the next fire time
            return
        entry = _Entry(job)
        try:
            _advance(entry, after=now)
        except ScheduleError as exc:
            report.errors.append(f"{job.ref}: {exc}")
            return
        self._entries[job.ref] = entry
        (report.added if old is None else report.updated).append(job.ref)

    def installed(self) -> dict[str, str]:
        return {ref: entry.job.fingerprint for ref, entry in self._entries.items()}

    def next_at(self, ref: str) -> datetime | None:
        entry = self._entries.get(ref)
        return entry.at if entry else None

    def next_wake(self) -> datetime | None:
        """The earliest next fire time of any job."""
        return min((e.at for e in self._entries.values() if e.at is not None), default=None)

    def take_due(self, now: datetime) -> Due:
        """The jobs to start at ``now``; advances each of them (and only them) to its next fire time."""
        now = now.astimezone(UTC)
        due = Due()
        for entry in self._entries.values():
            if entry.at is not None and entry.at <= now:
                self._take(entry, now, due)
        due.launches.sort(key=lambda launch: (launch.at, launch.ref))
        return due

    def _take(self, entry: _Entry, now: datetime, due: Due) -> None:
        assert entry.at is not None
        first_missed: datetime | None = None
        if now - entry.at > self.tolerance:
            first_missed = entry.at  # jump over the whole missed stretch, without walking it
            _advance(entry, after=now - self.tolerance)
        launch: Launch | None = None
        while entry.at is not None and entry.at <= now:  # several only if tolerance > period
            if launch is not None:
                first_missed = first_missed or launch.at
            launch = Launch(entry.at, entry.job, entry.note)
            _advance(entry, after=entry.at)
        if first_missed is not None:
            due.missed.append(Missed(entry.job.ref, first_missed, launch.at if launch else entry.at))
        if launch is not None:
            due.launches.append(launch)


def _advance(entry: _Entry, *, after: datetime) -> None:
    """Set the entry's next fire time: the first one strictly after ``after``."""
    entry.at = entry.note = None
    if entry.job.paused:
        return
    upcoming = fire_times(entry.job.schedule, entry.job.timezone, after=after.astimezone(UTC), count=1)
    if upcoming:
        entry.at, entry.note = upcoming[0].at.astimezone(UTC), upcoming[0].note


def launches(jobs: Iterable[AgentJob], *, start: datetime, end: datetime) -> Iterator[tuple[datetime, str]]:
    """The (instant, ref) launches of ``jobs`` reconciled at ``start``, until ``end`` inclusive,
    in order: what ``serve`` does when it wakes on time (same Timetable code)."""
    table = Timetable()
    table.replace(jobs, now=start)
    while (wake := table.next_wake()) is not None and wake <= end:
        for launch in table.take_due(wake).launches:
            yield launch.at, launch.ref


class SubprocessLauncher:
    """Starts ``crontopus-agent exec ...`` for a launch and waits for it to exit (which reaps it).

    ``agent_command`` replaces the agent executable at the head of ``exec_argv`` (tests, or an
    agent installed elsewhere)."""

    def __init__(self, home: Path, *, agent_command: Sequence[str] | None = None) -> None:
        self.home = home
        self.agent_command = list(agent_command) if agent_command is not None else None

    def argv(self, job: AgentJob) -> list[str]:
        argv = exec_argv(self.home, job)
        if self.agent_command is None:
            return argv
        return [*self.agent_command, *argv[len(agent_executable()) :]]

    async def __call__(self, launch: Launch) -> None:
        # Own session (Windows: own process group): a Ctrl-C or a signal to the agent's group
        # does not kill the run.
        # The wrapper's own output goes where the agent's goes (the journal under systemd).
        process = await asyncio.create_subprocess_exec(
            *self.argv(launch.job), stdin=subprocess.DEVNULL, **HOST.group_options()
        )
        code = await process.wait()
        log.info("run exited ref=%s pid=%s code=%s", launch.ref, process.pid, code)


class BuiltinScheduler:
    """The Scheduler backend that is the agent's own loop (see the module docstring)."""

    name = "builtin"

    def __init__(
        self,
        home: Path,
        *,
        clock: Clock = utc_now,
        sleep: Sleep = asyncio.sleep,
        launcher: Launcher | None = None,
        tolerance: timedelta = DEFAULT_TOLERANCE,
    ) -> None:
        self.home = home
        self._clock = clock
        self._sleep = sleep
        self._launch = launcher or SubprocessLauncher(home)
        self._table = Timetable(tolerance=tolerance)
        self._lock = threading.Lock()  # reconcile runs in a worker thread, serve in the loop
        self._loop: asyncio.AbstractEventLoop | None = None
        self._wakeup: asyncio.Event | None = None
        self._runs: set[asyncio.Task[None]] = set()

    def reconcile(self, jobs: Sequence[AgentJob]) -> ReconcileReport:
        with self._lock:
            report = self._table.replace(jobs, now=self._clock())
            loop, wakeup = self._loop, self._wakeup
        if report.changed and loop is not None and wakeup is not None:
            with contextlib.suppress(RuntimeError):  # the loop closed meanwhile: nothing to wake
                loop.call_soon_threadsafe(wakeup.set)
        return report

    def installed(self) -> dict[str, str]:
        with self._lock:
            return self._table.installed()

    def next_at(self, ref: str) -> datetime | None:
        with self._lock:
            return self._table.next_at(ref)

    async def serve(self) -> None:
        """Start due jobs until cancelled."""
        wakeup = asyncio.Event()
        with self._lock:
            if self._loop is not None:
                raise RuntimeError("the built-in scheduler is already serving")
            self._loop, self._wakeup = asyncio.get_running_loop(), wakeup
        try:
            while True:
                wakeup.clear()  # before the tick: a reconcile during the tick still wakes the nap
                await self._nap(self._tick(), wakeup)
        finally:
            with self._lock:
                self._loop = self._wakeup = None

    def _tick(self) -> float:
        """Start what is due now; return how long to sleep."""
        now = self._clock().astimezone(UTC)
        with self._lock:
            due = self._table.take_due(now)
            wake = self._table.next_wake()
        for missed in due.missed:
            log.warning(
                "skipped missed runs ref=%s since=%s resumes=%s (more than %ss late: agent stopped or host asleep)",
                missed.ref,
                missed.first.isoformat(),
                missed.resumes.isoformat() if missed.resumes else None,
                int(self._table.tolerance.total_seconds()),
            )
        for launch in due.launches:
            self._start(launch)
        if wake is None:
            return MAX_NAP_SECONDS
        return min(MAX_NAP_SECONDS, max(0.0, (wake - now).total_seconds()))

    async def _nap(self, seconds: float, wakeup: asyncio.Event) -> None:
        sleeper = asyncio.ensure_future(self._sleep(seconds))
        woken = asyncio.ensure_future(wakeup.wait())
        try:
            await asyncio.wait({sleeper, woken}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            sleeper.cancel()
            woken.cancel()
        if sleeper.done() and not sleeper.cancelled():
            sleeper.result()  # a failing sleep function fails the loop instead of spinning

    def _start(self, launch: Launch) -> None:
        log.info("starting run ref=%s fire_time=%s%s", launch.ref, launch.at.isoformat(), _note(launch))
        task = asyncio.create_task(self._launch(launch), name=f"crontopus-run {launch.ref}")
        self._runs.add(task)  # a reference, so the task is not garbage-collected mid-run
        task.add_done_callback(self._finished)

    def _finished(self, task: asyncio.Task[None]) -> None:
        self._runs.discard(task)
        if not task.cancelled() and (error := task.exception()) is not None:
            log.error("could not start run %s", task.get_name(), exc_info=error)

    @property
    def running(self) -> int:
        """Runs started and not yet finished (as far as the launcher tells)."""
        return len(self._runs)

    async def drain(self) -> None:
        """Wait until every started run has finished (for a graceful shutdown, or tests)."""
        while self._runs:
            await asyncio.gather(*self._runs, return_exceptions=True)


def _note(launch: Launch) -> str:
    return f" note={launch.note!r}" if launch.note else ""
