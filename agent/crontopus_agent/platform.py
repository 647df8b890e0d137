"""What the exec wrapper and the spool need from the operating system, behind one interface.

``HOST`` is the implementation for the running system (``for_platform(sys.platform)``):

- ``LinuxHost``: ``PosixHost`` plus a child subreaper (``prctl``) while a command runs.
- ``PosixHost`` (macOS, the BSDs): flock, sessions and process groups, ``fsync`` of a folder.
- ``WindowsHost``: a byte-range lock (``msvcrt.locking``), ``CREATE_NEW_PROCESS_GROUP``,
  ``CTRL_BREAK_EVENT`` then ``taskkill /T /F``, a reader thread for the command's output.

Every class exists on every system, so choosing one never touches an OS API; only calling a method
does. A method that needs one system's modules starts by raising ``WrongHostError`` elsewhere, which
is also how mypy knows to check it only against that system's stubs (``mypy --platform win32``).

Limits on Windows (what a job object would add): only the command's process group gets the break,
and ``taskkill /T`` finds descendants through a live parent, so a process that leaves the group and
whose parent already exited escapes a stop. A replacer runs in another console than the wrapper it
replaces and cannot send it a break: it ends the wrapper's command tree instead (see ``stop_holder``).
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import queue
import selectors
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import AbstractContextManager
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

if sys.platform == "win32":
    import msvcrt
    from ctypes import wintypes
else:
    import fcntl
if TYPE_CHECKING:  # mypy needs the names on both systems; it checks each half only on its own
    import fcntl
    import msvcrt
    from ctypes import wintypes

READ_SIZE = 64 * 1024
LOCK_POLL_SECONDS = 0.05  # between tries of a lock that is not free
WINDOWS_POLL_SECONDS = 0.2  # the longest a Windows wait runs before it looks at signals again
_PR_SET_CHILD_SUBREAPER = 36
# Windows byte-range locks are mandatory: a lock on byte 0 would stop other processes reading the
# holder's record there. Locking one byte far past any content leaves the data readable (locking
# past the end of a file is allowed and does not grow it). Below 2**31: any C runtime reaches it.
_WINDOWS_LOCK_OFFSET = 0x7FFFFFFE
_WINDOWS_STILL_ACTIVE = 259
_WINDOWS_ACCESS_DENIED = 5
_WINDOWS_QUERY_LIMITED_INFORMATION = 0x1000


class WrongHostError(RuntimeError):
    def __init__(self, system: str) -> None:
        super().__init__(f"only available on {system}, this is {sys.platform}")


class Wakeup(Protocol):
    """Cuts a wait short when the wrapper is told to stop; ``set`` is called from a signal handler."""

    def set(self) -> None: ...
    def sleep(self, seconds: float) -> None: ...
    def output_reader(self, fd: int) -> OutputReader: ...
    def close(self) -> None: ...


class OutputReader(Protocol):
    """The command's output pipe. ``read`` waits up to ``timeout`` and returns what arrived (possibly
    nothing); ``open`` turns False at end of file."""

    open: bool

    def read(self, timeout: float) -> list[bytes]: ...
    def close(self) -> None: ...


class Host(Protocol):
    """One per system: ``PosixHost`` and ``WindowsHost`` say what each method does there."""

    @property
    def stop_signals(self) -> tuple[signal.Signals, ...]: ...
    def group_options(self) -> dict[str, Any]: ...
    def try_lock(self, fd: int) -> bool: ...
    def lock(self, fd: int, *, timeout: float | None = None) -> bool: ...
    def unlock(self, fd: int) -> None: ...
    def overwrite(self, fd: int, data: bytes) -> None: ...
    def fsync_directory(self, path: Path) -> None: ...
    def subreaper(self) -> AbstractContextManager[None]: ...
    def stop_tree(self, process: subprocess.Popen[bytes], *, grace: float) -> None: ...
    def stop_holder(self, pid: int, pgid: int, *, force: bool) -> None: ...
    def is_alive(self, pid: int) -> bool: ...
    def wakeup(self) -> Wakeup: ...


def _poll_lock(host: Host, fd: int, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while not host.try_lock(fd):
        if time.monotonic() >= deadline:
            return False
        time.sleep(LOCK_POLL_SECONDS)
    return True


# --- POSIX -------------------------------------------------------------------------------------


class PosixHost:
    @property
    def stop_signals(self) -> tuple[signal.Signals, ...]:
        if sys.platform == "win32":
            raise WrongHostError("POSIX")
        return (signal.SIGTERM, signal.SIGINT, signal.SIGHUP)

    def group_options(self) -> dict[str, Any]:
        """Popen options for a child in its own session: a stop reaches everything it started."""
        return {"start_new_session": True}

    # locks: flock, released by unlock or by closing the file

    def try_lock(self, fd: int) -> bool:
        if sys.platform == "win32":
            raise WrongHostError("POSIX")
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return False
        return True

    def lock(self, fd: int, *, timeout: float | None = None) -> bool:
        """Take the lock, waiting up to ``timeout`` seconds (None: as long as it takes)."""
        if sys.platform == "win32":
            raise WrongHostError("POSIX")
        if timeout is None:
            fcntl.flock(fd, fcntl.LOCK_EX)
            return True
        return _poll_lock(self, fd, timeout)

    def unlock(self, fd: int) -> None:
        if sys.platform == "win32":
            raise WrongHostError("POSIX")
        fcntl.flock(fd, fcntl.LOCK_UN)

    def overwrite(self, fd: int, data: bytes) -> None:
        """Replace a small file's content through ``fd``."""
        if sys.platform == "win32":
            raise WrongHostError("POSIX")
        os.ftruncate(fd, 0)
        os.pwrite(fd, data, 0)

    def fsync_directory(self, path: Path) -> None:
        """Make renames and deletes in ``path`` durable."""
        if sys.platform == "win32":
            raise WrongHostError("POSIX")
        fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)

    def subreaper(self) -> AbstractContextManager[None]:
        return contextlib.nullcontext()

    # processes

    def stop_tree(self, process: subprocess.Popen[bytes], *, grace: float) -> None:
        """SIGTERM to the child's whole process group, SIGKILL after ``grace`` if anything is left."""
        if sys.platform == "win32":
            raise WrongHostError("POSIX")
        signal_group(process.pid, signal.SIGTERM)
        deadline = time.monotonic() + grace
        while _group_alive(process) and time.monotonic() < deadline:
            time.sleep(0.02)
        if _group_alive(process):
            signal_group(process.pid, signal.SIGKILL)
        process.wait()
        _reap_group(process.pid)

    def stop_holder(self, pid: int, pgid: int, *, force: bool) -> None:
        """Stop another wrapper and its command's group: SIGTERM, or SIGKILL when ``force``."""
        if sys.platform == "win32":
            raise WrongHostError("POSIX")
        signum = signal.SIGKILL if force else signal.SIGTERM
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, signum)
        signal_group(pgid, signum)

    def is_alive(self, pid: int) -> bool:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:  # someone else's process: it exists
            return True
        except OSError:
            return False
        return True

    def wakeup(self) -> Wakeup:
        return SelfPipe()


