"""``crontopus-agent exec``: what runs, what is reported, and what a user sees in the run history.

Against a real nats-server with the CHECKINS stream; check-ins are read back from the stream."""

from __future__ import annotations

import asyncio
import errno
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import nats
import pytest

from crontopus_agent import runner
from crontopus_agent.home import Credentials
from crontopus_agent.jobs import AgentJob, write_specs
from crontopus_agent.reporting import MSG_ID_HEADER
from crontopus_agent.runner import OutputTail, backoff_delays, execute
from crontopus_agent.slots import start_books
from crontopus_agent.spool import Spool
from crontopus_agent.testing import alive
from crontopus_kit.nats_server import NatsServerProcess
from crontopus_schemas.events import MAX_STORED_OUTPUT_BYTES, CheckInEvent
from crontopus_schemas.subjects import CHECKINS_STREAM, checkin_subject

AGENT_ID = "0a1b2c3d4e5f60718293a4b5c6d7e8f9"
TENANT_ID = "f9e8d7c6b5a4938271605f4e3d2c1b0a"
REF = "team/backup"


class CheckIns:
    """The CHECKINS stream as the runs service would read it."""

    def __init__(self, url: str) -> None:
        self.url = url

    def _run(self, work: Any) -> Any:
        async def with_connection() -> Any:
            nc = await nats.connect(self.url)
            try:
                return await work(nc.jetstream())
            finally:
                await nc.close()

        return asyncio.run(with_connection())

    def create(self) -> None:
        self._run(
            lambda js: js.add_stream(
                name=CHECKINS_STREAM.name,
                subjects=list(CHECKINS_STREAM.subjects),
                duplicate_window=CHECKINS_STREAM.duplicate_window_seconds,
            )
        )

    def messages(self) -> list[tuple[str, str, CheckInEvent]]:
        """(Nats-Msg-Id, subject, check-in) in stream order."""

        async def read(js: Any) -> list[tuple[str, str, CheckInEvent]]:
            state = (await js.stream_info(CHECKINS_STREAM.name)).state
            found = []
            for seq in range(state.first_seq, state.last_seq + 1) if state.messages else ():
                msg = await js.get_msg(CHECKINS_STREAM.name, seq)
                found.append((msg.headers[MSG_ID_HEADER], msg.subject, CheckInEvent.model_validate_json(msg.data)))
            return found

        result: list[tuple[str, str, CheckInEvent]] = self._run(read)
        return result

    def events(self) -> list[CheckInEvent]:
        return [event for _, _, event in self.messages()]

    def wait_for(self, count: int, timeout: float = 10.0) -> list[CheckInEvent]:
        deadline = time.monotonic() + timeout
        while len(events := self.events()) < count:
            assert time.monotonic() < deadline, f"expected {count} check-ins, got {events}"
            time.sleep(0.05)
        return events


@pytest.fixture
def checkins(nats_server: NatsServerProcess) -> CheckIns:
    stream = CheckIns(nats_server.url)
    stream.create()
    return stream


@pytest.fixture
def home(tmp_path: Path) -> Path:
    return tmp_path / "home"


@pytest.fixture
def enrolled(home: Path, nats_server: NatsServerProcess) -> Path:
    """An enrolled agent home. The test server has no auth: the empty login is ignored by it."""
    Credentials(
        agent_id=AGENT_ID,
        tenant_id=TENANT_ID,
        name="test-host",
        nats_urls=[nats_server.url],
        nats_user="",
        nats_password="",
        server_url="http://127.0.0.1:9",
    ).save(home)
    return home


