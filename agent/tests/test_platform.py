"""platform.py: the operating-system primitives the exec wrapper and the spool stand on.

Tested here, on this POSIX host and against the real system: the POSIX implementations (a lock
held by another process, a lock wait that gives up, a stop that reaches grandchildren and a
child that ignores SIGTERM, ``fsync`` of a folder, the Linux subreaper, whether a pid is alive),
which implementation each ``sys.platform`` gets, and the parts of the Windows implementation that
are plain Python (the polling wakeup and the reader thread), also driven through a whole
``execute`` so the wrapper's Windows way of waiting for output and signals runs end to end.

Not tested here, because only Windows can run it: ``msvcrt`` byte-range locking,
``CREATE_NEW_PROCESS_GROUP``, ``CTRL_BREAK_EVENT`` and ``taskkill /T /F``, the ``OpenProcess``
liveness check, ``WindowsHost.stop_holder`` across two wrappers, and that the agent's modules import
there. The last is checked statically: ``mypy --platform win32 agent/crontopus_agent`` passes for
runner.py, spool.py, status.py, daemon.py and platform.py.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from crontopus_agent import jobs, runner
from crontopus_agent.jobs import AgentJob, write_specs
from crontopus_agent.platform import (
    HOST,
    LinuxHost,
    OutputReader,
    PollingWakeup,
    PosixHost,
    Wakeup,
    WindowsHost,
    WrongHostError,
    for_platform,
)
from crontopus_agent.spool import Spool
from crontopus_agent.testing import alive

posix_only = pytest.mark.skipif(sys.platform == "win32", reason="the POSIX implementation")
linux_only = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc, prctl")

LOCK_HOLDER = textwrap.dedent(
    """
    import os, sys
    from crontopus_agent.platform import HOST
    fd = os.open(sys.argv[1], os.O_RDWR | os.O_CREAT, 0o600)
    assert HOST.try_lock(fd)
    print("locked", flush=True)
    sys.stdin.readline()
    """
)


def gone_soon(pid: int, timeout: float = 2.0) -> bool:
    """A SIGKILL is delivered at once, but the process takes a moment to die."""
    deadline = time.monotonic() + timeout
    while alive(pid) and time.monotonic() < deadline:
        time.sleep(0.01)
    return not alive(pid)


def parent_of(pid: int) -> int:
    return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])


def wait_for_file(path: Path, timeout: float = 10.0) -> str:
    deadline = time.monotonic() + timeout
    while not (path.exists() and path.read_text().strip()):
        assert time.monotonic() < deadline, f"{path} was never written"
        time.sleep(0.02)
    return path.read_text()


@pytest.fixture
def lock_file(tmp_path: Path) -> Iterator[int]:
    fd = os.open(tmp_path / "job.lock", os.O_RDWR | os.O_CREAT, 0o600)
    yield fd
    os.close(fd)


@pytest.fixture
def held_elsewhere(tmp_path: Path) -> Iterator[subprocess.Popen[str]]:
    """Another process holding the lock on ``job.lock`` until its stdin gets a line."""
    holder = subprocess.Popen(
        [sys.executable, "-c", LOCK_HOLDER, str(tmp_path / "job.lock")],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert holder.stdout is not None and holder.stdout.readline() == "locked\n"
    yield holder
    if holder.poll() is None:
        holder.kill()
    holder.communicate()


@pytest.fixture
def reaper() -> Iterator[None]:
    """Orphans come to us, as they do to the wrapper, so a dead grandchild does not linger as a
    zombie under a PID 1 that never reaps (as in this container)."""
    with HOST.subreaper():
        yield


# --- which implementation ----------------------------------------------------------------------


def test_each_system_gets_its_own_implementation() -> None:
    assert type(for_platform("win32")) is WindowsHost
    assert type(for_platform("linux")) is LinuxHost
    assert type(for_platform("darwin")) is PosixHost
    assert type(for_platform("freebsd14")) is PosixHost


def test_the_host_in_use_is_the_one_for_this_system() -> None:
    assert type(HOST) is type(for_platform(sys.platform))


@posix_only
def test_the_windows_implementation_refuses_to_run_here_instead_of_misbehaving(lock_file: int) -> None:
    windows = WindowsHost()

    with pytest.raises(WrongHostError, match="only available on Windows"):
        windows.try_lock(lock_file)
    with pytest.raises(WrongHostError):
        windows.group_options()
    with pytest.raises(WrongHostError):
        windows.is_alive(os.getpid())


def test_posix_only_calls_live_in_platform_py_alone() -> None:
    """What keeps every other module importable on Windows."""
    package = Path(runner.__file__).parent
    posix_only_calls = (
        "import fcntl",
        "os.killpg",
        "os.setsid",
        "os.getpgrp",
        "os.WNOHANG",
        "os.O_DIRECTORY",
        "os.pwrite",
        "os.kill(",  # on Windows, os.kill(pid, 0) sends CTRL_C_EVENT
        "start_new_session=",
        "prctl(",
        "signal.SIGHUP",
        "signal.SIGKILL",
    )
    offenders = {
        f"{path.relative_to(package)}: {call}"
        for path in package.rglob("*.py")
        if path.name != "platform.py"
        for call in posix_only_calls
        if call in path.read_text()
    }
    assert offenders == set()


# --- locks -------------------------------------------------------------------------------------


@posix_only
def test_a_lock_held_by_another_process_is_refused_until_it_lets_go(
    lock_file: int, held_elsewhere: subprocess.Popen[str]
) -> None:
    assert not HOST.try_lock(lock_file)

    assert held_elsewhere.stdin is not None
    held_elsewhere.stdin.write("\n")
    held_elsewhere.stdin.flush()

    assert HOST.lock(lock_file, timeout=10)


@posix_only
def test_waiting_for_a_lock_gives_up_after_the_timeout(lock_file: int, held_elsewhere: subprocess.Popen[str]) -> None:
    started = time.monotonic()

    assert not HOST.lock(lock_file, timeout=0.3)

    assert 0.3 <= time.monotonic() - started < 2


@posix_only
def test_unlock_frees_the_lock_while_the_file_stays_open(tmp_path: Path, lock_file: int) -> None:
    other = os.open(tmp_path / "job.lock", os.O_RDWR)
    try:
        assert HOST.try_lock(lock_file)
        assert not HOST.try_lock(other)

        HOST.unlock(lock_file)

        assert HOST.try_lock(other)
    finally:
        os.close(other)


@posix_only
def test_overwrite_replaces_the_whole_record(tmp_path: Path, lock_file: int) -> None:
    HOST.overwrite(lock_file, b'{"pid": 123456, "pgid": 123456, "run_id": "a-long-run-id"}\n')
    HOST.overwrite(lock_file, b'{"pid": 1}\n')

    assert (tmp_path / "job.lock").read_bytes() == b'{"pid": 1}\n'


# --- process groups ----------------------------------------------------------------------------


@posix_only
def test_a_child_started_in_its_own_group_leads_a_new_session() -> None:
    child = subprocess.Popen(["sleep", "30"], **HOST.group_options())
    try:
        assert os.getsid(child.pid) == child.pid != os.getsid(0)
    finally:
        child.kill()
        child.wait()


@linux_only
def test_stopping_a_tree_ends_the_grandchildren_too(tmp_path: Path, reaper: None) -> None:
    pids = tmp_path / "pids"
    child = subprocess.Popen(["sh", "-c", f"sleep 30 & echo $! > {pids}; wait"], **HOST.group_options())
    grandchild = int(wait_for_file(pids))
    started = time.monotonic()

    HOST.stop_tree(child, grace=5)

    assert time.monotonic() - started < 2  # SIGTERM was enough: no wait for the grace
    assert child.returncode == -signal.SIGTERM
    assert gone_soon(grandchild)


@linux_only
def test_a_tree_that_ignores_sigterm_is_killed_after_the_grace(tmp_path: Path, reaper: None) -> None:
    pids = tmp_path / "pids"
    script = f"trap '' TERM; sleep 30 & echo $! > {pids}; wait"
    child = subprocess.Popen(["sh", "-c", script], **HOST.group_options())
    grandchild = int(wait_for_file(pids))
    started = time.monotonic()

    HOST.stop_tree(child, grace=0.5)

    assert 0.5 <= time.monotonic() - started < 3
    assert child.returncode == -signal.SIGKILL
    assert gone_soon(grandchild)


@posix_only
@pytest.mark.parametrize(("force", "signum"), [(False, signal.SIGTERM), (True, signal.SIGKILL)])
def test_stopping_a_holder_reaches_the_wrapper_and_its_commands_group(force: bool, signum: int) -> None:
    wrapper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    command = subprocess.Popen(["sleep", "30"], **HOST.group_options())

    HOST.stop_holder(wrapper.pid, command.pid, force=force)

    assert wrapper.wait(timeout=10) == -signum
    assert command.wait(timeout=10) == -signum


@posix_only
def test_a_process_is_alive_until_it_has_exited_and_been_reaped() -> None:
    child = subprocess.Popen(["sleep", "30"])
    assert HOST.is_alive(os.getpid()) and HOST.is_alive(child.pid)

    child.kill()
    child.wait()

    assert not HOST.is_alive(child.pid)


@linux_only
def test_orphans_come_to_the_wrapper_only_while_it_is_a_subreaper() -> None:
    def orphan() -> int:
        # sh exits at once; its background sleep is orphaned and reparented.
        out = subprocess.run(["sh", "-c", "sleep 30 >/dev/null 2>&1 & echo $!"], capture_output=True, check=True)
        return int(out.stdout)

    with HOST.subreaper():
        adopted = orphan()
        assert parent_of(adopted) == os.getpid()
        os.kill(adopted, signal.SIGKILL)
        os.waitpid(adopted, 0)
    elsewhere = orphan()
    try:
        assert parent_of(elsewhere) != os.getpid()
    finally:
        os.kill(elsewhere, signal.SIGKILL)


# --- folders -----------------------------------------------------------------------------------


@posix_only
def test_a_folder_can_be_fsynced_and_a_missing_one_is_an_error(tmp_path: Path) -> None:
    (tmp_path / "spool").mkdir()
    (tmp_path / "not-a-folder").write_text("x")

    HOST.fsync_directory(tmp_path / "spool")

    with pytest.raises(FileNotFoundError):
        HOST.fsync_directory(tmp_path / "missing")
    with pytest.raises(NotADirectoryError):
        HOST.fsync_directory(tmp_path / "not-a-folder")


# --- the Windows way of waiting, run here (plain Python) ----------------------------------------


def read_all(reader: OutputReader, timeout: float = 10.0) -> bytes:
    deadline = time.monotonic() + timeout
    chunks = []
    while reader.open:
        assert time.monotonic() < deadline, "no end of file"
        chunks += reader.read(0.2)
    return b"".join(chunks)


def test_the_reader_thread_passes_on_everything_and_then_the_end_of_the_output() -> None:
    script = "import sys\nfor i in range(5000): sys.stdout.write(f'line {i:04d}\\n')"
    process = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE)
    assert process.stdout is not None

    with process:
        output = read_all(PollingWakeup().output_reader(process.stdout.fileno()))

    assert output == b"".join(f"line {i:04d}\n".encode() for i in range(5000))


def test_the_reader_thread_returns_within_a_slice_when_nothing_is_printed() -> None:
    process = subprocess.Popen(["sleep", "30"], stdout=subprocess.PIPE)
    assert process.stdout is not None
    reader = PollingWakeup(slice_seconds=0.1).output_reader(process.stdout.fileno())
    try:
        started = time.monotonic()
        assert reader.read(10) == []
        assert time.monotonic() - started < 1
    finally:
        process.kill()
        process.communicate()


def test_a_polling_wait_never_outlasts_one_slice() -> None:
    started = time.monotonic()

    PollingWakeup(slice_seconds=0.05).sleep(10)

    assert time.monotonic() - started < 0.5


@pytest.fixture
def windows_waiting(monkeypatch: pytest.MonkeyPatch) -> None:
    """The wrapper waits for output and signals the Windows way (reader thread, polled signals)."""

    class WindowsWaiting(type(HOST)):  # type: ignore[misc]
        def wakeup(self) -> Wakeup:
            return PollingWakeup()

    monkeypatch.setattr(runner, "HOST", WindowsWaiting())
    monkeypatch.setattr(runner, "KILL_GRACE_SECONDS", 0.5)


def spooled(home: Path) -> list[tuple[str, int | None, str | None]]:
    spool = Spool.for_home(home)
    return [(event.status, event.exit_code, event.output) for event in map(spool.read, spool.pending())]


@posix_only
def test_a_run_waited_for_the_windows_way_reports_its_output(
    tmp_path: Path, windows_waiting: None, capfd: pytest.CaptureFixture[str]
) -> None:
    home = tmp_path / "home"  # not enrolled: both check-ins stay in the spool

    code = runner.execute(home=home, ref="team/backup", argv=["sh", "-c", "echo one; echo two"], guard=False)

    assert code == 0
    assert spooled(home) == [("running", None, None), ("success", 0, "one\ntwo\n")]
    assert "one\ntwo\n" in capfd.readouterr().out


@posix_only
def test_a_timeout_waited_for_the_windows_way_stops_the_command(tmp_path: Path, windows_waiting: None) -> None:
    home = tmp_path / "home"
    write_specs(
        home,
        [
            AgentJob(
                namespace="team", name="backup", schedule="* * * * *", timezone="UTC", command="sh", timeout_seconds=1
            )
        ],
    )
    started = time.monotonic()

    code = runner.execute(home=home, ref="team/backup", argv=["sh", "-c", "echo working; sleep 30"], guard=False)

    assert code == runner.TIMEOUT_EXIT_CODE
    assert time.monotonic() - started < 4
    [_, (status, _, output)] = spooled(home)
    assert status == "timeout" and output is not None and output.startswith("working\n")


@posix_only
def test_a_signal_to_a_wrapper_waiting_the_windows_way_stops_the_run_within_a_slice(
    tmp_path: Path, windows_waiting: None
) -> None:
    home = tmp_path / "home"
    stopper = threading.Timer(0.5, os.kill, (os.getpid(), signal.SIGTERM))
    started = time.monotonic()
    stopper.start()
    try:
        code = runner.execute(home=home, ref="team/backup", argv=["sleep", "30"], guard=False)
    finally:
        stopper.cancel()

    assert code == 128 + signal.SIGTERM
    assert time.monotonic() - started < 3
    [_, (status, _, output)] = spooled(home)
    assert status == "failure" and output is not None and "stopped by SIGTERM" in output


# --- the agent's own executable ------------------------------------------------------------------


@pytest.mark.parametrize(("system", "script"), [("win32", "crontopus-agent.exe"), ("linux", "crontopus-agent")])
def test_schedulers_run_the_agent_script_installed_next_to_the_interpreter(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, system: str, script: str
) -> None:
    scripts = tmp_path / "Scripts"
    scripts.mkdir()
    (scripts / script).touch()
    monkeypatch.setattr(jobs.sys, "platform", system)
    monkeypatch.setattr(jobs.sys, "executable", str(scripts / "python.exe"))

    assert jobs.agent_executable() == [str(scripts / script)]


def test_without_the_script_schedulers_run_the_agent_as_a_module(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "crontopus-agent").touch()  # the POSIX name does not count on Windows
    monkeypatch.setattr(jobs.sys, "platform", "win32")
    monkeypatch.setattr(jobs.sys, "executable", str(tmp_path / "python.exe"))

    assert jobs.agent_executable() == [str(tmp_path / "python.exe"), "-m", "crontopus_agent"]
