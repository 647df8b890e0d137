"""The crontab backend: pure planning on text, the backend against a stand-in `crontab`, and a real cron."""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import replace
from datetime import datetime
from pathlib import Path

import pytest

from crontopus_agent.jobs import AgentJob, exec_argv
from crontopus_agent.schedulers import zones
from crontopus_agent.schedulers.base import SchedulerError
from crontopus_agent.schedulers.crontab import (
    HEADER,
    CrontabBackend,
    Entry,
    cron_command,
    owned_entries,
    plan_crontab,
    render_block,
    render_entry,
)
from crontopus_agent.testing import crontab

HOME = Path("/var/lib/crontopus-agent")
AGENT = ("/usr/local/bin/crontopus-agent",)

USER_CRONTAB = (
    "# m h  dom mon dow   command\n"
    'MAILTO="ops@example.com"\n'
    "\n"
    "  */10\t*  * * *   /usr/bin/report  --out=/tmp/r-$(date +\\%F).txt\n"
    "#0 3 * * * disabled by hand\n"
    "SHELL=/bin/sh   \n"
)


def job(name: str = "backup", **changes: object) -> AgentJob:
    base = AgentJob(
        namespace="ops", name=name, schedule="*/5 * * * *", timezone="UTC", command="/usr/bin/backup", args=("--all",)
    )
    return replace(base, **changes)  # type: ignore[arg-type]


def entries(*jobs: AgentJob) -> dict[str, Entry]:
    return {j.ref: render_entry(j, home=HOME, agent_command=AGENT) for j in jobs}


def block(j: AgentJob) -> str:
    return render_block(j.ref, entries(j)[j.ref])


def installed(*jobs: AgentJob, before: str = USER_CRONTAB) -> str:
    text, _ = plan_crontab(before, entries(*jobs))
    return text


@pytest.fixture(autouse=True)
def utc_host() -> Iterator[None]:
    """Host-clock decisions depend on the host's zone: make it UTC for every test."""
    saved = os.environ.get("TZ")
    os.environ["TZ"] = "UTC"
    time.tzset()
    zones._differences_this_year.cache_clear()  # cached per zone and day, not per host zone
    yield
    if saved is None:
        del os.environ["TZ"]
    else:
        os.environ["TZ"] = saved
    time.tzset()
    zones._differences_this_year.cache_clear()


# --- planning on text -------------------------------------------------------------------------


def test_it_appends_a_new_entry_under_its_header_and_keeps_every_user_line_byte_for_byte() -> None:
    text, report = plan_crontab(USER_CRONTAB, entries(job()))

    assert text == f"{USER_CRONTAB}\n{HEADER}\n{block(job())}"
    assert report.added == ["ops/backup"]
    assert report.drift == []


def test_the_marker_names_the_job_its_fingerprint_and_the_sha_of_the_line_under_it() -> None:
    marker, line, _ = installed(job(), before="").split("\n")[1:]

    assert marker.startswith(f"# crontopus: job=ops/backup fingerprint={job().fingerprint} sha=")
    assert line.startswith("*/5 * * * * /usr/local/bin/crontopus-agent exec --home /var/lib/crontopus-agent ops/backup")


def test_a_crontab_with_nothing_owned_and_no_jobs_is_left_exactly_as_it_was() -> None:
    odd = "MAILTO=x\n\n\n#  a  comment\t\n0 1 * * * echo 100\\% done"  # no final newline either

    text, report = plan_crontab(odd, {})

    assert text == odd
    assert not report.changed


def test_it_ends_the_users_last_line_before_appending_after_it() -> None:
    text, _ = plan_crontab("MAILTO=x", entries(job()))

    assert text == f"MAILTO=x\n\n{HEADER}\n{block(job())}"


def test_a_second_job_added_later_goes_under_the_same_header() -> None:
    first = installed(job())

    text, report = plan_crontab(first, entries(job(), job("cleanup")), known={"ops/backup"})

    assert text == first + block(job("cleanup"))
    assert text.count(HEADER) == 1
    assert report.added == ["ops/cleanup"]


