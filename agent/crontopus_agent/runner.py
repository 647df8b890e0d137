"""``crontopus-agent exec``: run one job's command the way its manifest says, and report the run.

What a user can rely on:

- Every run has its own run id (uuid4 hex) and two check-ins: a start (``running``) and a finish
  (``success``, ``failure`` or ``timeout``, with exit code, duration, the tail of the output and its
  full size, the manifest commit). Each carries ``Nats-Msg-Id: <tenant>:<agent>:<run id>:start|finish``, so however
  often one is re-sent (spool drains, crashes) the stream stores it once, and the runs service
  merges both into one run.
- Reporting never delays the command: the start check-in is dated the moment the command starts and
  is sent while it runs (``StartCheckIn``); the finish is sent after it, dated when the command
  ended, with the command's own duration.
- NATS down never costs a check-in and never holds a cron slot: each check-in waits at most
  ``REPORT_BUDGET_SECONDS``; what is not acknowledged by then is spooled durably (see spool.py) and
  sent, in order, before anything newer.
- Output: stdout and stderr are read from one pipe (interleaved as written) and passed through to
  the wrapper's stdout, so cron still mails them; only the last ``MAX_STORED_OUTPUT_BYTES`` are kept
  in memory while streaming. Lines the wrapper adds (timeouts, stops, attempts) start with
  ``[crontopus]``, go to its stderr and to the end of the reported output.
- Timeout: the command runs in its own session; when its time is up its whole process group gets
  SIGTERM, then SIGKILL after ``KILL_GRACE_SECONDS``; status ``timeout``, exit code 124 (as coreutils
  ``timeout``). SIGTERM, SIGINT or SIGHUP to the wrapper stop the group the same way, and the run is
  reported as a ``failure`` with a note saying why.
- Concurrency (an exclusive lock on ``<home>/locks/<ns>/<name>.lock``, which records the holder's
  pid, its command's process group and run id): ``forbid`` skips this run while another holds the lock;
  ``replace`` stops the holder (its run reports ``failure``, "replaced", with ``replaced_by`` naming
  the run that stopped it) and then runs; ``allow``
  takes no lock. The agent's own bookkeeping never stops a job: when the lock file cannot be
  opened (home full, read-only, not writable) the job runs without the lock, and a ``[crontopus]``
  line says so; when only the holder's record cannot be written, the lock still holds.
- Exit code: the command's (of the last attempt); 124 on timeout; 128+n when killed by signal n;
  127 when the command is not found, 126 when it cannot be run (or its working directory is
  missing); 0 when nothing ran (not due under ``--guard``, paused, skipped by ``forbid``); 2 for a
  bad job reference or no command.

Retries are separate runs: see ``run_attempts``. Under ``--guard`` (an entry that fires more often
than the job) the job's slot book decides which fire time, if any, this wrapper runs: one that
starts late still runs its own, up to ``slots.LATE_START_WINDOW`` late; see slots.py.

Portability: what differs between POSIX and Windows (the lock, process groups and how they are
stopped, waiting for output) lives in platform.py. On Windows SIGTERM then SIGKILL above read
CTRL_BREAK_EVENT then ``taskkill /T /F``, and a replacer ends the holder's command rather than
signalling the holder, which then reports its run as replaced (see ``platform.WindowsHost``).

Limits: a process that leaves the command's session (setsid, daemons) escapes the timeout and
replace kills. Output a background child prints more than ``EXIT_LINGER_SECONDS`` after the
command exited is not read (the pipe is closed; cron would have waited for it). A wrapper killed
by SIGKILL reports no finish and frees the lock while its command may still run.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from types import FrameType
from typing import Any, BinaryIO

from crontopus_agent.files import open_private
from crontopus_agent.home import Credentials, NotEnrolledError
from crontopus_agent.jobs import AgentJob, read_spec
from crontopus_agent.platform import HOST, OutputReader
from crontopus_agent.reporting import CheckInReporter
from crontopus_agent.schedulers.zones import is_due
from crontopus_agent.slots import take_turn
from crontopus_schemas.events import (
    MAX_STORED_OUTPUT_BYTES,
    CheckInEvent,
    CheckInStatus,
    tail_of_output,
)
from crontopus_schemas.names import JOB_REF_PATTERN

KILL_GRACE_SECONDS = 5.0  # between SIGTERM and SIGKILL to the command's process group
REPORT_BUDGET_SECONDS = 5.0  # the longest one check-in may hold up the wrapper
EXIT_LINGER_SECONDS = 0.5  # output still read after the command exits (children holding the pipe)
LOCK_RECORD_WAIT_SECONDS = 0.5  # how long a replacer waits for a fresh holder to record itself
TIMEOUT_EXIT_CODE = 124
CANNOT_EXECUTE_EXIT_CODE = 126
NOT_FOUND_EXIT_CODE = 127
USAGE_EXIT_CODE = 2
NOTE = "[crontopus]"
STOP_SIGNALS = HOST.stop_signals  # Windows: SIGBREAK (CTRL_BREAK_EVENT) for SIGHUP
_REPLACED_NOTE = "stopped: a newer run of this job replaced it (concurrency: replace)"


def execute(*, home: Path, ref: str, argv: list[str], guard: bool) -> int:
    """Run ``argv`` as job ``ref`` and report it; the exit code for the wrapper (see module doc)."""
    if not re.fullmatch(JOB_REF_PATTERN, ref):
        _say(f"not a job reference: {ref!r} (expected namespace/name)")
        return USAGE_EXIT_CODE
    if argv[:1] == ["--"]:
        argv = argv[1:]  # the CLI stops parsing options at the ref, so the separator reaches us
    if not argv:
        _say("no command given (expected: exec namespace/name -- command args...)")
        return USAGE_EXIT_CODE
    spec = read_spec(home, ref)
    notes: list[str] = []
    if spec is not None and guard:
        guarded = _guard(home, spec)
        if guarded is None:
            return 0
        notes = guarded
    if spec is not None and spec.paused:
        _tell_person(f"{ref} is paused: not run")
        return 0
    invocation = Invocation(
        home=home, job=spec or _hand_run(ref, argv), argv=argv, credentials=_credentials(home), notes=notes
    )
    with StopSignals() as stop, HOST.subreaper():
        lock = take_lock(home, invocation.job, run_id=invocation.first_run_id)
        if lock is None:
            return 0
        with lock:
            return run_attempts(invocation, lock, stop)


def _guard(home: Path, job: AgentJob) -> list[str] | None:
    """Under ``--guard``: the notes for the run this wrapper starts, None when it starts none.

    Which fire time, if any, is this wrapper's is decided in the job's slot book (slots.py): a late
    wrapper still runs its own, none runs twice, a run missed altogether is said on stderr. Nothing
    else is said: the entry also fires when the job is not due, and cron would mail every time."""
    now = datetime.now(UTC)
    try:
        turn = take_turn(home, job, now=now)
    except OSError as exc:
        # No room for the book (home full, read-only): the minute the wrapper started in decides, as
        # before books existed; that never runs a fire time twice, but misses one started late.
        _tell_person(f"cannot use the slot book of {job.ref}: {exc}")
        return [] if is_due(job.schedule, job.timezone, now) else None
    if turn.slot is None:
        if turn.missed:
            _say(turn.missed_message(job))
        return None
    return turn.notes(job)  # printed with the run's other notes, and kept in its output


def _hand_run(ref: str, argv: list[str]) -> AgentJob:
    """A job with no spec (run by hand): no timeout, no lock, no retries."""
    namespace, name = ref.split("/", 1)
    return AgentJob(
        namespace=namespace,
        name=name,
        schedule="* * * * *",
        timezone="UTC",
        command=argv[0],
        args=tuple(argv[1:]),
        concurrency="allow",
    )


def _credentials(home: Path) -> Credentials | None:
    try:
        return Credentials.load(home)
    except NotEnrolledError as exc:
        problem = str(exc)
    except (ValueError, TypeError) as exc:
        problem = f"unreadable credentials in {home / 'credentials.json'} ({exc})"
    _say(f"warning: {problem}; this run's check-ins are kept in {home / 'spool'} until they can be sent")
    return None


def _say(message: str) -> None:
    print(f"crontopus-agent exec: {message}", file=sys.stderr, flush=True)


def _tell_person(message: str) -> None:
    """Only for someone at a terminal: from cron, any output becomes mail."""
    if sys.stderr.isatty():
        _say(message)


@dataclass
class Invocation:
    home: Path
    job: AgentJob
    argv: list[str]
    credentials: Credentials | None
    notes: list[str] = field(default_factory=list)  # for the output of the first attempt (slots.Turn.notes)
    # Drawn before the lock is taken: a run this one replaces is told which run replaced it.
    first_run_id: str = field(default_factory=lambda: uuid.uuid4().hex)

    def environment(self, run_id: str) -> dict[str, str]:
        return {**os.environ, **self.job.env, "CRONTOPUS_JOB": self.job.ref, "CRONTOPUS_RUN_ID": run_id}

    def checkin(self, run_id: str, status: CheckInStatus, **fields: Any) -> CheckInEvent:
        return CheckInEvent(
            job=self.job.ref,
            run_id=run_id,
            status=status,
            source=self.credentials.agent_id if self.credentials else "agent",
            manifest_commit=self.job.commit,
            correlation_id=run_id,
            **fields,
        )


# --- retries ---------------------------------------------------------------------------------


def backoff_delays(limit: int, backoff_seconds: float) -> list[float]:
    """Seconds to wait before each retry: the backoff, doubling each time."""
    return [backoff_seconds * 2**number for number in range(limit)]


def run_attempts(invocation: Invocation, lock: JobLock, stop: StopSignals) -> int:
    """Run the command, retrying after a failure or timeout up to ``retries_limit`` times.

    Each attempt is its own run (own run id, own start and finish) rather than one run with
    attempts folded in: the run history then shows every attempt as it happened, with its own
    exit code, duration and output, and nothing stays "running" through a backoff wait. Each
    attempt's output ends with ``[crontopus] attempt n of m`` so the runs read as one series.
    A run stopped by a signal (replaced, agent stopped) is not retried. The job's lock is held
    through the backoff waits: ``forbid`` skips a scheduled run that falls into them, ``replace``
    ends the series.
    """
    delays = backoff_delays(invocation.job.retries_limit, invocation.job.retries_backoff_seconds)
    attempts = len(delays) + 1
    for number in range(1, attempts + 1):
        if number == 1 and stop.received:
            return 128 + stop.received  # stopped while waiting for the lock: nothing ran
        result = run_once(invocation, lock, stop, attempt=number, attempts=attempts)
        if result.status == "success" or result.stopped or number == attempts:
            return result.exit_code
        if stop.wait(delays[number - 1]):
            return result.exit_code
    raise AssertionError("unreachable")


def _attempt_note(attempt: int, attempts: int, status: str, delays: list[float]) -> list[str]:
    if attempts == 1:
        return []
    if status in ("failure", "timeout") and attempt < attempts:
        wait = delays[attempt - 1]
        return [f"attempt {attempt} of {attempts} failed; the next attempt starts in {wait:g} s as a new run"]
    return [f"attempt {attempt} of {attempts}"]


# --- one run ---------------------------------------------------------------------------------


@dataclass
class CommandResult:
    status: CheckInStatus
    exit_code: int
    output: OutputTail
    notes: list[str] = field(default_factory=list)
    stopped: bool = False  # by a signal to the wrapper: not retried
    replaced_by: str | None = None  # the run that stopped this one (concurrency: replace)


def run_once(invocation: Invocation, lock: JobLock, stop: StopSignals, *, attempt: int, attempts: int) -> CommandResult:
    """One run: the command with its start check-in sent beside it, then the finish check-in."""
    run_id = invocation.first_run_id if attempt == 1 else uuid.uuid4().hex
    lock.record(run_id=run_id)
    start = StartCheckIn(invocation, run_id)
    result = run_command(invocation, run_id=run_id, lock=lock, stop=stop, start=start)
    duration_ms, finished_at = start.elapsed_ms(), datetime.now(UTC)
    start.wait_until_sent()  # a finish never goes out before its start
    delays = backoff_delays(invocation.job.retries_limit, invocation.job.retries_backoff_seconds)
    opening = invocation.notes if attempt == 1 else []
    notes = opening + lock.notes + result.notes + _attempt_note(attempt, attempts, result.status, delays)
    for note in notes:
        print(f"{NOTE} {note}", file=sys.stderr, flush=True)
    output, output_size = result.output.render([f"{NOTE} {note}" for note in notes])
    finish = invocation.checkin(
        run_id,
        result.status,
        timestamp=finished_at,
        exit_code=result.exit_code,
        duration_ms=duration_ms,
        output=output,
        output_size=output_size,
        replaced_by=result.replaced_by,
    )
    lock.record(run_id=run_id)  # the command's group is gone: a replacer now only signals us
    report(invocation, finish)
    return result


class StartCheckIn:
    """A run's start check-in, sent beside its command rather than before it.

    Sending may take up to ``REPORT_BUDGET_SECONDS`` (NATS silent, or refusing logins while its
    auth callout is not answered); sent first, it held every job back from its minute by that
    much, and dated the start before the command started. So the command starts first, its start
    is taken at that moment (``mark``), and the check-in goes out from a thread while the command
    runs. A command that never started (not found, stopped before) gets its start sent by
    ``wait_until_sent``, dated when it was tried."""

    def __init__(self, invocation: Invocation, run_id: str) -> None:
        self.invocation = invocation
        self.run_id = run_id
        self.at: datetime | None = None  # the wall clock at the start, for the run history
        self._clock: float | None = None  # the monotonic clock at the start, for the duration
        self._sending: threading.Thread | None = None

    def mark(self) -> None:
        """The command starts now."""
        self.at, self._clock = datetime.now(UTC), time.monotonic()

    def send_in_background(self) -> None:
        event = self._event()
        # Not a daemon thread: an exiting wrapper still finishes spooling it.
        self._sending = threading.Thread(target=report, args=(self.invocation, event), name="crontopus-start")
        self._sending.start()

    def wait_until_sent(self) -> None:
        """Return once the start check-in is acknowledged or spooled (within the report budget)."""
        if self._sending is None:
            report(self.invocation, self._event())
            return
        self._sending.join()

    def elapsed_ms(self) -> int:
        """Milliseconds since the command started (0 if it never did)."""
        return 0 if self._clock is None else int((time.monotonic() - self._clock) * 1000)

    def _event(self) -> CheckInEvent:
        if self.at is None:
            self.mark()
        return self.invocation.checkin(self.run_id, "running", timestamp=self.at)


def report(invocation: Invocation, event: CheckInEvent) -> bool:
    """Send one check-in within the budget (spooled otherwise); True if acknowledged."""

    async def send() -> tuple[bool, int]:
        async with CheckInReporter(
            home=invocation.home, credentials=invocation.credentials, budget=REPORT_BUDGET_SECONDS
        ) as reporter:
            return await reporter.send(event), reporter.dropped

    try:
        sent, dropped = asyncio.run(send())
    except OSError as exc:  # the spool cannot be written (disk full, permissions): still run the job
        _say(f"warning: the {event.status} check-in of run {event.run_id} is lost: {exc}")
        return False
    if dropped:
        _say(
            f"warning: the spool in {invocation.home / 'spool'} is full: "
            f"the {event.status} check-in of run {event.run_id} is lost"
        )
    return sent


def run_command(
    invocation: Invocation, *, run_id: str, lock: JobLock, stop: StopSignals, start: StartCheckIn
) -> CommandResult:
    output = OutputTail(passthrough=_stdout())
    if stop.received:
        return _stopped(128 + stop.received, output, lock, run_id, stop.received)
    start.mark()
    try:
        process = subprocess.Popen(
            invocation.argv,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            cwd=invocation.job.working_dir or None,
            env=invocation.environment(run_id),
            **HOST.group_options(),  # its own process group: a timeout stops everything it started
        )
    except OSError as exc:
        return _not_started(invocation, exc, output)
    lock.record(run_id=run_id, pgid=process.pid)
    start.send_in_background()
    timeout = invocation.job.timeout_seconds
    assert process.stdout is not None
    reader = stop.output_reader(process.stdout.fileno())
    with process, contextlib.closing(reader):
        ending = pump(process, reader, output, stop, deadline=time.monotonic() + timeout if timeout else None)
        if ending != "exited":
            HOST.stop_tree(process, grace=KILL_GRACE_SECONDS)
            _read_rest(reader, output)
    return _result(ending, process.returncode, output, timeout, stop, lock, run_id)


def _not_started(invocation: Invocation, exc: OSError, output: OutputTail) -> CommandResult:
    command, working_dir = invocation.argv[0], invocation.job.working_dir
    # Popen reports a missing working directory as a missing file (on Windows as an invalid name):
    # said as it is, or it reads as "command not found".
    if working_dir and not os.path.isdir(working_dir):
        note = f"cannot run {command!r}: its working directory {working_dir!r} does not exist"
        return CommandResult("failure", CANNOT_EXECUTE_EXIT_CODE, output, [note])
    code = NOT_FOUND_EXIT_CODE if isinstance(exc, FileNotFoundError) else CANNOT_EXECUTE_EXIT_CODE
    return CommandResult("failure", code, output, [f"cannot run {command!r}: {exc}"])


def _result(
    ending: str,
    returncode: int,
    output: OutputTail,
    timeout: int | None,
    stop: StopSignals,
    lock: JobLock,
    run_id: str,
) -> CommandResult:
    code = 128 - returncode if returncode < 0 else returncode
    if ending == "timeout":
        note = f"timed out after {timeout} s: stopped the command and every process it started"
        return CommandResult("timeout", TIMEOUT_EXIT_CODE, output, [note])
    if ending == "stopped":
        assert stop.received is not None
        return _stopped(code, output, lock, run_id, stop.received)
    if code != 0 and lock.was_replaced(run_id):
        # Windows: a replacer cannot signal this wrapper and ends its command instead (platform.py).
        return CommandResult("failure", code, output, [_REPLACED_NOTE], True, lock.replacer_of(run_id))
    return CommandResult("success" if code == 0 else "failure", code, output)


def _stopped(code: int, output: OutputTail, lock: JobLock, run_id: str, signum: int) -> CommandResult:
    """Stopped by a signal to the wrapper: a replacing run's (it says so, and which run), or another's."""
    if lock.was_replaced(run_id):
        return CommandResult("failure", code, output, [_REPLACED_NOTE], True, lock.replacer_of(run_id))
    return CommandResult(
        "failure", code, output, [f"stopped by {signal.Signals(signum).name} before it finished"], True
    )


# --- the command's output ----------------------------------------------------------------------


def _stdout() -> BinaryIO | None:
    return getattr(sys.stdout, "buffer", None)


class OutputTail:
    """The last ``limit`` bytes a command printed (memory stays under ~2x that) and its full size;
    each chunk is also passed through to ``passthrough`` until writing there fails."""

    def __init__(self, *, limit: int = MAX_STORED_OUTPUT_BYTES, passthrough: BinaryIO | None = None) -> None:
        self.limit = limit
        self.size = 0
        self.passthrough = passthrough
        self._buffer = bytearray()

    @property
    def held_bytes(self) -> int:
        return len(self._buffer)

    def feed(self, chunk: bytes) -> None:
        self.size += len(chunk)
        self._buffer += chunk
        if len(self._buffer) > 2 * self.limit:  # trim in batches, not on every chunk
            del self._buffer[: len(self._buffer) - self.limit]
        self._pass_through(chunk)

    def _pass_through(self, chunk: bytes) -> None:
        if self.passthrough is None:
            return
        try:
            self.passthrough.write(chunk)
            self.passthrough.flush()
        except (OSError, ValueError):
            self.passthrough = None  # stdout closed (e.g. cron's mailer gone): keep capturing

    def render(self, notes: list[str]) -> tuple[str, int]:
        """The stored output (its tail, notes last) and the full size in bytes."""
        extra = "".join(f"{note}\n" for note in notes).encode()
        if extra and self._buffer and not self._buffer.endswith(b"\n"):
            extra = b"\n" + extra
        raw = bytes(self._buffer[-self.limit :]) + extra
        size = self.size + len(extra)
        tail = raw[-self.limit :]
        if len(tail) < size:  # cut: drop the rest of a character split at the front
            start = 0
            while start < min(3, len(tail)) and tail[start] & 0xC0 == 0x80:
                start += 1
            tail = tail[start:]
        text, _ = tail_of_output(tail.decode("utf-8", errors="replace"))
        return text or "", size


def pump(
    process: subprocess.Popen[bytes],
    reader: OutputReader,
    output: OutputTail,
    stop: StopSignals,
    *,
    deadline: float | None,
) -> str:
    """Stream the command's output until it exits ("exited"), times out ("timeout") or the wrapper
    is told to stop ("stopped")."""
    exited_at: float | None = None
    while True:
        if stop.received:
            return "stopped"
        now = time.monotonic()
        if deadline is not None and now >= deadline:
            return "timeout"
        if process.poll() is not None:
            exited_at = exited_at or now
            # A child that outlives the command may hold the pipe open: do not wait for it.
            if not reader.open or now - exited_at >= EXIT_LINGER_SECONDS:
                return "exited"
        wait = 0.2 if reader.open else 0.02
        if deadline is not None:
            wait = min(wait, max(deadline - now, 0))
        for chunk in reader.read(wait):
            output.feed(chunk)


def _read_rest(reader: OutputReader, output: OutputTail, *, linger: float = 0.2) -> None:
    """What the command printed while being stopped, until EOF or ``linger`` seconds."""
    deadline = time.monotonic() + linger
    while reader.open and (remaining := deadline - time.monotonic()) > 0:
        for chunk in reader.read(remaining):
            output.feed(chunk)


# --- signals to the wrapper --------------------------------------------------------------------


class StopSignals:
    """SIGTERM, SIGINT and SIGHUP (Windows: SIGBREAK) to the wrapper ask it to stop the command's
    group and report.

    The handler only records the signal and wakes the output loop (see ``platform.Wakeup``);
    handlers are installed only in the main thread (elsewhere, signals keep their previous
    behaviour)."""

    def __init__(self) -> None:
        self.received: int | None = None
        self._previous: dict[int, Any] = {}
        self._wakeup = HOST.wakeup()

    def __enter__(self) -> StopSignals:
        if threading.current_thread() is threading.main_thread():
            for signum in STOP_SIGNALS:
                self._previous[signum] = signal.signal(signum, self._handle)
        return self

    def __exit__(self, *_: object) -> None:
        for signum, previous in self._previous.items():
            signal.signal(signum, previous)
        self._wakeup.close()

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        self.received = self.received or signum
        self._wakeup.set()

    def output_reader(self, fd: int) -> OutputReader:
        """Reads the command's output pipe ``fd``; a stop signal cuts its waits short."""
        return self._wakeup.output_reader(fd)

    def wait(self, seconds: float) -> bool:
        """Sleep up to ``seconds``; True (at once) if a stop signal came."""
        deadline = time.monotonic() + seconds
        while not self.received and (remaining := deadline - time.monotonic()) > 0:
            self._wakeup.sleep(remaining)
        return self.received is not None


