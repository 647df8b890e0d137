"""The on-disk spool: check-ins that could not be sent yet, kept in ``<home>/spool/``.

Guarantees:

- Durable. A check-in is in the spool only once it is wholly on disk: it is written to a temp file,
  the file is fsynced, renamed into place and the folder fsynced. A crash leaves the whole file or
  none (at most a stray ``.tmp-*`` file, swept by a later drain). Windows cannot fsync a folder:
  there a rename made just before a power cut may be undone (see ``platform.WindowsHost``).
- Ordered. File names are ``<wall-clock ns>-<pid>.json`` with the time made strictly increasing
  within a process, so sorting names gives write order: a run's start sorts before its finish, and
  older check-ins before newer ones. (Wall clock, not monotonic: the monotonic clock restarts at boot,
  and a spool outlives reboots.)
- Bounded. At most ``max_files`` check-ins (default 10,000, env ``CRONTOPUS_AGENT_SPOOL_MAX``). When
  full, the new check-in is dropped and counted in ``spool/dropped``, which ``status`` shows.
  Concurrent writers may overshoot the bound by a few files.
- Drained in order, one drainer at a time (an exclusive lock on ``spool/.drain.lock``, so the daemon
  and concurrent exec wrappers never send the same file at once). A file is deleted only after its
  publish was acknowledged; the first failure stops the drain, so nothing overtakes an unsent file.
- Stored once. A crash between an acknowledgement and the delete sends that file again; its
  ``Nats-Msg-Id`` (team, agent, run id, phase; made when sent, not stored in the file) makes
  JetStream drop the repeat within the stream's duplicate window, and the runs service merges
  check-ins by (team, run id) beyond it, so files spooled by an older agent flush the same way.
- Nothing lost silently. A file that cannot be read as a check-in, or that the server refuses for
  good, is moved to ``spool/bad/`` for a person to look at.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import threading
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from pydantic import ValidationError

from crontopus_agent.files import private_folders
from crontopus_agent.platform import HOST
from crontopus_schemas.events import CheckInEvent

DEFAULT_MAX_FILES = 10_000
MAX_FILES_ENV = "CRONTOPUS_AGENT_SPOOL_MAX"
BAD_DIR = "bad"
DROPPED_FILE = "dropped"
_DRAIN_LOCK = ".drain.lock"
_DROPPED_LOCK = ".dropped.lock"
_TMP_PREFIX = ".tmp-"
_STALE_TMP_SECONDS = 600
_NAME = re.compile(r"^\d{20}-\d+\.json$")

# Publish one check-in; True once the server acknowledged it, False to stop the drain (try later).
Publish = Callable[[CheckInEvent], Awaitable[bool]]


class CorruptSpoolFileError(ValueError):
    """A spool file that is not a check-in."""


class RejectedCheckInError(Exception):
    """Raised by a publisher when the server will never accept this check-in (e.g. too large):
    the drain moves the file to ``bad/`` instead of retrying it forever and blocking the spool."""


@dataclass(frozen=True)
class SpoolStats:
    pending: int
    dropped: int
    bad: int


_name_lock = threading.Lock()
_last_ns = 0


def _next_name() -> str:
    """A name later than any this process made before, even if the wall clock steps back."""
    global _last_ns
    with _name_lock:
        _last_ns = max(time.time_ns(), _last_ns + 1)
        return f"{_last_ns:020d}-{os.getpid()}.json"


def _write_durably(path: Path, data: bytes) -> None:
    tmp = path.with_name(f"{_TMP_PREFIX}{path.name}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.write(fd, data)
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(tmp, path)
    HOST.fsync_directory(path.parent)


def _max_files_from_env() -> int:
    try:
        return max(1, int(os.environ[MAX_FILES_ENV]))
    except (KeyError, ValueError):
        return DEFAULT_MAX_FILES


class Spool:
    """One folder of pending check-ins. Safe to use from several processes at once."""

    def __init__(self, root: Path, *, max_files: int = DEFAULT_MAX_FILES) -> None:
        self.root = Path(root)
        self.max_files = max_files

    @classmethod
    def for_home(cls, home: Path, *, max_files: int | None = None) -> Spool:
        return cls(Path(home) / "spool", max_files=max_files or _max_files_from_env())

    @property
    def bad_dir(self) -> Path:
        return self.root / BAD_DIR

    # --- writing -------------------------------------------------------------------------

    def write(self, event: CheckInEvent) -> Path | None:
        """Store ``event`` durably; its path, or None when the spool is full (counted as dropped)."""
        private_folders(self.root)
        if self.count() >= self.max_files:
            self._count_drop()
            return None
        path = self.root / _next_name()
        _write_durably(path, event.model_dump_json().encode())
        return path

    def _count_drop(self) -> None:
        # The counter is replaced by rename, so the lock lives in a file of its own.
        with self._flocked(self.root / _DROPPED_LOCK):
            _write_durably(self.root / DROPPED_FILE, f"{self.dropped() + 1}\n".encode())

    # --- reading -------------------------------------------------------------------------

    def _names(self) -> list[str]:
        try:
            return [entry.name for entry in os.scandir(self.root) if _NAME.match(entry.name)]
        except FileNotFoundError:
            return []

    def pending(self) -> list[Path]:
        """The pending check-in files, oldest first."""
        return [self.root / name for name in sorted(self._names())]

    def count(self) -> int:
        return len(self._names())

    def is_empty(self) -> bool:
        try:
            with os.scandir(self.root) as entries:
                return not any(_NAME.match(entry.name) for entry in entries)
        except FileNotFoundError:
            return True

    def dropped(self) -> int:
        try:
            return int((self.root / DROPPED_FILE).read_text().strip() or 0)
        except (FileNotFoundError, ValueError):
            return 0

    def stats(self) -> SpoolStats:
        bad = len(list(self.bad_dir.iterdir())) if self.bad_dir.is_dir() else 0
        return SpoolStats(pending=self.count(), dropped=self.dropped(), bad=bad)

    @staticmethod
    def read(path: Path) -> CheckInEvent:
        try:
            return CheckInEvent.model_validate_json(path.read_bytes())
        except (ValidationError, UnicodeDecodeError) as exc:
            raise CorruptSpoolFileError(f"{path}: not a check-in ({exc})") from exc

    # --- removing ------------------------------------------------------------------------

    def quarantine(self, path: Path) -> Path:
        """Move a file the drain cannot send to ``bad/``, keeping it for a person."""
        private_folders(self.bad_dir)
        target = self.bad_dir / path.name
        os.replace(path, target)
        HOST.fsync_directory(self.bad_dir)
        HOST.fsync_directory(self.root)
        return target

    def _sweep_stale_temp_files(self) -> None:
        """Temp files of writers that crashed before their rename; never a spooled check-in."""
        cutoff = time.time() - _STALE_TMP_SECONDS
        for tmp in self.root.glob(f"{_TMP_PREFIX}*"):
            with contextlib.suppress(FileNotFoundError):
                if tmp.stat().st_mtime < cutoff:
                    tmp.unlink()

    # --- draining ------------------------------------------------------------------------

    async def drain(self, publish: Publish, *, lock_timeout: float = 0.0) -> int:
        """Send pending check-ins oldest first; return how many were acknowledged.

        Waits up to ``lock_timeout`` seconds for another drainer to finish (then sends what it
        left). Stops at the first check-in ``publish`` could not send, keeping it and everything
        after it for the next drain."""
        if not self.root.is_dir():
            return 0
        async with self._drain_lock(lock_timeout) as locked:
            if not locked:
                return 0
            self._sweep_stale_temp_files()
            return await self._drain_locked(publish)

    async def _drain_locked(self, publish: Publish) -> int:
        sent = 0
        try:
            for path in self.pending():
                try:
                    event = self.read(path)
                except FileNotFoundError:
                    continue  # removed by hand meanwhile
                except CorruptSpoolFileError:
                    self.quarantine(path)
                    continue
                try:
                    if not await publish(event):
                        break
                except RejectedCheckInError:
                    self.quarantine(path)
                    continue
                path.unlink(missing_ok=True)
                sent += 1
        finally:
            # Once per drain, not per file: a delete lost in a crash only means a de-duplicated resend.
            if sent:
                HOST.fsync_directory(self.root)
        return sent

    @contextlib.asynccontextmanager
    async def _drain_lock(self, timeout: float) -> AsyncIterator[bool]:
        fd = os.open(self.root / _DRAIN_LOCK, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            deadline = time.monotonic() + timeout
            while True:
                if HOST.try_lock(fd):
                    break
                if time.monotonic() >= deadline:
                    yield False
                    return
                await asyncio.sleep(0.02)  # poll: a blocking lock would stall the event loop
            try:
                yield True
            finally:
                HOST.unlock(fd)
        finally:
            os.close(fd)

    @staticmethod
    @contextlib.contextmanager
    def _flocked(path: Path) -> Iterator[None]:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            HOST.lock(fd)
            yield
        finally:
            with contextlib.suppress(OSError):
                HOST.unlock(fd)  # closing frees it too, but on Windows only eventually
            os.close(fd)