def test_a_changed_job_is_updated_in_place_and_lines_around_it_stay() -> None:
    before = installed(job(), job("cleanup")) + "0 1 * * * /usr/bin/after\n"
    changed = job(schedule="0 4 * * *")

    text, report = plan_crontab(before, entries(changed, job("cleanup")), known={"ops/backup", "ops/cleanup"})

    assert text == before.replace(block(job()), block(changed))
    assert report.updated == ["ops/backup"]
    assert report.drift == []


def test_a_job_no_longer_desired_is_removed_and_only_its_lines_go() -> None:
    before = installed(job(), job("cleanup")) + "0 1 * * * /usr/bin/after\n"

    text, report = plan_crontab(before, entries(job("cleanup")), known={"ops/backup", "ops/cleanup"})

    assert text == before.replace(block(job()), "")
    assert report.removed == ["ops/backup"]
    assert report.drift == []


def test_the_header_goes_when_the_last_entry_goes_and_blank_lines_do_not_pile_up() -> None:
    emptied, report = plan_crontab(installed(job()), {}, known={"ops/backup"})
    again, _ = plan_crontab(emptied, entries(job()))

    assert emptied == USER_CRONTAB + "\n"  # the blank line before the header is not told apart from the user's
    assert report.removed == ["ops/backup"]
    assert again == installed(job())


def test_a_hand_edited_entry_is_restored_and_reported_as_edited() -> None:
    good = installed(job())
    edited = good.replace("\n*/5 * * * * ", "\n*/1 * * * * ")

    text, report = plan_crontab(edited, entries(job()), known={"ops/backup"})

    assert edited != good
    assert text == good
    assert [(d.ref, d.kind) for d in report.drift] == [("ops/backup", "edited")]
    assert report.updated == []


def test_a_hand_deleted_entry_the_agent_installed_is_restored_and_reported_as_deleted() -> None:
    deleted = installed(job(), job("cleanup")).replace(block(job()), "")

    text, report = plan_crontab(deleted, entries(job(), job("cleanup")), known={"ops/backup", "ops/cleanup"})

    assert owned_entries(text) == {"ops/backup": job().fingerprint, "ops/cleanup": job("cleanup").fingerprint}
    assert [(d.ref, d.kind) for d in report.drift] == [("ops/backup", "deleted")]
    assert report.added == []


def test_a_missing_entry_the_agent_never_installed_is_added_not_reported_as_drift() -> None:
    _, report = plan_crontab(USER_CRONTAB, entries(job()), known=set())

    assert report.added == ["ops/backup"]
    assert report.drift == []


def test_a_marker_left_without_its_line_gets_the_line_back_and_the_users_next_line_is_kept() -> None:
    marker = block(job()).split("\n")[0]
    orphaned = f"{USER_CRONTAB}{HEADER}\n{marker}\n0 1 * * * /usr/bin/after\n"

    text, report = plan_crontab(orphaned, entries(job()), known={"ops/backup"})

    assert text == f"{USER_CRONTAB}{HEADER}\n{block(job())}0 1 * * * /usr/bin/after\n"
    assert [(d.ref, d.kind) for d in report.drift] == [("ops/backup", "deleted")]


def test_a_duplicated_entry_is_reduced_to_one_and_the_intact_copy_wins() -> None:
    good = installed(job())
    edited_copy = block(job()).replace("*/5 * * * * ", "*/1 * * * * ")
    duplicated = good.replace(block(job()), edited_copy + block(job()))

    text, report = plan_crontab(duplicated, entries(job()), known={"ops/backup"})

    assert text == good
    assert [(d.ref, d.kind) for d in report.drift] == [("ops/backup", "edited")]


def test_an_owned_entry_for_a_job_never_installed_nor_desired_is_removed_as_unknown() -> None:
    with_ghost = installed(job(), job("ghost"))

    text, report = plan_crontab(with_ghost, entries(job()), known={"ops/backup"})

    assert text == installed(job())
    assert report.removed == ["ops/ghost"]
    assert [(d.ref, d.kind) for d in report.drift] == [("ops/ghost", "unknown")]