# --- the per-job lock --------------------------------------------------------------------------


@dataclass(frozen=True)
class Holder:
    """Who holds a job's lock: the wrapper's pid, its command's process group (0: none now)."""

    pid: int
    pgid: int
    run_id: str | None


class JobLock:
    """``<home>/locks/<ns>/<name>.lock``: an exclusive lock (``HOST.try_lock``) held for the
    whole invocation (all attempts). Its content says who holds it, so ``replace`` knows whom to
    stop; it is emptied before release, so a reader never mistakes a finished holder for a live one.
    ``notes`` are lines for each run's output about how the lock fell short (see ``take_lock``)."""

    def __init__(self, path: Path | None, *, notes: list[str] | None = None) -> None:
        self.path = path
        self.notes = notes or []
        self._fd: int | None = None
        self._held = False

    @classmethod
    def for_job(cls, home: Path, ref: str) -> JobLock:
        namespace, name = ref.split("/", 1)
        return cls(home / "locks" / namespace / f"{name}.lock")

    @property
    def replaced_marker(self) -> Path | None:
        return self.path.with_suffix(".replaced") if self.path else None

    def __enter__(self) -> JobLock:
        return self

    def __exit__(self, *_: object) -> None:
        self.release()

    def try_acquire(self) -> bool:
        assert self.path is not None
        if self._fd is None:
            # Not inherited by the command: os.open makes descriptors non-inheritable (PEP 446).
            self._fd = open_private(self.path)
        if not HOST.try_lock(self._fd):
            return False
        self._held = True
        self.record()
        return True

    def acquire_within(self, seconds: float) -> bool:
        deadline = time.monotonic() + seconds
        while not self.try_acquire():
            if time.monotonic() >= deadline:
                return False
            time.sleep(0.05)
        return True

    def record(self, *, run_id: str | None = None, pgid: int = 0) -> None:
        if self._fd is None:
            return  # concurrency allow: no lock
        body = json.dumps({"pid": os.getpid(), "pgid": pgid, "run_id": run_id}) + "\n"
        try:
            HOST.overwrite(self._fd, body.encode())
        except OSError as exc:  # home full: the lock itself still holds, so the job still runs
            note = (
                f"could not record this run in its lock file {self.path} ({exc}): overlapping runs are "
                "still prevented, but a replacing run cannot stop this one"
            )
            if note not in self.notes:
                self.notes.append(note)

    def holder(self, *, wait: float = LOCK_RECORD_WAIT_SECONDS) -> Holder | None:
        """The holder as it recorded itself; waits briefly for one that has just taken the lock."""
        assert self.path is not None
        deadline = time.monotonic() + wait
        while True:
            with contextlib.suppress(OSError, ValueError, KeyError, TypeError):
                body = json.loads(self.path.read_text())
                return Holder(pid=int(body["pid"]), pgid=int(body["pgid"]), run_id=body.get("run_id"))
            if time.monotonic() >= deadline:
                return None
            time.sleep(0.02)

    def mark_replaced(self, run_id: str | None, *, by: str | None = None) -> None:
        """Tell the holder's run ``run_id`` that run ``by`` replaces it: the replaced run id on the
        first line, the replacing one on the second. (An older agent wrote the first line alone,
        and its wrapper, replaced during an upgrade, reports a two-line marker as a plain stop.)"""
        if self.replaced_marker and run_id:
            # Not written (home full): the replaced run is then reported as stopped by a signal.
            with contextlib.suppress(OSError):
                fd = open_private(self.replaced_marker, os.O_WRONLY | os.O_TRUNC)
                with os.fdopen(fd, "w") as marker:
                    marker.write(f"{run_id}\n{by}\n" if by else run_id)

    def was_replaced(self, run_id: str) -> bool:
        return self._marker()[:1] == [run_id]

    def replacer_of(self, run_id: str) -> str | None:
        """The run that replaced ``run_id``; None when it was not replaced, or the replacing
        wrapper did not say (an older agent's, during an upgrade)."""
        marker = self._marker()
        return marker[1] if len(marker) > 1 and marker[0] == run_id else None

    def _marker(self) -> list[str]:
        try:
            return self.replaced_marker.read_text().split() if self.replaced_marker is not None else []
        except OSError:
            return []

    def release(self) -> None:
        if self._fd is None:
            return
        if self._held:  # only the holder empties the record: a skipped run must not erase it
            with contextlib.suppress(OSError):
                os.ftruncate(self._fd, 0)
            with contextlib.suppress(OSError):
                HOST.unlock(self._fd)  # closing frees it too, but on Windows only eventually
        os.close(self._fd)
        self._fd = None
        self._held = False