class LinuxHost(PosixHost):
    @contextlib.contextmanager
    def subreaper(self) -> Iterator[None]:
        """Orphans of the command are reparented to the wrapper while it runs, so a stopped group is
        seen empty as soon as its members die (an init that never reaps would keep zombies)."""
        try:
            libc: Any = ctypes.CDLL(None, use_errno=True)
        except OSError:
            libc = None
        if libc is None:
            yield
            return
        libc.prctl(_PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)
        try:
            yield
        finally:
            libc.prctl(_PR_SET_CHILD_SUBREAPER, 0, 0, 0, 0)


def signal_group(pgid: int, signum: int) -> None:
    """Signal a process group, never our own (pgid 0 or 1 would mean us or everyone)."""
    if sys.platform == "win32":
        raise WrongHostError("POSIX")
    if pgid <= 1 or pgid == os.getpgrp():
        return
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, signum)


def _group_alive(process: subprocess.Popen[bytes]) -> bool:
    if sys.platform == "win32":
        raise WrongHostError("POSIX")
    if process.poll() is not None:
        _reap_group(process.pid)
    try:
        os.killpg(process.pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _reap_group(pgid: int) -> None:
    """Reap members of the group reparented to us (we are a subreaper), so they stop counting."""
    if sys.platform == "win32":
        raise WrongHostError("POSIX")
    with contextlib.suppress(ChildProcessError):
        while os.waitpid(-pgid, os.WNOHANG)[0]:
            pass


class SelfPipe:
    """A signal handler writes a byte to a pipe; ``select`` on it returns at once."""

    _read_fd: int
    _write_fd: int
    _selector: selectors.BaseSelector

    def __init__(self) -> None:
        if sys.platform == "win32":
            raise WrongHostError("POSIX")  # no os.set_blocking for a pipe before Python 3.12
        self._read_fd, self._write_fd = os.pipe()
        os.set_blocking(self._read_fd, False)
        os.set_blocking(self._write_fd, False)
        self._selector = selectors.DefaultSelector()
        self._selector.register(self._read_fd, selectors.EVENT_READ)

    @property
    def fd(self) -> int:
        return self._read_fd

    def set(self) -> None:
        with contextlib.suppress(BlockingIOError):
            os.write(self._write_fd, b"\0")

    def clear(self) -> None:
        with contextlib.suppress(BlockingIOError):
            while os.read(self._read_fd, 512):
                pass

    def sleep(self, seconds: float) -> None:
        self._selector.select(seconds)
        self.clear()

    def output_reader(self, fd: int) -> OutputReader:
        return SelectReader(fd, self)

    def close(self) -> None:
        self._selector.close()
        os.close(self._read_fd)
        os.close(self._write_fd)


class SelectReader:
    """Waits on the output pipe and the wakeup pipe together (``select`` takes pipes on POSIX)."""

    def __init__(self, fd: int, wakeup: SelfPipe) -> None:
        self.fd = fd
        self.open = True
        self._wakeup = wakeup
        self._selector = selectors.DefaultSelector()
        self._selector.register(fd, selectors.EVENT_READ)
        self._selector.register(wakeup.fd, selectors.EVENT_READ)

    def read(self, timeout: float) -> list[bytes]:
        chunks = []
        for key, _ in self._selector.select(timeout):
            if key.fd == self._wakeup.fd:
                self._wakeup.clear()
            elif chunk := os.read(self.fd, READ_SIZE):
                chunks.append(chunk)
            else:
                self._selector.unregister(self.fd)
                self.open = False
        return chunks

    def close(self) -> None:
        self._selector.close()


# --- Windows -----------------------------------------------------------------------------------


class WindowsHost:
    @property
    def stop_signals(self) -> tuple[signal.Signals, ...]:
        # SIGBREAK is what CTRL_BREAK_EVENT raises; Windows has no SIGHUP, and never sends SIGTERM
        # itself (os.kill with it terminates at once), but a handler for it costs nothing.
        if sys.platform != "win32":
            raise WrongHostError("Windows")
        return (signal.SIGTERM, signal.SIGINT, signal.SIGBREAK)

    def group_options(self) -> dict[str, Any]:
        """Popen options for a child in its own process group (the target of CTRL_BREAK_EVENT)."""
        if sys.platform != "win32":
            raise WrongHostError("Windows")
        return {"creationflags": subprocess.CREATE_NEW_PROCESS_GROUP}

    # locks: one byte at _WINDOWS_LOCK_OFFSET; msvcrt locks from the file position, so it is moved
    # there and back (the lock file's record is written through the same descriptor)

    def _locking(self, fd: int, mode: int) -> None:
        if sys.platform != "win32":
            raise WrongHostError("Windows")
        position = os.lseek(fd, 0, os.SEEK_CUR)
        os.lseek(fd, _WINDOWS_LOCK_OFFSET, os.SEEK_SET)
        try:
            msvcrt.locking(fd, mode, 1)
        finally:
            os.lseek(fd, position, os.SEEK_SET)

    def try_lock(self, fd: int) -> bool:
        if sys.platform != "win32":
            raise WrongHostError("Windows")
        try:
            self._locking(fd, msvcrt.LK_NBLCK)
        except PermissionError:  # EACCES: another handle holds it
            return False
        return True

    def lock(self, fd: int, *, timeout: float | None = None) -> bool:
        # Polled: msvcrt's blocking mode gives up after 10 s with an error.
        return _poll_lock(self, fd, float("inf") if timeout is None else timeout)

    def unlock(self, fd: int) -> None:
        # Explicit, because Windows frees the locks of a closed handle only "when resources allow".
        if sys.platform != "win32":
            raise WrongHostError("Windows")
        with contextlib.suppress(PermissionError):  # not locked by this handle
            self._locking(fd, msvcrt.LK_UNLCK)

    def overwrite(self, fd: int, data: bytes) -> None:
        os.ftruncate(fd, 0)
        os.lseek(fd, 0, os.SEEK_SET)  # no os.pwrite on Windows
        os.write(fd, data)

    def fsync_directory(self, path: Path) -> None:
        """Nothing to do, and nothing possible: os.open cannot open a folder on Windows, and there is
        no fsync for one. NTFS journals its metadata, so a crash leaves a rename done or not done,
        never a broken entry; what is not promised is that a rename made just before a power cut
        survives it. (MoveFileExW with MOVEFILE_WRITE_THROUGH would be the way to promise that.)"""

    def subreaper(self) -> AbstractContextManager[None]:
        return contextlib.nullcontext()  # Windows does not reparent orphans

    # processes

    def stop_tree(self, process: subprocess.Popen[bytes], *, grace: float) -> None:
        """CTRL_BREAK_EVENT to the child's process group (the Windows SIGTERM), then, if the child is
        still there after ``grace``, ``taskkill /T /F`` on it and its descendants."""
        if sys.platform != "win32":
            raise WrongHostError("Windows")
        try:
            os.kill(process.pid, signal.CTRL_BREAK_EVENT)
        except OSError:  # we have no console to send it through: go straight to taskkill
            grace = 0
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(timeout=grace)
        # Our open process handle keeps the pid from being reused, so this cannot hit a stranger.
        if process.poll() is None:
            _taskkill(process.pid, tree=True)
        process.wait()

    def stop_holder(self, pid: int, pgid: int, *, force: bool) -> None:
        """Another wrapper lives in another console: a break cannot reach it. Ending its command's
        tree makes it report the run and free the lock; ``force`` ends the wrapper and its tree."""
        if pgid > 0:
            _taskkill(pgid, tree=True)
        if force:
            _taskkill(pid, tree=True)

    def is_alive(self, pid: int) -> bool:
        # Not os.kill(pid, 0): on Windows signal 0 is CTRL_C_EVENT, sent to the process group.
        if sys.platform != "win32":
            raise WrongHostError("Windows")
        kernel32 = ctypes.WinDLL("kernel32", use_last_error=True)
        kernel32.OpenProcess.restype = wintypes.HANDLE
        kernel32.OpenProcess.argtypes = (wintypes.DWORD, wintypes.BOOL, wintypes.DWORD)
        kernel32.GetExitCodeProcess.argtypes = (wintypes.HANDLE, ctypes.POINTER(wintypes.DWORD))
        kernel32.CloseHandle.argtypes = (wintypes.HANDLE,)
        handle = kernel32.OpenProcess(_WINDOWS_QUERY_LIMITED_INFORMATION, False, pid)
        if not handle:
            return ctypes.get_last_error() == _WINDOWS_ACCESS_DENIED  # exists, not ours to query
        try:
            code = wintypes.DWORD()
            if not kernel32.GetExitCodeProcess(handle, ctypes.byref(code)):
                return True
            return code.value == _WINDOWS_STILL_ACTIVE
        finally:
            kernel32.CloseHandle(handle)

    def wakeup(self) -> Wakeup:
        return PollingWakeup()


def _taskkill(pid: int, *, tree: bool) -> None:
    system = os.environ.get("SYSTEMROOT", r"C:\Windows")  # Windows names are case-blind
    argv = [str(Path(system) / "System32" / "taskkill.exe"), "/F", "/PID", str(pid)]
    if tree:
        argv.insert(1, "/T")
    with contextlib.suppress(OSError, subprocess.TimeoutExpired):
        subprocess.run(argv, stdin=subprocess.DEVNULL, capture_output=True, check=False, timeout=30)


class PollingWakeup:
    """Windows: ``select`` takes only sockets, and a Python signal handler runs only when the main
    thread is between bytecodes, so no pipe could cut a wait short. Waits are cut into slices of
    ``WINDOWS_POLL_SECONDS`` instead, after each of which the caller looks at the signals again.
    Plain Python: it works (and is tested) on POSIX too."""

    def __init__(self, *, slice_seconds: float = WINDOWS_POLL_SECONDS) -> None:
        self.slice_seconds = slice_seconds

    def set(self) -> None:
        pass  # the handler has recorded the signal; the running slice ends soon enough

    def sleep(self, seconds: float) -> None:
        time.sleep(max(0.0, min(seconds, self.slice_seconds)))

    def output_reader(self, fd: int) -> OutputReader:
        return ThreadReader(fd, slice_seconds=self.slice_seconds)

    def close(self) -> None:
        pass


class ThreadReader:
    """A thread reads the pipe (blocking) into a queue; ``read`` waits on the queue, at most one
    slice at a time. The thread reads its own duplicate of the descriptor, so closing the pipe
    while a read is pending is safe; it ends at end of file (a daemon thread: an escaped background
    process holding the pipe never keeps the wrapper from exiting)."""

    def __init__(self, fd: int, *, slice_seconds: float = WINDOWS_POLL_SECONDS) -> None:
        self.open = True
        self.slice_seconds = slice_seconds
        self._chunks: queue.SimpleQueue[bytes] = queue.SimpleQueue()
        own = os.dup(fd)
        threading.Thread(target=self._pump, args=(own,), name="crontopus-output", daemon=True).start()

    def _pump(self, fd: int) -> None:
        try:
            while chunk := os.read(fd, READ_SIZE):
                self._chunks.put(chunk)
        except OSError:
            pass
        finally:
            os.close(fd)
            self._chunks.put(b"")

    def read(self, timeout: float) -> list[bytes]:
        if not self.open:
            time.sleep(max(0.0, min(timeout, self.slice_seconds)))
            return []
        try:
            chunks = [self._chunks.get(timeout=max(0.0, min(timeout, self.slice_seconds)))]
        except queue.Empty:
            return []
        with contextlib.suppress(queue.Empty):
            while chunks[-1]:
                chunks.append(self._chunks.get_nowait())
        if not chunks[-1]:
            self.open = False
            chunks.pop()
        return chunks

    def close(self) -> None:
        pass


# --- choosing ----------------------------------------------------------------------------------


def for_platform(name: str) -> Host:
    """The implementation for a ``sys.platform`` value; builds an object, calls no OS API."""
    if name == "win32":
        return WindowsHost()
    if name.startswith("linux"):
        return LinuxHost()
    return PosixHost()


HOST: Host = for_platform(sys.platform)
