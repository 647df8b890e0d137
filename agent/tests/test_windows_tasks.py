"""The Windows Task Scheduler backend, on Linux: the XML it writes is parsed back and read the way
Task Scheduler reads it, and reconcile runs against a fake schtasks that keeps tasks in a dict."""

from __future__ import annotations

import calendar
import codecs
import os
import re
import subprocess
import time
import xml.etree.ElementTree as ET
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest

from crontopus_agent.jobs import AgentJob, exec_argv
from crontopus_agent.schedulers import zones
from crontopus_agent.schedulers.base import SchedulerError
from crontopus_agent.schedulers.windows import (
    MAX_TRIGGERS,
    TaskSchedulerBackend,
    encode_task_xml,
    quote_windows_arg,
    task_xml,
)
from crontopus_schemas.cron import parse as parse_cron

NS = {"t": "http://schemas.microsoft.com/windows/2004/02/mit/task"}
NOW = datetime(2025, 1, 15, 12, 0, tzinfo=UTC)
HOME = Path("/var/lib/crontopus")
ALL_MONTHS = (
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
)
WEEKDAYS = ("Sunday", "Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday")


@pytest.fixture(autouse=True)
def utc_host() -> Iterator[None]:
    """The host's clock reads UTC, whatever machine runs the tests."""
    saved = os.environ.get("TZ")
    os.environ["TZ"] = "UTC"
    time.tzset()
    zones._differences_this_year.cache_clear()
    yield
    if saved is None:
        os.environ.pop("TZ")
    else:
        os.environ["TZ"] = saved
    time.tzset()
    zones._differences_this_year.cache_clear()


def make_job(schedule: str = "30 2 * * *", name: str = "backup", **fields: object) -> AgentJob:
    return replace(AgentJob("default", name, schedule, "UTC", "C:\\Tools\\backup.exe", ("--all",)), **fields)


def parse(job: AgentJob) -> ET.Element:
    return ET.fromstring(task_xml(job, HOME, now=NOW))


# --- reading the XML the way Task Scheduler does -------------------------------------------


@dataclass(frozen=True, order=True)
class Trigger:
    start: str  # HH:MM
    kind: str = "ScheduleByDay"
    interval: str | None = None
    duration: str | None = None
    days_of_month: tuple[str, ...] = ()
    weekdays: tuple[str, ...] = ()
    months: tuple[str, ...] = ()
    weeks: tuple[str, ...] = ()


def triggers(task: ET.Element) -> list[Trigger]:
    return sorted(_trigger(t) for t in task.findall("t:Triggers/t:CalendarTrigger", NS))


def _trigger(element: ET.Element) -> Trigger:
    schedule = next(c for c in element if "ScheduleBy" in c.tag)
    return Trigger(
        start=element.findtext("t:StartBoundary", namespaces=NS)[11:16],
        kind=schedule.tag.rsplit("}", 1)[-1],
        interval=element.findtext("t:Repetition/t:Interval", namespaces=NS),
        duration=element.findtext("t:Repetition/t:Duration", namespaces=NS),
        days_of_month=tuple(d.text for d in schedule.findall("t:DaysOfMonth/t:Day", NS)),
        weekdays=_names(schedule, "t:DaysOfWeek"),
        months=_names(schedule, "t:Months"),
        weeks=tuple(w.text for w in schedule.findall("t:Weeks/t:Week", NS)),
    )


def _names(schedule: ET.Element, path: str) -> tuple[str, ...]:
    found = schedule.find(path, NS)
    return () if found is None else tuple(c.tag.rsplit("}", 1)[-1] for c in found)