def take_lock(home: Path, job: AgentJob, *, run_id: str | None = None) -> JobLock | None:
    """The job's lock per its concurrency policy; None when this run must not start. ``run_id``:
    the run this invocation starts first, named to a run it replaces."""
    if job.concurrency == "allow":
        return JobLock(None)
    lock = JobLock.for_job(home, job.ref)
    try:
        acquired = lock.try_acquire()
    except OSError as exc:
        lock.release()
        return _unlocked(lock, job, exc)
    if acquired:
        return lock
    holder = lock.holder()
    if job.concurrency == "replace" and replace_holder(lock, holder, by=run_id):
        return lock
    who = f" (wrapper pid {holder.pid}, run {holder.run_id})" if holder else ""
    why = "could not stop it in time" if job.concurrency == "replace" else "concurrency: forbid"
    _say(f"{job.ref} is still running{who}: this run is skipped ({why})")
    lock.release()
    return None


def _unlocked(lock: JobLock, job: AgentJob, exc: OSError) -> JobLock:
    """No lock file (home full, read-only, not writable): the run goes ahead without the lock.

    The lesser evil: a skipped run is a run lost for sure, while a run without the lock can only
    overlap a previous run of this job that is still going. The note goes to stderr (cron mails
    it) and into each run's output."""
    note = f"ran without its lock (concurrency: {job.concurrency} not enforced): cannot open {lock.path}: {exc}"
    return JobLock(None, notes=[note])


def replace_holder(lock: JobLock, holder: Holder | None, *, by: str | None = None) -> bool:
    """Stop the running invocation and take its lock: SIGTERM to its wrapper (which stops its
    command's group and reports the run as replaced by run ``by``) and to the group itself; SIGKILL
    to both if the lock is not free after the wrapper's grace and report budget. (Windows: see
    ``platform.WindowsHost.stop_holder``.)"""
    if holder is not None and holder.pid != os.getpid():
        lock.mark_replaced(holder.run_id, by=by)
        HOST.stop_holder(holder.pid, holder.pgid, force=False)
    if lock.acquire_within(KILL_GRACE_SECONDS + REPORT_BUDGET_SECONDS + 2.0):
        _forget_marker(lock)
        return True
    if holder is not None and holder.pid != os.getpid():
        HOST.stop_holder(holder.pid, holder.pgid, force=True)
    if not lock.acquire_within(2.0):
        return False
    _forget_marker(lock)
    return True


def _forget_marker(lock: JobLock) -> None:
    """The replaced wrapper read it before it let go of the lock."""
    if lock.replaced_marker is not None:
        with contextlib.suppress(OSError):  # read-only home: a stale marker names an old run id only
            lock.replaced_marker.unlink(missing_ok=True)