def test_entries_of_jobs_that_could_not_be_rendered_are_left_as_they_are() -> None:
    before = installed(job())

    text, report = plan_crontab(before, {}, known={"ops/backup"}, keep={"ops/backup"})

    assert text == before
    assert not report.changed


def test_reconciling_an_up_to_date_crontab_changes_nothing() -> None:
    first, _ = plan_crontab(USER_CRONTAB, entries(job(), job("cleanup", paused=True)))

    second, report = plan_crontab(first, entries(job(), job("cleanup", paused=True)), known={"ops/backup"})

    assert second == first
    assert not report.changed


# --- rendering an entry -------------------------------------------------------------------------


def test_a_paused_job_is_installed_commented_out_under_its_marker() -> None:
    text = installed(job(paused=True), before="")

    marker, line = text.split("\n")[1:3]
    assert marker.startswith("# crontopus: job=ops/backup ")
    assert line.startswith("# */5 * * * * /usr/local/bin/crontopus-agent exec ")
    assert owned_entries(text) == {"ops/backup": job(paused=True).fingerprint}


def test_a_berlin_job_on_a_utc_host_fires_at_host_hours_0_and_1_through_the_guard() -> None:
    line = render_entry(job(schedule="0 2 * * *", timezone="Europe/Berlin"), home=HOME, agent_command=AGENT).line

    assert line.startswith("0 0,1 * * * ")
    assert shlex.split(line)[5:9] == [*AGENT, "exec", "--home", str(HOME)]
    assert shlex.split(line)[9:11] == ["--guard", "ops/backup"]


def test_a_job_on_the_hosts_clock_is_installed_as_written_without_guard() -> None:
    line = render_entry(job(schedule="30 2 * * 1-5"), home=HOME, agent_command=AGENT).line

    assert line.startswith("30 2 * * 1-5 ")
    assert "--guard" not in shlex.split(line)


def test_by_default_an_entry_runs_the_agents_own_exec_argv() -> None:
    line = render_entry(job(), home=HOME).line

    assert shlex.split(line)[5:] == exec_argv(HOME, job())
    assert Path(shlex.split(line)[5]).is_absolute()  # cron's PATH is bare


def cron_unescape(command: str) -> str:
    """What Debian's cron hands to /bin/sh (do_command.c): "\\%" becomes "%", a bare "%" ends it."""
    out: list[str] = []
    escaped = False
    for ch in command:
        if escaped:
            out[-1:] = [ch] if ch == "%" else [out[-1], ch]
            escaped = False
        elif ch == "%":
            break
        else:
            out.append(ch)
            escaped = ch == "\\"
    return "".join(out)


@pytest.mark.parametrize(
    "arg", ["two words", "50% off", "date +%F", "back\\%slash", "two\\\\%", "it's 100%", "%", "$HOME `x` \\n"]
)
def test_an_argument_reaches_the_command_exactly_through_cron_and_sh(arg: str) -> None:
    echo = [sys.executable, "-c", "import json, sys; print(json.dumps(sys.argv[1:]))"]
    command = cron_unescape(cron_command([*echo, arg]))

    shell = subprocess.run(["/bin/sh", "-c", command], capture_output=True, text=True, check=True)

    assert json.loads(shell.stdout) == [arg]


def test_a_line_break_in_an_argument_cannot_be_installed() -> None:
    with pytest.raises(ValueError, match="line break"):
        render_entry(job(args=("a\nb",)), home=HOME)


def test_a_command_longer_than_cron_accepts_cannot_be_installed() -> None:
    with pytest.raises(ValueError, match="at most 998"):
        render_entry(job(args=("x" * 1000,)), home=HOME)


# --- the backend, with a stand-in `crontab` command --------------------------------------------

FAKE_CRONTAB = """
import json, pathlib, sys
root = pathlib.Path(sys.argv[1])
args = sys.argv[2:]
with open(root / "calls.jsonl", "a") as calls:
    calls.write(json.dumps(args) + "\\n")
tab = root / "crontab.txt"
if (root / "broken").exists():
    sys.exit("crontab: cannot open the spool: Permission denied")
if args[-1] == "-l":
    if not tab.exists():
        sys.exit("no crontab for tester")
    sys.stdout.buffer.write(tab.read_bytes())
elif args[-1] == "-":
    tab.write_bytes(sys.stdin.buffer.read())
"""