@pytest.fixture(autouse=True)
def short_waits(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(runner, "KILL_GRACE_SECONDS", 0.5)


def install(home: Path, **fields: Any) -> AgentJob:
    job = AgentJob(
        **{"namespace": "team", "name": "backup", "schedule": "* * * * *", "timezone": "UTC", "command": "sh"} | fields
    )
    write_specs(home, [job])
    return job


def sh(script: str) -> list[str]:
    return ["sh", "-c", script]


def runs(events: list[CheckInEvent]) -> dict[str, list[CheckInEvent]]:
    grouped: dict[str, list[CheckInEvent]] = {}
    for event in events:
        grouped.setdefault(event.run_id, []).append(event)
    return grouped


@pytest.fixture
def wrappers() -> Iterator[list[subprocess.Popen[bytes]]]:
    """Exec wrappers started as separate processes (as cron would); stopped if a test fails."""
    started: list[subprocess.Popen[bytes]] = []
    yield started
    for process in started:
        if process.poll() is None:
            process.kill()
        process.communicate()


def start_wrapper(home: Path, command: list[str], wrappers: list[subprocess.Popen[bytes]]) -> subprocess.Popen[bytes]:
    argv = [sys.executable, "-m", "crontopus_agent", "exec", "--home", str(home), REF, "--", *command]
    process = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    wrappers.append(process)
    return process


# --- a run and its check-ins ---------------------------------------------------------------------


def test_a_successful_command_is_one_run_with_a_start_and_a_finish(
    enrolled: Path, checkins: CheckIns, tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    workdir = tmp_path / "work"
    workdir.mkdir()
    install(enrolled, env={"GREETING": "hello"}, working_dir=str(workdir), commit="c0ffee")

    code = execute(home=enrolled, ref=REF, argv=sh('echo "$GREETING from $(pwd)"; echo oops >&2'), guard=False)

    assert code == 0
    [(start_id, subject, start), (finish_id, _, finish)] = checkins.messages()
    assert subject == checkin_subject(TENANT_ID, AGENT_ID)
    assert start.run_id == finish.run_id and len(start.run_id) == 32
    ours = f"{TENANT_ID}:{AGENT_ID}:{start.run_id}"
    assert (start_id, finish_id) == (f"{ours}:start", f"{ours}:finish")
    assert (start.status, finish.status, finish.exit_code) == ("running", "success", 0)
    assert finish.output == f"hello from {workdir}\noops\n"
    assert finish.output_size == len(finish.output.encode())
    assert finish.duration_ms is not None and finish.duration_ms >= 0
    assert finish.timestamp >= start.timestamp
    assert {start.manifest_commit, finish.manifest_commit} == {"c0ffee"}
    assert {start.source, finish.source} == {AGENT_ID}
    seen = capfd.readouterr()
    assert seen.out == f"hello from {workdir}\noops\n"  # passed through for cron's mail
    assert seen.err == ""  # nothing of the wrapper's own: cron mails only what the job printed


def test_a_failing_command_reports_failure_with_its_exit_code(enrolled: Path, checkins: CheckIns) -> None:
    install(enrolled)

    assert execute(home=enrolled, ref=REF, argv=sh("echo cannot reach backup host >&2; exit 3"), guard=False) == 3

    finish = checkins.events()[-1]
    assert (finish.status, finish.exit_code) == ("failure", 3)
    assert finish.output == "cannot reach backup host\n"


def test_a_command_that_does_not_exist_is_reported_as_a_failed_run(enrolled: Path, checkins: CheckIns) -> None:
    install(enrolled)

    assert execute(home=enrolled, ref=REF, argv=["/no/such/backup-tool"], guard=False) == 127

    start, finish = checkins.events()
    assert (start.status, finish.status, finish.exit_code) == ("running", "failure", 127)
    assert "/no/such/backup-tool" in (finish.output or "")


def test_a_missing_working_directory_is_reported_as_such_not_as_a_missing_command(
    enrolled: Path, checkins: CheckIns, tmp_path: Path
) -> None:
    gone = tmp_path / "gone"
    install(enrolled, working_dir=str(gone))

    assert execute(home=enrolled, ref=REF, argv=["/bin/pwd"], guard=False) == 126

    finish = checkins.events()[-1]
    assert finish.status == "failure"
    assert f"working directory '{gone}' does not exist" in (finish.output or "")


def test_a_job_run_by_hand_without_a_spec_is_still_reported(enrolled: Path, checkins: CheckIns) -> None:
    assert execute(home=enrolled, ref="adhoc/once", argv=["--", "echo", "by hand"], guard=False) == 0

    start, finish = checkins.events()
    assert start.job == finish.job == "adhoc/once"
    assert (finish.status, finish.output, finish.manifest_commit) == ("success", "by hand\n", None)


def test_a_bad_job_reference_runs_nothing(enrolled: Path, checkins: CheckIns, tmp_path: Path) -> None:
    marker = tmp_path / "ran"

    assert execute(home=enrolled, ref="../../etc", argv=["touch", str(marker)], guard=False) == 2

    assert not marker.exists() and checkins.events() == []


# --- timeouts --------------------------------------------------------------------------------------


def test_a_timeout_stops_the_whole_process_tree_and_reports_timeout(
    enrolled: Path, checkins: CheckIns, tmp_path: Path
) -> None:
    pids = tmp_path / "pids"
    install(enrolled, timeout_seconds=1)
    started = time.monotonic()

    code = execute(home=enrolled, ref=REF, argv=sh(f"echo working; sleep 30 & echo $! > {pids}; sleep 30"), guard=False)

    assert code == 124
    assert time.monotonic() - started < 4
    background = int(pids.read_text())
    assert not alive(background)
    finish = checkins.events()[-1]
    assert (finish.status, finish.exit_code) == ("timeout", 124)
    assert finish.output is not None and finish.output.startswith("working\n")
    assert "[crontopus] timed out after 1 s" in finish.output


def test_a_command_that_ignores_sigterm_is_killed_after_the_grace(
    enrolled: Path, checkins: CheckIns, tmp_path: Path
) -> None:
    pids = tmp_path / "pids"
    install(enrolled, timeout_seconds=1)
    started = time.monotonic()

    code = execute(home=enrolled, ref=REF, argv=sh(f"trap '' TERM; sleep 30 & echo $! > {pids}; wait"), guard=False)

    assert code == 124
    assert 1.4 < time.monotonic() - started < 4  # the timeout, then the grace before SIGKILL
    assert not alive(int(pids.read_text()))
    assert checkins.events()[-1].status == "timeout"


# --- output ----------------------------------------------------------------------------------------


def test_output_beyond_the_bound_keeps_its_tail_and_reports_the_full_size(
    enrolled: Path, checkins: CheckIns, capfd: pytest.CaptureFixture[str]
) -> None:
    install(enrolled)
    script = "import sys\nfor i in range(20000): sys.stdout.write(f'line {i:06d}\\n')"

    assert execute(home=enrolled, ref=REF, argv=[sys.executable, "-c", script], guard=False) == 0

    finish = checkins.events()[-1]
    assert finish.output_size == 20000 * 12
    assert finish.output is not None and len(finish.output.encode()) == MAX_STORED_OUTPUT_BYTES
    assert finish.output.endswith("line 019999\n")
    assert len(capfd.readouterr().out) == 20000 * 12  # all of it passed through


def test_memory_for_output_stays_bounded_however_much_a_command_prints() -> None:
    tail = OutputTail(limit=1000)
    for _ in range(10_000):
        tail.feed(b"x" * 999 + b"\n")

    assert tail.held_bytes <= 2 * 1000 + 1000
    output, size = tail.render([])
    assert size == 10_000_000 and len(output) == 1000


def test_a_tail_cut_inside_a_character_stays_readable() -> None:
    tail = OutputTail(limit=9)
    tail.feed("ééééé".encode())  # 10 bytes: the cut falls inside the first é

    output, size = tail.render([])

    assert (output, size) == ("éééé", 10)


# --- concurrency -------------------------------------------------------------------------------------


def test_forbid_skips_a_run_while_the_previous_one_still_runs(
    enrolled: Path, checkins: CheckIns, tmp_path: Path, wrappers: list[subprocess.Popen[bytes]]
) -> None:
    install(enrolled, concurrency="forbid")
    release, second_ran = tmp_path / "release", tmp_path / "second-ran"
    first = start_wrapper(enrolled, sh(f"while [ ! -e {release} ]; do sleep 0.05; done"), wrappers)
    [started] = checkins.wait_for(1)

    code = execute(home=enrolled, ref=REF, argv=["touch", str(second_ran)], guard=False)

    assert code == 0
    assert not second_ran.exists()
    release.touch()
    assert first.wait(timeout=10) == 0
    events = checkins.wait_for(2)
    assert [(e.run_id, e.status) for e in events] == [(started.run_id, "running"), (started.run_id, "success")]


def test_forbid_tells_cron_why_a_run_was_skipped(
    enrolled: Path, checkins: CheckIns, tmp_path: Path, wrappers: list[subprocess.Popen[bytes]], capfd: Any
) -> None:
    install(enrolled, concurrency="forbid")
    release = tmp_path / "release"
    first = start_wrapper(enrolled, sh(f"while [ ! -e {release} ]; do sleep 0.05; done"), wrappers)
    [started] = checkins.wait_for(1)

    execute(home=enrolled, ref=REF, argv=["true"], guard=False)

    err = capfd.readouterr().err
    assert f"{REF} is still running" in err and started.run_id in err and "concurrency: forbid" in err
    release.touch()
    first.wait(timeout=10)


def test_replace_stops_the_running_run_and_then_runs(
    enrolled: Path, checkins: CheckIns, tmp_path: Path, wrappers: list[subprocess.Popen[bytes]]
) -> None:
    install(enrolled, concurrency="replace")
    pids = tmp_path / "pids"
    first = start_wrapper(enrolled, sh(f"echo $$ > {pids}; echo first; while true; do sleep 0.05; done"), wrappers)
    [old_start] = checkins.wait_for(1)
    deadline = time.monotonic() + 10  # the start is reported before the shell writes its pid
    while not pids.exists() and time.monotonic() < deadline:
        time.sleep(0.02)

    assert execute(home=enrolled, ref=REF, argv=["echo", "second"], guard=False) == 0

    assert first.wait(timeout=10) == 128 + signal.SIGTERM
    assert not alive(int(pids.read_text()))
    old_start, old_finish, new_start, new_finish = checkins.events()
    assert old_finish.run_id == old_start.run_id != new_start.run_id == new_finish.run_id
    assert old_finish.status == "failure"
    assert old_finish.output is not None and old_finish.output.startswith("first\n")
    assert "replaced it (concurrency: replace)" in old_finish.output
    assert old_finish.replaced_by == new_start.run_id, "names the run that replaced it"
    assert (new_finish.status, new_finish.output, new_finish.replaced_by) == ("success", "second\n", None)


def test_a_skipped_run_leaves_the_running_runs_record_in_place(
    enrolled: Path, checkins: CheckIns, tmp_path: Path, wrappers: list[subprocess.Popen[bytes]]
) -> None:
    install(enrolled, concurrency="forbid")
    release = tmp_path / "release"
    first = start_wrapper(enrolled, sh(f"while [ ! -e {release} ]; do sleep 0.05; done"), wrappers)
    [started] = checkins.wait_for(1)
    lock = runner.JobLock.for_job(enrolled, REF)
    deadline = time.monotonic() + 30  # the command's group is recorded just after the start check-in
    while ((holder := lock.holder(wait=0)) is None or holder.pgid == 0) and time.monotonic() < deadline:
        time.sleep(0.02)

    assert execute(home=enrolled, ref=REF, argv=["true"], guard=False) == 0

    holder = lock.holder(wait=0)  # what the next skip names, and what a replacing run would stop
    assert holder is not None and (holder.pid, holder.run_id) == (first.pid, started.run_id)
    release.touch()
    assert first.wait(timeout=30) == 0


def test_allow_runs_overlapping_runs_side_by_side(
    enrolled: Path, checkins: CheckIns, tmp_path: Path, wrappers: list[subprocess.Popen[bytes]]
) -> None:
    install(enrolled, concurrency="allow")
    release = tmp_path / "release"
    first = start_wrapper(enrolled, sh(f"while [ ! -e {release} ]; do sleep 0.05; done"), wrappers)
    checkins.wait_for(1)

    assert execute(home=enrolled, ref=REF, argv=["true"], guard=False) == 0

    release.touch()
    assert first.wait(timeout=10) == 0
    assert sorted(event.status for event in checkins.wait_for(4)) == ["running", "running", "success", "success"]


# --- retries ---------------------------------------------------------------------------------------


def test_each_attempt_is_its_own_run_in_the_history(enrolled: Path, checkins: CheckIns) -> None:
    install(enrolled, retries_limit=2, retries_backoff_seconds=0)

    assert execute(home=enrolled, ref=REF, argv=sh("echo try; exit 1"), guard=False) == 1

    history = runs(checkins.events())
    assert len(history) == 3
    assert [[e.status for e in run] for run in history.values()] == [["running", "failure"]] * 3
    outputs = [run[-1].output for run in history.values()]
    assert outputs == [
        "try\n[crontopus] attempt 1 of 3 failed; the next attempt starts in 0 s as a new run\n",
        "try\n[crontopus] attempt 2 of 3 failed; the next attempt starts in 0 s as a new run\n",
        "try\n[crontopus] attempt 3 of 3\n",
    ]


def test_a_retry_that_succeeds_ends_the_series(enrolled: Path, checkins: CheckIns, tmp_path: Path) -> None:
    install(enrolled, retries_limit=3, retries_backoff_seconds=0)
    tries = tmp_path / "tries"

    code = execute(home=enrolled, ref=REF, argv=sh(f"echo x >> {tries}; [ $(wc -l < {tries}) -ge 2 ]"), guard=False)

    assert code == 0
    assert [run[-1].status for run in runs(checkins.events()).values()] == ["failure", "success"]


def test_retries_wait_the_backoff_doubling_each_time(enrolled: Path, checkins: CheckIns) -> None:
    assert backoff_delays(3, 30) == [30, 60, 120]
    install(enrolled, retries_limit=1, retries_backoff_seconds=1)
    started = time.monotonic()

    execute(home=enrolled, ref=REF, argv=["false"], guard=False)

    assert time.monotonic() - started >= 1
    first, second = runs(checkins.events()).values()
    assert (second[0].timestamp - first[-1].timestamp).total_seconds() >= 1


# --- guard and paused ------------------------------------------------------------------------------


def test_guard_runs_nothing_when_the_job_is_not_due(
    enrolled: Path, checkins: CheckIns, tmp_path: Path, capfd: Any
) -> None:
    minute = (datetime.now(UTC).minute + 30) % 60
    install(enrolled, schedule=f"{minute} * * * *")
    marker = tmp_path / "ran"

    assert execute(home=enrolled, ref=REF, argv=["touch", str(marker)], guard=True) == 0

    assert not marker.exists()
    assert checkins.events() == []
    assert capfd.readouterr() == ("", "")  # cron mails nothing


def test_guard_runs_the_job_when_it_is_due(enrolled: Path, checkins: CheckIns) -> None:
    install(enrolled, schedule="* * * * *", timezone="Pacific/Chatham")

    assert execute(home=enrolled, ref=REF, argv=["true"], guard=True) == 0

    assert [e.status for e in checkins.events()] == ["running", "success"]


def due_minutes_ago(home: Path, minutes: int, *, timezone: str = "Asia/Kathmandu") -> AgentJob:
    """A guarded job (a zone other than the host's) due once a day, ``minutes`` ago, installed by
    the daemon an hour before that."""
    then = (datetime.now(UTC) - timedelta(minutes=minutes)).astimezone(ZoneInfo(timezone))
    job = install(home, schedule=f"{then.minute} {then.hour} * * *", timezone=timezone)
    start_books(home, [job], now=datetime.now(UTC) - timedelta(hours=1))
    return job


def test_a_guarded_wrapper_that_starts_late_still_runs_the_run_and_says_how_late(
    enrolled: Path, checkins: CheckIns
) -> None:
    due_minutes_ago(enrolled, 2)  # a loaded host: cron started the wrapper on time, it got going 2 min later

    assert execute(home=enrolled, ref=REF, argv=["echo", "backed up"], guard=True) == 0

    start, finish = checkins.events()
    assert (start.status, finish.status) == ("running", "success")
    assert (finish.output or "").startswith("backed up\n[crontopus] started 2 min")
    assert "after its time" in (finish.output or "")


def test_wrappers_started_together_for_the_same_late_run_run_it_once(
    enrolled: Path, checkins: CheckIns, tmp_path: Path, wrappers: list[subprocess.Popen[bytes]]
) -> None:
    due_minutes_ago(enrolled, 2)
    ran = tmp_path / "ran"
    argv = [sys.executable, "-m", "crontopus_agent", "exec", "--home", str(enrolled), "--guard", REF, "--"]
    for _ in range(3):
        wrappers.append(subprocess.Popen([*argv, *sh(f"echo once >>{ran}")], stdout=subprocess.PIPE))

    for process in wrappers:
        assert process.wait(timeout=60) == 0

    assert ran.read_text() == "once\n"
    assert [event.status for event in checkins.events()] == ["running", "success"]


def test_a_guarded_wrapper_too_late_for_its_run_says_so_once_and_runs_nothing(
    enrolled: Path, checkins: CheckIns, tmp_path: Path, capfd: Any
) -> None:
    due_minutes_ago(enrolled, 10)
    marker = tmp_path / "ran"

    assert execute(home=enrolled, ref=REF, argv=["touch", str(marker)], guard=True) == 0

    assert not marker.exists() and checkins.events() == []
    said = capfd.readouterr().err  # cron mails it
    assert f"{REF}: the run due at " in said
    assert "was not run: no wrapper started within 5 min of the time" in said
    assert execute(home=enrolled, ref=REF, argv=["touch", str(marker)], guard=True) == 0
    assert capfd.readouterr().err == ""  # said once, not by every wrapper after it


def test_a_paused_job_is_not_run(enrolled: Path, checkins: CheckIns, tmp_path: Path) -> None:
    install(enrolled, paused=True)
    marker = tmp_path / "ran"

    assert execute(home=enrolled, ref=REF, argv=["touch", str(marker)], guard=False) == 0

    assert not marker.exists() and checkins.events() == []


# --- NATS down, spool, enrollment --------------------------------------------------------------------


def test_checkins_made_while_nats_is_down_are_sent_in_order_once_it_is_back(
    enrolled: Path, checkins: CheckIns, nats_server: NatsServerProcess
) -> None:
    install(enrolled)
    nats_server.stop()
    for word in ("one", "two"):
        started = time.monotonic()
        assert execute(home=enrolled, ref=REF, argv=["echo", word], guard=False) == 0
        assert time.monotonic() - started < 3  # NATS down does not hold the cron slot

    spool = Spool.for_home(enrolled)
    spooled = [spool.read(path) for path in spool.pending()]
    assert [(e.status, e.output) for e in spooled] == [
        ("running", None),
        ("success", "one\n"),
        ("running", None),
        ("success", "two\n"),
    ]
    assert not [p for p in spool.root.iterdir() if p.name.startswith(".tmp-")]

    nats_server.start()
    assert execute(home=enrolled, ref=REF, argv=["echo", "three"], guard=False) == 0

    messages = checkins.messages()
    assert [(e.status, e.output) for _, _, e in messages] == [
        ("running", None),
        ("success", "one\n"),
        ("running", None),
        ("success", "two\n"),
        ("running", None),
        ("success", "three\n"),
    ]
    msg_ids = [msg_id for msg_id, _, _ in messages]
    assert len(set(msg_ids)) == 6 and len({e.run_id for _, _, e in messages}) == 3
    assert spool.is_empty()


@pytest.fixture
def silent_nats(home: Path) -> Iterator[None]:
    """An enrolled home whose NATS takes connections and never answers them (a hung server, a
    firewall that drops): each connect waits out its timeout."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(16)
        port = listener.getsockname()[1]
        Credentials(
            agent_id=AGENT_ID, tenant_id=TENANT_ID, name="test-host", nats_urls=[f"nats://127.0.0.1:{port}"],
            nats_user="", nats_password="", server_url="http://127.0.0.1:9",
        ).save(home)  # fmt: skip
        yield


def test_a_silent_nats_neither_delays_the_command_nor_moves_its_reported_start_and_end(
    home: Path, silent_nats: None, tmp_path: Path
) -> None:
    install(home)
    stamps = tmp_path / "stamps"
    launched = time.time()

    assert (
        execute(home=home, ref=REF, argv=sh(f"date +%s.%N >{stamps}; sleep 0.5; date +%s.%N >>{stamps}"), guard=False)
        == 0
    )

    command_started, command_ended = (float(line) for line in stamps.read_text().split())
    assert command_started - launched < 1  # sending the start took 2 s (connect timeout): not before the command
    spool = Spool.for_home(home)
    start, finish = (spool.read(path) for path in spool.pending())
    assert (start.status, finish.status) == ("running", "success")
    assert abs(start.timestamp.timestamp() - command_started) < 0.3  # the run history's "started at"
    assert abs(finish.timestamp.timestamp() - command_ended) < 0.3  # not when the start was finally spooled
    assert finish.duration_ms is not None and 500 <= finish.duration_ms < 800


def test_an_agent_not_enrolled_still_runs_the_job_and_keeps_its_checkins(
    home: Path, nats_server: NatsServerProcess, checkins: CheckIns, tmp_path: Path, capfd: Any
) -> None:
    marker = tmp_path / "ran"

    assert execute(home=home, ref=REF, argv=["touch", str(marker)], guard=False) == 0

    assert marker.exists()
    assert "not enrolled" in capfd.readouterr().err
    assert Spool.for_home(home).count() == 2

    Credentials(
        agent_id=AGENT_ID,
        tenant_id=TENANT_ID,
        name="test-host",
        nats_urls=[nats_server.url],
        nats_user="",
        nats_password="",
        server_url="http://127.0.0.1:9",
    ).save(home)
    execute(home=home, ref=REF, argv=["true"], guard=False)

    messages = checkins.messages()
    assert len(messages) == 4
    assert {subject for _, subject, _ in messages} == {checkin_subject(TENANT_ID, AGENT_ID)}
    assert {event.source for _, _, event in messages} == {AGENT_ID}


def test_a_full_spool_drops_checkins_and_says_so(
    home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capfd: Any
) -> None:
    monkeypatch.setenv("CRONTOPUS_AGENT_SPOOL_MAX", "1")

    assert execute(home=home, ref=REF, argv=["true"], guard=False) == 0

    assert "is full" in capfd.readouterr().err
    assert Spool.for_home(home).stats().dropped == 1
    assert os.path.exists(home / "spool" / "dropped")


def test_a_spool_that_cannot_be_written_does_not_stop_the_job(home: Path, tmp_path: Path, capfd: Any) -> None:
    home.mkdir()
    (home / "spool").write_text("a file where the spool folder should be")
    marker = tmp_path / "ran"

    assert execute(home=home, ref=REF, argv=["touch", str(marker)], guard=False) == 0

    assert marker.exists()
    assert "check-in of run" in capfd.readouterr().err


# --- a home the agent cannot write -----------------------------------------------------------------


def no_room_for_locks(home: Path) -> None:
    """A file where the locks folder should be: no lock file can be created, even as root."""
    home.mkdir(parents=True, exist_ok=True)
    (home / "locks").write_text("not a folder")


@pytest.mark.parametrize("concurrency", ["forbid", "replace"])
def test_a_job_whose_lock_file_cannot_be_created_still_runs_and_says_so(
    enrolled: Path, checkins: CheckIns, tmp_path: Path, capfd: Any, concurrency: str
) -> None:
    install(enrolled, concurrency=concurrency)
    no_room_for_locks(enrolled)
    marker = tmp_path / "ran"

    assert execute(home=enrolled, ref=REF, argv=["touch", str(marker)], guard=False) == 0

    assert marker.exists()
    finish = checkins.events()[-1]
    assert finish.status == "success"
    assert f"ran without its lock (concurrency: {concurrency} not enforced)" in (finish.output or "")
    [line] = [line for line in capfd.readouterr().err.splitlines() if "lock" in line]
    assert "ran without its lock" in line and str(enrolled / "locks") in line


def test_a_job_whose_lock_cannot_be_recorded_still_runs_under_the_lock(
    home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capfd: Any
) -> None:
    job = install(home, concurrency="forbid")

    def disk_full(fd: int, data: bytes) -> None:
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(runner.HOST, "overwrite", disk_full)
    lock = runner.take_lock(home, job)

    assert lock is not None
    with lock:
        assert not runner.JobLock.for_job(home, REF).try_acquire()  # the lock itself still holds
        assert any("could not record this run" in note for note in lock.notes)
    marker = tmp_path / "ran"
    assert execute(home=home, ref=REF, argv=["touch", str(marker)], guard=False) == 0
    assert marker.exists()
    assert "No space left on device" in capfd.readouterr().err


def test_the_wrapper_runs_the_job_in_a_home_where_it_can_write_nothing(
    home: Path, tmp_path: Path, wrappers: list[subprocess.Popen[bytes]]
) -> None:
    install(home, concurrency="forbid")
    no_room_for_locks(home)
    (home / "spool").write_text("not a folder either")
    marker = tmp_path / "ran"

    wrapper = start_wrapper(home, ["touch", str(marker)], wrappers)
    _, err = wrapper.communicate(timeout=60)

    assert wrapper.returncode == 0
    assert marker.exists()
    assert b"ran without its lock" in err
    assert b"Traceback" not in err