def command_line_to_argv(line: str) -> list[str]:
    """CommandLineToArgvW's rules for the arguments after the program name."""
    args: list[str] = []
    current, in_quotes, started, i = "", False, False, 0
    while i < len(line):
        char = line[i]
        if char == "\\":
            n = len(line[i:]) - len(line[i:].lstrip("\\"))
            followed_by_quote = line[i + n : i + n + 1] == '"'
            current += "\\" * (n // 2 if followed_by_quote else n)
            if followed_by_quote and n % 2:
                current, i = current + '"', i + 1
            i, started = i + n, True
        elif char == '"':
            if in_quotes and line[i + 1 : i + 2] == '"':
                current, i = current + '"', i + 1
            else:
                in_quotes = not in_quotes
            i, started = i + 1, True
        elif char in " \t" and not in_quotes:
            if started:
                args.append(current)
            current, started, i = "", False, i + 1
        else:
            current, started, i = current + char, True, i + 1
    return [*args, current] if started else args


def action_argv(task: ET.Element) -> list[str]:
    command = task.findtext("t:Actions/t:Exec/t:Command", namespaces=NS)
    return [command, *command_line_to_argv(task.findtext("t:Actions/t:Exec/t:Arguments", namespaces=NS))]


def guarded(task: ET.Element) -> bool:
    argv = action_argv(task)
    return "--guard" in argv[: argv.index("--")]


# --- the cron -> trigger table -------------------------------------------------------------

WEEK = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday")
TABLE: list[tuple[str, list[Trigger], bool]] = [
    ("* * * * *", [Trigger("00:00", interval="PT1M", duration="PT23H59M30S")], False),
    ("*/5 * * * *", [Trigger("00:00", interval="PT5M", duration="PT23H55M30S")], False),
    ("0 * * * *", [Trigger("00:00", interval="PT1H", duration="PT23H30S")], False),
    ("30 2 * * *", [Trigger("02:30")], False),
    ("0 9-17 * * 1-5", [Trigger("09:00", "ScheduleByWeek", "PT1H", "PT8H30S", weekdays=WEEK)], False),
    ("15,45 8 * * *", [Trigger("08:15"), Trigger("08:45")], False),
    ("0 0 1 * *", [Trigger("00:00", "ScheduleByMonth", days_of_month=("1",), months=ALL_MONTHS)], False),
    ("0 0 1,15 * *", [Trigger("00:00", "ScheduleByMonth", days_of_month=("1", "15"), months=ALL_MONTHS)], False),
    (
        "0 12 * 1,6 *",
        [Trigger("12:00", "ScheduleByMonth", days_of_month=tuple(map(str, range(1, 32))), months=("January", "June"))],
        False,
    ),
    ("0 0 * * 0", [Trigger("00:00", "ScheduleByWeek", weekdays=("Sunday",))], False),
    (
        "0 0 13 * 5",  # the 13th OR a Friday, as cron runs it
        [
            Trigger("00:00", "ScheduleByMonth", days_of_month=("13",), months=ALL_MONTHS),
            Trigger("00:00", "ScheduleByWeek", weekdays=("Friday",)),
        ],
        False,
    ),
    ("7 */3 * * *", [Trigger("00:07", interval="PT3H", duration="PT21H30S")], False),
    (
        "0,10 * * * *",
        [Trigger("00:00", "ScheduleByDay", "PT1H", "PT23H30S"), Trigger("00:10", "ScheduleByDay", "PT1H", "PT23H30S")],
        False,
    ),
    ("0 0 * * 1,7", [Trigger("00:00", "ScheduleByWeek", weekdays=("Sunday", "Monday"))], False),  # 7 is Sunday
    (
        "0 6 * 12 1-5",
        [
            Trigger(
                "06:00",
                "ScheduleByMonthDayOfWeek",
                weekdays=WEEK,
                months=("December",),
                weeks=("1", "2", "3", "4", "Last"),
            )
        ],
        False,
    ),
    (  # odd dates that are weekdays: triggers cannot AND the two, so the dates, guarded
        "0 9 */2 * 1-5",
        [Trigger("09:00", "ScheduleByMonth", days_of_month=tuple(map(str, range(1, 32, 2))), months=ALL_MONTHS)],
        True,
    ),
]


@pytest.mark.parametrize(("expression", "expected", "guard"), TABLE, ids=[row[0] for row in TABLE])
def test_it_translates_cron_into_calendar_triggers(expression: str, expected: list[Trigger], guard: bool) -> None:
    task = parse(make_job(expression))

    assert triggers(task) == sorted(expected)
    assert guarded(task) is guard


def fired(task: ET.Element, day: date) -> set[int]:
    """Minutes of ``day`` at which Task Scheduler starts the task (repetitions that run past
    midnight land on the next day, as they would)."""
    minutes: set[int] = set()
    for trigger in task.findall("t:Triggers/t:CalendarTrigger", NS):
        for offset in (0, 1):
            if _runs_on(trigger, day - timedelta(days=offset)):
                minutes |= {m - offset * 1440 for m in _starts(trigger) if 0 <= m - offset * 1440 < 1440}
    return minutes


def _starts(trigger: ET.Element) -> list[int]:
    hour, minute = trigger.findtext("t:StartBoundary", namespaces=NS)[11:16].split(":")
    first = int(hour) * 60 + int(minute)
    interval = trigger.findtext("t:Repetition/t:Interval", namespaces=NS)
    if interval is None:
        return [first]
    step, duration = _seconds(interval), _seconds(trigger.findtext("t:Repetition/t:Duration", namespaces=NS))
    return [first + k * step // 60 for k in range(duration // step + 1) if k * step < duration]


def _seconds(duration: str) -> int:
    hours, minutes, seconds = re.fullmatch(r"PT(?:(\d+)H)?(?:(\d+)M)?(?:(\d+)S)?", duration).groups()
    return int(hours or 0) * 3600 + int(minutes or 0) * 60 + int(seconds or 0)


def _runs_on(trigger: ET.Element, day: date) -> bool:
    schedule = next(c for c in trigger if "ScheduleBy" in c.tag)
    kind = schedule.tag.rsplit("}", 1)[-1]
    weekday, month = WEEKDAYS[(day.weekday() + 1) % 7], ALL_MONTHS[day.month - 1]
    last = calendar.monthrange(day.year, day.month)[1]
    if kind == "ScheduleByDay":
        return True
    if kind == "ScheduleByWeek":
        return weekday in _names(schedule, "t:DaysOfWeek")
    days = {d.text for d in schedule.findall("t:DaysOfMonth/t:Day", NS)}
    if kind == "ScheduleByMonth":
        return month in _names(schedule, "t:Months") and (str(day.day) in days or ("Last" in days and day.day == last))
    weeks = {w.text for w in schedule.findall("t:Weeks/t:Week", NS)}
    in_week = str((day.day - 1) // 7 + 1) in weeks or ("Last" in weeks and day.day + 7 > last)
    return in_week and weekday in _names(schedule, "t:DaysOfWeek") and month in _names(schedule, "t:Months")


def cron_minutes(expression: str, day: date) -> set[int]:
    cron = parse_cron(expression)
    return {60 * h + m for h in cron.hours for m in cron.minutes} if cron.runs_on(day) else set()


EVERY_DAY_OF_2024 = [date(2024, 1, 1) + timedelta(days=n) for n in range(366)]
OVER_48 = "0,1,3,6,10,15,21,28,36,45,55 1,2,4,7,11,16,22 * * *"  # 77 irregular times


@pytest.mark.parametrize("expression", [row[0] for row in TABLE] + [OVER_48, OVER_48.replace("* * *", "13 * 5")])
def test_its_triggers_fire_exactly_when_cron_would_or_more_often_when_guarded(expression: str) -> None:
    task = parse(make_job(expression))

    for day in EVERY_DAY_OF_2024:
        expected, actual = cron_minutes(expression, day), fired(task, day)
        if guarded(task):
            assert expected <= actual, day
        else:
            assert actual == expected, day


def test_a_schedule_needing_more_than_48_triggers_is_over_approximated_and_guarded() -> None:
    task = parse(make_job(OVER_48))

    assert 0 < len(triggers(task)) <= MAX_TRIGGERS
    assert guarded(task)
    assert all(t.interval == "PT1M" for t in triggers(task))  # minutes 0..55, every minute, at the 7 hours


def test_a_zone_other_than_the_hosts_is_installed_on_every_hour_it_can_fall_on_and_guarded() -> None:
    task = ET.fromstring(task_xml(replace(make_job("0 2 * * *"), timezone="Europe/Berlin"), HOME, now=NOW))

    assert triggers(task) == [
        Trigger("00:00"),
        Trigger("01:00"),
    ]  # 02:00 Berlin is 01:00 UTC in winter, 00:00 in summer
    assert guarded(task)


# --- the rest of the task ------------------------------------------------------------------


def test_the_task_carries_the_ownership_marker_and_its_path() -> None:
    job = make_job()
    task = parse(job)

    description = task.findtext("t:RegistrationInfo/t:Description", namespaces=NS)
    assert description.startswith(f"crontopus job=default/backup fingerprint={job.fingerprint} digest=")
    assert task.findtext("t:RegistrationInfo/t:URI", namespaces=NS) == "\\Crontopus\\default\\backup"
    assert task.get("version") == "1.2"


def test_the_action_runs_the_wrapper_with_the_job_command_line_intact() -> None:
    job = make_job(command="C:\\Program Files\\app\\run.exe", args=("a b", 'say "hi"', "C:\\dir with space\\", ""))

    assert action_argv(parse(job)) == exec_argv(HOME, job)


def test_a_paused_job_is_installed_disabled() -> None:
    assert parse(make_job(paused=True)).findtext("t:Settings/t:Enabled", namespaces=NS) == "false"
    assert parse(make_job()).findtext("t:Settings/t:Enabled", namespaces=NS) == "true"


def test_task_scheduler_lets_runs_overlap_and_the_wrapper_decide() -> None:
    assert parse(make_job()).findtext("t:Settings/t:MultipleInstancesPolicy", namespaces=NS) == "Parallel"


def test_the_time_limit_outlasts_every_attempt_of_the_wrapper() -> None:
    job = make_job(timeout_seconds=60, retries_limit=2, retries_backoff_seconds=30)

    # 3 attempts of 60 s, backoffs of 30 s and 60 s, one minute to spare
    assert parse(job).findtext("t:Settings/t:ExecutionTimeLimit", namespaces=NS) == "PT5M30S"
    assert parse(make_job()).findtext("t:Settings/t:ExecutionTimeLimit", namespaces=NS) == "PT0S"


def test_the_written_xml_is_utf16_with_a_byte_order_mark() -> None:
    job = make_job(args=("café ☕",))

    data = encode_task_xml(task_xml(job, HOME, now=NOW))

    assert data.startswith(codecs.BOM_UTF16_LE)
    assert data.decode("utf-16").startswith('<?xml version="1.0" encoding="UTF-16"?>')
    assert action_argv(ET.fromstring(data))[-1] == "café ☕"


def test_a_command_line_xml_cannot_carry_is_refused() -> None:
    with pytest.raises(ValueError, match="control character"):
        task_xml(make_job(args=("bell\x07",)), HOME, now=NOW)


@pytest.mark.parametrize(
    ("arg", "quoted"),
    [
        ("plain", "plain"),
        ("", '""'),
        ("two words", '"two words"'),
        ('a"b', '"a\\"b"'),
        ("C:\\dir with space\\", '"C:\\dir with space\\\\"'),
        ("C:\\no\\spaces\\", "C:\\no\\spaces\\"),
        ('back\\"slash', '"back\\\\\\"slash"'),
    ],
)
def test_arguments_are_quoted_so_windows_reads_them_back_unchanged(arg: str, quoted: str) -> None:
    assert quote_windows_arg(arg) == quoted
    assert command_line_to_argv(f"first {quoted} last") == ["first", arg, "last"]


# --- reconcile against a fake schtasks -----------------------------------------------------


class FakeSchtasks:
    """schtasks as the backend uses it. Tasks are stored the way Windows re-serialises them on
    registration (its own namespace prefix, a date, a principal, more settings) so that only a
    real change, not Task Scheduler's rewriting, may count as an edit."""

    def __init__(self) -> None:
        self.tasks: dict[str, str] = {}  # path -> what /Query /XML prints
        self.refuse: set[str] = set()  # paths whose /Create fails
        self.list_fails = False
        self.files: list[bytes] = []
        self.calls: list[list[str]] = []

    def __call__(self, argv: Sequence[str]) -> subprocess.CompletedProcess[str]:
        argv = list(argv)
        self.calls.append(argv)
        assert argv[0] == "schtasks"
        match argv[1:]:
            case ["/Query", "/FO", "CSV", "/NH"]:
                return self._listing()
            case ["/Query", "/TN", path, "/XML"]:
                return self._done(argv, self.tasks[path]) if path in self.tasks else self._error(argv)
            case ["/Create", "/TN", path, "/XML", file, "/F"]:
                return self._create(argv, path, Path(file))
            case ["/Delete", "/TN", path, "/F"]:
                return self._done(argv, "") if self.tasks.pop(path, None) else self._error(argv)
        raise AssertionError(f"unexpected call {argv}")

    def _listing(self) -> subprocess.CompletedProcess[str]:
        if self.list_fails:
            return self._error(["schtasks"], "ERROR: The Task Scheduler service is not running.")
        rows = "".join(f'"{path}","N/A","Ready"\r\n' for path in sorted(self.tasks))
        return self._done(["schtasks"], "\r\n" + rows)

    def _create(self, argv: list[str], path: str, file: Path) -> subprocess.CompletedProcess[str]:
        data = file.read_bytes()
        self.files.append(data)
        if path in self.refuse:
            return self._error(argv, "ERROR: Access is denied.")
        task = ET.fromstring(data)
        ET.SubElement(task.find("t:RegistrationInfo", NS), f"{{{NS['t']}}}Date").text = "2025-01-15T12:00:00"
        ET.SubElement(task, f"{{{NS['t']}}}Principals").append(ET.Element(f"{{{NS['t']}}}Principal", id="Author"))
        ET.SubElement(task.find("t:Settings", NS), f"{{{NS['t']}}}AllowStartOnDemand").text = "true"
        self.tasks[path] = '<?xml version="1.0" encoding="UTF-16"?>\r\n' + ET.tostring(task, encoding="unicode")
        return self._done(argv, "SUCCESS: The scheduled task has successfully been created.")

    def edit(self, path: str, element: str, text: str) -> None:
        """What a user does in the Task Scheduler window: change one value of a task."""
        task = ET.fromstring(self.tasks[path])
        task.find(element, NS).text = text
        self.tasks[path] = ET.tostring(task, encoding="unicode")

    @staticmethod
    def _done(argv: list[str], out: str) -> subprocess.CompletedProcess[str]:
        return subprocess.CompletedProcess(argv, 0, out, "")

    @staticmethod
    def _error(
        argv: list[str], why: str = "ERROR: The system cannot find the file specified."
    ) -> subprocess.CompletedProcess[str]:
        return subprocess.CompletedProcess(argv, 1, "", why)


BACKUP, REPORT = "\\Crontopus\\default\\backup", "\\Crontopus\\default\\report"
FOREIGN = "\\Microsoft\\Windows\\Defrag\\ScheduledDefrag"
UNMARKED = "\\Crontopus\\default\\by-hand"


@pytest.fixture
def schtasks() -> FakeSchtasks:
    fake = FakeSchtasks()
    fake.tasks[FOREIGN] = '<Task xmlns="http://schemas.microsoft.com/windows/2004/02/mit/task"><Triggers/></Task>'
    fake.tasks[UNMARKED] = (
        '<Task xmlns="http://schemas.microsoft.com/windows/2004/02/mit/task"><RegistrationInfo/></Task>'
    )
    return fake


@pytest.fixture
def backend(schtasks: FakeSchtasks, tmp_path: Path) -> TaskSchedulerBackend:
    return TaskSchedulerBackend(tmp_path, runner=schtasks)


def test_it_adds_a_task_per_job_under_the_crontopus_folder(
    backend: TaskSchedulerBackend, schtasks: FakeSchtasks
) -> None:
    jobs = [make_job(), make_job("0 6 * * *", name="report")]

    report = backend.reconcile(jobs)

    assert report.added == ["default/backup", "default/report"]
    assert not (report.updated or report.removed or report.drift or report.errors)
    assert backend.installed() == {"default/backup": jobs[0].fingerprint, "default/report": jobs[1].fingerprint}
    assert "T06:00:00" in schtasks.tasks[REPORT]
    assert all(data.startswith(codecs.BOM_UTF16_LE) for data in schtasks.files)


def test_a_second_reconcile_of_the_same_jobs_changes_nothing_even_after_a_restart(
    backend: TaskSchedulerBackend, schtasks: FakeSchtasks, tmp_path: Path
) -> None:
    jobs = [make_job(), make_job("*/5 9-17 * * 1-5", name="report")]
    backend.reconcile(jobs)
    written = len(schtasks.files)

    again = backend.reconcile(jobs)
    after_restart = TaskSchedulerBackend(tmp_path, runner=schtasks).reconcile(jobs)

    assert not again.changed and not after_restart.changed
    assert len(schtasks.files) == written  # nothing rewritten


def test_it_updates_the_task_of_a_changed_job(backend: TaskSchedulerBackend, schtasks: FakeSchtasks) -> None:
    backend.reconcile([make_job("30 2 * * *")])

    report = backend.reconcile([make_job("45 3 * * *")])

    assert report.updated == ["default/backup"]
    assert not report.drift
    assert "T03:45:00" in schtasks.tasks[BACKUP] and "T02:30:00" not in schtasks.tasks[BACKUP]


def test_it_removes_the_task_of_a_job_no_longer_desired(backend: TaskSchedulerBackend, schtasks: FakeSchtasks) -> None:
    backend.reconcile([make_job(), make_job(name="report")])

    report = backend.reconcile([make_job()])

    assert report.removed == ["default/report"]
    assert REPORT not in schtasks.tasks and BACKUP in schtasks.tasks


def test_it_never_touches_tasks_outside_its_folder_or_without_its_marker(
    backend: TaskSchedulerBackend, schtasks: FakeSchtasks
) -> None:
    before = {path: schtasks.tasks[path] for path in (FOREIGN, UNMARKED)}

    backend.reconcile([make_job()])
    report = backend.reconcile([])

    assert report.removed == ["default/backup"]
    assert {path: schtasks.tasks[path] for path in (FOREIGN, UNMARKED)} == before
    assert not any(FOREIGN in call or UNMARKED in call for call in schtasks.calls if call[1] != "/Query")
    assert not any(call == ["schtasks", "/Query", "/TN", FOREIGN, "/XML"] for call in schtasks.calls)
    assert backend.installed() == {}


@pytest.mark.parametrize(
    ("element", "text"),
    [
        ("t:Triggers/t:CalendarTrigger/t:StartBoundary", "2025-01-15T04:00:00"),
        ("t:Settings/t:Enabled", "false"),
        ("t:Actions/t:Exec/t:Command", "C:\\Tools\\other.exe"),
    ],
    ids=["trigger moved", "task disabled", "action swapped"],
)
def test_an_edited_task_is_restored_and_reported_as_drift(
    backend: TaskSchedulerBackend, schtasks: FakeSchtasks, element: str, text: str
) -> None:
    backend.reconcile([make_job()])
    restored = schtasks.tasks[BACKUP]
    schtasks.edit(BACKUP, element, text)

    report = backend.reconcile([make_job()])

    assert [(d.ref, d.kind) for d in report.drift] == [("default/backup", "edited")]
    assert not report.updated
    assert schtasks.tasks[BACKUP] == restored


def test_a_task_deleted_by_hand_is_restored_and_reported_as_drift(
    backend: TaskSchedulerBackend, schtasks: FakeSchtasks
) -> None:
    backend.reconcile([make_job()])
    del schtasks.tasks[BACKUP]

    report = backend.reconcile([make_job()])

    assert [(d.ref, d.kind) for d in report.drift] == [("default/backup", "deleted")]
    assert not report.added
    assert BACKUP in schtasks.tasks


def test_a_job_that_comes_back_after_its_task_vanished_while_it_was_gone_is_added_not_drift(
    backend: TaskSchedulerBackend, schtasks: FakeSchtasks
) -> None:
    backend.reconcile([make_job()])
    del schtasks.tasks[BACKUP]
    backend.reconcile([])

    report = backend.reconcile([make_job()])

    assert report.added == ["default/backup"]
    assert not report.drift


def test_a_task_at_a_jobs_path_without_the_marker_is_replaced_as_drift(
    backend: TaskSchedulerBackend, schtasks: FakeSchtasks
) -> None:
    report = backend.reconcile([make_job(name="by-hand")])

    assert [(d.ref, d.kind) for d in report.drift] == [("default/by-hand", "edited")]
    assert backend.installed() == {"default/by-hand": make_job(name="by-hand").fingerprint}


def test_a_failing_create_is_reported_and_the_other_jobs_still_apply(
    backend: TaskSchedulerBackend, schtasks: FakeSchtasks
) -> None:
    schtasks.refuse.add(BACKUP)
    jobs = [make_job(), make_job(name="report"), make_job(name="cleanup", args=("bell\x07",))]

    report = backend.reconcile(jobs)

    assert report.errors == [
        "default/backup: ERROR: Access is denied.",
        "default/cleanup: 'bell\\x07' holds a control character, which Task Scheduler's XML cannot carry",
    ]
    assert report.added == ["default/report"]
    assert BACKUP not in schtasks.tasks and REPORT in schtasks.tasks
    schtasks.refuse.clear()
    assert backend.reconcile(jobs[:2]).added == ["default/backup"]  # never installed: added, not drift


def test_a_scheduler_that_cannot_be_listed_raises_without_changing_anything(
    backend: TaskSchedulerBackend, schtasks: FakeSchtasks
) -> None:
    schtasks.list_fails = True

    with pytest.raises(SchedulerError, match="Task Scheduler service is not running"):
        backend.reconcile([make_job()])
    assert all(call[1] == "/Query" for call in schtasks.calls)