class FakeCrontab:
    """A `crontab` that keeps the table in a file and records every call."""

    def __init__(self, root: Path) -> None:
        self.root = root
        (root / "fake_crontab.py").write_text(FAKE_CRONTAB)
        self.command = (sys.executable, str(root / "fake_crontab.py"), str(root))

    @property
    def text(self) -> str:
        return (self.root / "crontab.txt").read_text()

    @text.setter
    def text(self, value: str) -> None:
        (self.root / "crontab.txt").write_text(value)

    @property
    def calls(self) -> list[list[str]]:
        lines = (self.root / "calls.jsonl").read_text().splitlines()
        return [json.loads(line) for line in lines]

    @property
    def writes(self) -> int:
        return sum(call[-1] == "-" for call in self.calls)


@pytest.fixture
def fake(tmp_path: Path) -> FakeCrontab:
    return FakeCrontab(tmp_path)


MID_MINUTE = datetime(2026, 11, 27, 12, 0, 30)


@pytest.fixture
def backend(fake: FakeCrontab, tmp_path: Path) -> CrontabBackend:
    return CrontabBackend(
        tmp_path / "home", crontab_command=fake.command, agent_command=AGENT, clock=lambda: MID_MINUTE
    )


@pytest.mark.parametrize(("second", "wait"), [(59, 4.1), (0, 3.1), (2, 1.1)])
def test_a_write_at_the_top_of_the_minute_is_made_again_after_crons_check(
    fake: FakeCrontab, tmp_path: Path, second: int, wait: float
) -> None:
    waited: list[float] = []
    backend = CrontabBackend(
        tmp_path / "home", crontab_command=fake.command, agent_command=AGENT,
        clock=lambda: MID_MINUTE.replace(second=second), sleep=waited.append,
    )  # fmt: skip

    backend.reconcile([job()])

    assert fake.writes == 2 and waited == [pytest.approx(wait)]
    assert owned_entries(fake.text) == {"ops/backup": job().fingerprint}


def test_a_user_without_a_crontab_gets_one_with_the_jobs(backend: CrontabBackend, fake: FakeCrontab) -> None:
    report = backend.reconcile([job()])

    entry = render_entry(job(), home=backend.home, agent_command=AGENT)
    assert fake.text == f"{HEADER}\n{render_block('ops/backup', entry)}"
    assert report.added == ["ops/backup"]
    assert backend.installed() == {"ops/backup": job().fingerprint}


def test_reconciling_twice_writes_the_crontab_only_once(backend: CrontabBackend, fake: FakeCrontab) -> None:
    fake.text = USER_CRONTAB
    backend.reconcile([job(), job("cleanup")])

    report = backend.reconcile([job(), job("cleanup")])

    assert not report.changed
    assert fake.writes == 1
    assert fake.text.startswith(USER_CRONTAB)


def test_an_entry_deleted_by_hand_is_restored_because_the_backend_remembers_installing_it(
    backend: CrontabBackend, fake: FakeCrontab
) -> None:
    backend.reconcile([job()])
    fake.text = ""

    report = backend.reconcile([job()])

    assert [(d.ref, d.kind) for d in report.drift] == [("ops/backup", "deleted")]
    assert backend.installed() == {"ops/backup": job().fingerprint}


def test_a_job_that_cannot_be_installed_is_reported_and_its_entry_kept(
    backend: CrontabBackend, fake: FakeCrontab
) -> None:
    backend.reconcile([job(), job("cleanup")])
    before = fake.text

    report = backend.reconcile([job(args=("a\nb",)), job("cleanup")])

    assert len(report.errors) == 1
    assert report.errors[0].startswith("ops/backup: argument 'a\\nb' contains a line break")
    assert fake.text == before
    assert fake.writes == 1


def test_it_manages_the_crontab_of_the_user_it_is_given(fake: FakeCrontab, tmp_path: Path) -> None:
    CrontabBackend(tmp_path / "home", user="alice", crontab_command=fake.command, clock=lambda: MID_MINUTE).reconcile(
        [job()]
    )

    assert fake.calls == [["-u", "alice", "-l"], ["-u", "alice", "-"]]


def test_a_crontab_that_cannot_be_read_raises_with_crontabs_message(backend: CrontabBackend, fake: FakeCrontab) -> None:
    (fake.root / "broken").touch()

    with pytest.raises(SchedulerError, match=r"cannot read the crontab .*Permission denied"):
        backend.reconcile([job()])


def test_a_missing_crontab_command_raises_a_scheduler_error(tmp_path: Path) -> None:
    missing = CrontabBackend(tmp_path, crontab_command=("/nonexistent/crontab",))

    with pytest.raises(SchedulerError, match="cannot run /nonexistent/crontab -l"):
        missing.installed()


# --- a real cron --------------------------------------------------------------------------------

NEVER = "0 0 31 2 *"  # 31 February: entries that a running cron must not fire

REAL_USER_CRONTAB = (
    "# the user's own crontab\n"
    'MAILTO=""\n'
    "\n"
    f"{NEVER}   /bin/echo  100\\% never\t# with odd spacing\n"
    "#0 3 * * * disabled by hand\n"
)


def test_the_real_crontab_keeps_the_users_lines_around_the_agents_entries(root_crontab: None, tmp_path: Path) -> None:
    crontab("-", stdin=REAL_USER_CRONTAB.encode())
    backend = CrontabBackend(tmp_path)

    first = backend.reconcile([job(schedule=NEVER), job("cleanup", schedule=NEVER, paused=True)])
    second = backend.reconcile([job(schedule=NEVER), job("cleanup", schedule=NEVER, paused=True)])

    assert crontab("-l").stdout.decode().startswith(REAL_USER_CRONTAB)
    assert backend.installed() == {
        "ops/backup": job(schedule=NEVER).fingerprint,
        "ops/cleanup": job("cleanup", schedule=NEVER, paused=True).fingerprint,
    }
    assert first.added == ["ops/backup", "ops/cleanup"]
    assert not second.changed


def test_the_real_crontab_edited_by_hand_is_restored_and_reported(root_crontab: None, tmp_path: Path) -> None:
    crontab("-", stdin=REAL_USER_CRONTAB.encode())
    backend = CrontabBackend(tmp_path)
    backend.reconcile([job(schedule=NEVER)])
    good = crontab("-l").stdout
    crontab("-", stdin=good.replace(b"\n0 0 31 2 * /", b"\n0 0 30 2 * /"))

    report = backend.reconcile([job(schedule=NEVER)])

    assert [(d.ref, d.kind) for d in report.drift] == [("ops/backup", "edited")]
    assert crontab("-l").stdout == good


RECORDER = """#!{python}
import json, sys
with open({out!r}, "a") as out:
    out.write(json.dumps(sys.argv[1:]) + "\\n")
"""


@pytest.mark.slow
def test_cron_runs_an_installed_entry_with_the_exact_argv(cron_daemon: None, tmp_path: Path) -> None:
    record = tmp_path / "argv.jsonl"
    recorder = tmp_path / "recorder"
    recorder.write_text(RECORDER.format(python=sys.executable, out=str(record)))
    recorder.chmod(0o755)
    every_minute = AgentJob(
        namespace="it", name="fires", schedule="* * * * *", timezone="UTC",
        command="/bin/echo", args=("two words", "50% off", "back\\%slash", "it's"),
    )  # fmt: skip
    CrontabBackend(tmp_path / "home", agent_command=[str(recorder)]).reconcile([every_minute])

    deadline = time.monotonic() + 75  # cron rereads its tables and fires at the next minute
    while not record.exists() and time.monotonic() < deadline:
        time.sleep(1)

    assert record.exists(), "cron did not run the entry within 75 s"
    assert json.loads(record.read_text().splitlines()[0]) == [
        "exec", "--home", str(tmp_path / "home"), "it/fires", "--",
        "/bin/echo", "two words", "50% off", "back\\%slash", "it's",
    ]  # fmt: skip
