"""Windows Task Scheduler backend: one task per job, under the folder ``\\Crontopus\\<ns>\\<name>``.

How a cron schedule becomes Task Scheduler 2.0 triggers (all ``CalendarTrigger``):

- Times of day. The (hour, minute) start times are split into arithmetic runs; a run of three or
  more becomes one trigger with a ``Repetition`` (``*/5`` -> one trigger at 00:00 every 5 minutes),
  a lone time one plain trigger. Both "one run per minute value" and "runs over the whole day" are
  tried, the smaller wins. Task Scheduler takes at most 48 triggers per task: above that the minutes
  are widened to one evenly spaced range (then to every minute of the day) and the action runs the
  wrapper with ``--guard``, which runs the command only at the job's real fire times.
- Days (``crontopus_schemas.cron``'s rule). Cron runs on day-of-month OR day-of-week when both are
  restricted; triggers are OR'ed, so that is a ``ScheduleByMonth`` trigger plus a ``ScheduleByWeek``
  one (``ScheduleByMonthDayOfWeek`` when months are restricted too). Neither restricted:
  ``ScheduleByDay``. When a day field starts with ``*`` the two combine with AND, which triggers
  cannot say for two restricted fields (``0 9 */2 * 1-5``): the dates are installed, with ``--guard``.
- Zones. Start times are local wall times (no zone suffix). A job whose zone does not read like
  the host's clock all year is installed on zones.host_fields (every day) with ``--guard``.

Limits: Task Scheduler measures a Repetition in elapsed time, so on a host whose own clock observes
DST a pattern spanning the change day's switch ends an hour late (duplicate runs next to midnight)
or early (missed runs); hosts on UTC, the usual for servers, are unaffected. Task Scheduler expands
``%VAR%`` in the arguments and offers no escape for it. Tasks run as the account that registers
them (the agent's), with Task Scheduler's default logon type.

Ownership: each task's description carries ``crontopus job=<ref> fingerprint=<fp> digest=<d>``;
``digest`` summarises the triggers, action and settings as written, so an edit by hand shows as
a digest mismatch even after the agent restarts. Tasks without the marker are never deleted.
"""

from __future__ import annotations

import codecs
import hashlib
import json
import re
import subprocess
import sys
import tempfile
import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import reduce
from itertools import pairwise
from math import gcd
from pathlib import Path
from typing import Literal

from crontopus_agent.jobs import AgentJob, exec_argv
from crontopus_agent.schedulers.base import Drift, ReconcileReport, SchedulerError
from crontopus_agent.schedulers.zones import host_fields, runs_on_host_clock
from crontopus_schemas.cron import CronExpression, parse

TASK_NAMESPACE = "http://schemas.microsoft.com/windows/2004/02/mit/task"
TASK_FOLDER = "\\Crontopus\\"
MAX_TRIGGERS = 48  # Task Scheduler refuses a task with more
MINUTES_PER_DAY = 1440
# A fixed date keeps the XML identical from day to day; only the time of day matters to the triggers.
_START_DATE = "2000-01-01"
_WEEKDAYS = ("Sunday", "Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday")
_MONTHS = (
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
_MARKER = re.compile(r"crontopus job=(?P<ref>\S+) fingerprint=(?P<fingerprint>[0-9a-f]+) digest=(?P<digest>[0-9a-f]+)")
_OWNED_PATH = re.compile(r"^\\crontopus\\([^\\]+)\\([^\\]+)$", re.IGNORECASE)


# --- cron -> trigger plan (pure) -----------------------------------------------------------


@dataclass(frozen=True)
class StartTimes:
    """``count`` starts, ``step`` minutes apart, from ``first`` (minutes after midnight)."""

    first: int
    step: int = 0
    count: int = 1


@dataclass(frozen=True)
class DaySet:
    """The days one trigger runs on: its ``ScheduleBy*`` element and that element's values."""

    kind: Literal["ScheduleByDay", "ScheduleByWeek", "ScheduleByMonth", "ScheduleByMonthDayOfWeek"]
    days_of_month: tuple[str, ...] = ()  # "1".."31" or "Last"
    weekdays: tuple[int, ...] = ()  # cron numbering, 0 = Sunday
    months: tuple[int, ...] = ()  # 1..12


@dataclass(frozen=True)
class TriggerPlan:
    """One trigger per (start times, day set); ``guard``: the triggers fire more often than the job."""

    times: tuple[StartTimes, ...]
    days: tuple[DaySet, ...]
    guard: bool


def plan_triggers(schedule: str, timezone: str, *, now: datetime | None = None) -> TriggerPlan:
    """The triggers that fire a schedule on this host's clock, within Task Scheduler's 48."""
    on_host_clock = runs_on_host_clock(timezone, now=now)
    cron = parse(schedule if on_host_clock else host_fields(schedule, timezone, now=now))
    days, exact = _days(cron)
    exact = exact and on_host_clock
    budget = MAX_TRIGGERS // len(days)
    minutes, hours = list(cron.minutes), list(cron.hours)
    times = _start_times(minutes, hours)
    if len(times) > budget:
        times, exact = _start_times(_evenly_spaced_hull(minutes), hours), False
    if len(times) > budget:
        times = [StartTimes(0, 1, MINUTES_PER_DAY)]
    return TriggerPlan(tuple(times), tuple(days), guard=not exact)


def _start_times(minutes: Sequence[int], hours: Sequence[int]) -> list[StartTimes]:
    """The fewer of: runs over the whole day's start times, or runs per minute value across hours."""
    whole_day = _runs(sorted(60 * h + m for h in hours for m in minutes))
    per_minute = [run for m in minutes for run in _runs([60 * h + m for h in hours])]
    return min(whole_day, per_minute, key=len)


def _runs(values: Sequence[int]) -> list[StartTimes]:
    """Greedy split of sorted times into arithmetic runs of three or more, and single times."""
    runs: list[StartTimes] = []
    i = 0
    while i < len(values):
        step = values[i + 1] - values[i] if i + 1 < len(values) else 0
        end = i + 1
        while end < len(values) and values[end] - values[end - 1] == step:
            end += 1
        if end - i >= 3:
            runs.append(StartTimes(values[i], step, end - i))
            i = end
        else:
            runs.append(StartTimes(values[i]))
            i += 1
    return runs


def _evenly_spaced_hull(minutes: Sequence[int]) -> list[int]:
    """The fewest evenly spaced minutes from the first to the last that include them all."""
    step = reduce(gcd, (b - a for a, b in pairwise(minutes)), 0) or 60
    return list(range(minutes[0], minutes[-1] + 1, step))


def _days(cron: CronExpression) -> tuple[list[DaySet], bool]:
    """Cron's day rule as OR'ed triggers, and whether they are exact. Triggers cannot say "a date
    that is also one of these weekdays" (``0 9 */2 * 1-5``): such a schedule gets its dates, guarded."""
    months, every_month = tuple(sorted(cron.months)), len(cron.months) == 12
    dates, weekdays = tuple(str(d) for d in sorted(cron.days)), tuple(sorted(cron.weekdays))
    every_date, every_weekday = len(dates) == 31, len(weekdays) == 7
    by_date = DaySet("ScheduleByMonth", days_of_month=dates, months=months)
    by_weekday = (
        DaySet("ScheduleByWeek", weekdays=weekdays)  # ScheduleByWeek has no months; the monthly form has
        if every_month
        else DaySet("ScheduleByMonthDayOfWeek", weekdays=weekdays, months=months)
    )
    every_day = (every_date or every_weekday) if cron.days_either else (every_date and every_weekday)
    if every_day:
        all_dates = tuple(str(d) for d in range(1, 32))  # a day a month lacks is skipped in that month
        return [DaySet("ScheduleByDay") if every_month else DaySet("ScheduleByMonth", all_dates, months=months)], True
    if cron.days_either:
        return [by_date, by_weekday], True
    if every_date:
        return [by_weekday], True
    return [by_date], every_weekday


# --- task XML (pure) ---------------------------------------------------------------------------


def task_path(ref: str) -> str:
    namespace, name = ref.split("/", 1)
    return f"{TASK_FOLDER}{namespace}\\{name}"


def task_xml(job: AgentJob, home: Path, *, now: datetime | None = None) -> str:
    """The Task Scheduler 2.0 XML that installs ``job`` (ValueError if it cannot be expressed)."""
    task, _ = _build(job, home, now=now)
    return _serialise(task)


def encode_task_xml(document: str) -> bytes:
    """What ``schtasks /Create /XML`` reads: UTF-16 with a byte order mark."""
    return codecs.BOM_UTF16_LE + document.encode("utf-16-le")


def _serialise(task: ET.Element) -> str:
    ET.indent(task)
    return '<?xml version="1.0" encoding="UTF-16"?>\n' + ET.tostring(task, encoding="unicode") + "\n"


def _build(job: AgentJob, home: Path, *, now: datetime | None) -> tuple[ET.Element, str]:
    """The task element, and the digest its marker records."""
    plan = plan_triggers(job.schedule, job.timezone, now=now)
    # The namespace as a plain attribute: serialises as the default namespace without touching
    # ElementTree's global prefix registry.
    task = ET.Element("Task", {"version": "1.2", "xmlns": TASK_NAMESPACE})
    info = _sub(task, "RegistrationInfo")
    description = _sub(info, "Description")
    _sub(info, "URI", task_path(job.ref))
    _add_triggers(_sub(task, "Triggers"), plan)
    _add_settings(_sub(task, "Settings"), job)
    _add_action(_sub(task, "Actions"), exec_argv(home, job, guard=plan.guard))
    digest = _digest(task)
    description.text = f"crontopus job={job.ref} fingerprint={job.fingerprint} digest={digest}"
    return task, digest


def _sub(parent: ET.Element, tag: str, text: str | None = None) -> ET.Element:
    element = ET.SubElement(parent, tag)
    element.text = text
    return element


def _add_triggers(triggers: ET.Element, plan: TriggerPlan) -> None:
    for days in plan.days:
        for times in plan.times:
            trigger = _sub(triggers, "CalendarTrigger")
            _sub(trigger, "Enabled", "true")
            _sub(trigger, "StartBoundary", f"{_START_DATE}T{times.first // 60:02d}:{times.first % 60:02d}:00")
            if times.count > 1:
                _add_repetition(_sub(trigger, "Repetition"), times)
            _add_days(_sub(trigger, days.kind), days)


def _add_repetition(repetition: ET.Element, times: StartTimes) -> None:
    _sub(repetition, "Interval", _iso_duration(times.step * 60))
    # Half a minute past the last start: the next start (a whole step later) is outside for sure,
    # whether Task Scheduler counts the end of the duration in or out.
    _sub(repetition, "Duration", _iso_duration((times.count - 1) * times.step * 60 + 30))
    _sub(repetition, "StopAtDurationEnd", "false")


def _add_days(schedule: ET.Element, days: DaySet) -> None:
    if days.kind == "ScheduleByDay":
        _sub(schedule, "DaysInterval", "1")
    if days.kind == "ScheduleByWeek":
        _sub(schedule, "WeeksInterval", "1")
    if days.kind == "ScheduleByMonthDayOfWeek":
        weeks = _sub(schedule, "Weeks")
        for week in ("1", "2", "3", "4", "Last"):  # every week: a fifth weekday is the last one
            _sub(weeks, "Week", week)
    if days.days_of_month:
        days_of_month = _sub(schedule, "DaysOfMonth")
        for day in days.days_of_month:
            _sub(days_of_month, "Day", day)
    if days.weekdays:
        weekdays = _sub(schedule, "DaysOfWeek")
        for weekday in days.weekdays:
            _sub(weekdays, _WEEKDAYS[weekday])
    if days.months:
        months = _sub(schedule, "Months")
        for month in days.months:
            _sub(months, _MONTHS[month - 1])


def _add_settings(settings: ET.Element, job: AgentJob) -> None:
    _sub(settings, "MultipleInstancesPolicy", "Parallel")  # the wrapper applies the job's concurrency
    _sub(settings, "DisallowStartIfOnBatteries", "false")
    _sub(settings, "StopIfGoingOnBatteries", "false")
    _sub(settings, "StartWhenAvailable", "false")  # cron does not catch up on missed runs either
    _sub(settings, "Enabled", "false" if job.paused else "true")
    _sub(settings, "ExecutionTimeLimit", _iso_duration(_time_limit(job)))


def _time_limit(job: AgentJob) -> int:
    """Seconds; 0 = none. Past every attempt and backoff, so the wrapper's own timeout (which
    records the run as timed out) always acts first and this is only a backstop."""
    if job.timeout_seconds is None:
        return 0
    backoffs = sum(job.retries_backoff_seconds * 2**attempt for attempt in range(job.retries_limit))
    return (job.retries_limit + 1) * job.timeout_seconds + backoffs + 60


def _add_action(actions: ET.Element, argv: Sequence[str]) -> None:
    for value in argv:
        _ensure_xml_text(value)
    exec_ = _sub(actions, "Exec")
    _sub(exec_, "Command", argv[0])
    _sub(exec_, "Arguments", " ".join(quote_windows_arg(arg) for arg in argv[1:]))


def _ensure_xml_text(value: str) -> None:
    if any(ord(c) < 0x20 and c not in "\t\n\r" for c in value):
        raise ValueError(f"{value!r} holds a control character, which Task Scheduler's XML cannot carry")


def quote_windows_arg(arg: str) -> str:
    """``arg`` quoted so that CommandLineToArgvW (and the C runtime) reads it back unchanged."""
    if arg and not any(c in arg for c in ' \t\n\v"'):
        return arg
    quoted, backslashes = ['"'], 0
    for char in arg:
        if char == "\\":
            backslashes += 1
            continue
        # Backslashes are literal unless they precede a quote: then each one must be doubled.
        quoted.append("\\" * (backslashes * 2 + 1) + '"' if char == '"' else "\\" * backslashes + char)
        backslashes = 0
    quoted.append("\\" * (backslashes * 2) + '"')
    return "".join(quoted)


def _iso_duration(seconds: int) -> str:
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    text = "".join(f"{n}{unit}" for n, unit in ((hours, "H"), (minutes, "M"), (secs, "S")) if n)
    return f"PT{text or '0S'}"


# --- what a task says, as Windows may re-serialise it --------------------------------------------

_DURATION = re.compile(r"^P(?:(\d+)D)?(?:T(?:(\d+)H)?(?:(\d+)M)?(?:(\d+)S)?)?$")
_DURATIONS = {"Interval", "Duration", "ExecutionTimeLimit", "RandomDelay"}
_TRIGGER_DEFAULTS = {"Enabled": "true", "Repetition/StopAtDurationEnd": "false", "RandomDelay": "0"}
_SETTINGS_DEFAULTS = {
    "Enabled": "true",
    "MultipleInstancesPolicy": "IgnoreNew",
    "ExecutionTimeLimit": str(72 * 3600),
    "DisallowStartIfOnBatteries": "true",
    "StopIfGoingOnBatteries": "true",
    "StartWhenAvailable": "false",
}


def _digest(task: ET.Element) -> str:
    """A summary of triggers, actions and the settings we set, immune to what Task Scheduler
    changes on registration (namespaces, element order, defaults it fills in, other settings)."""
    settings = dict(_leaves(_child(task, "Settings")))
    body = {
        "triggers": sorted(sorted(_leaves(t, defaults=_TRIGGER_DEFAULTS)) for t in _child(task, "Triggers")),
        "actions": sorted(sorted(_leaves(a)) for a in _child(task, "Actions")),
        "settings": sorted((key, settings.get(key, value)) for key, value in _SETTINGS_DEFAULTS.items()),
    }
    return hashlib.sha256(json.dumps(body).encode()).hexdigest()[:16]


def _child(element: ET.Element, name: str) -> ET.Element:
    found = next((c for c in element if _local(c.tag) == name), None)
    return found if found is not None else ET.Element(name)


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def _leaves(element: ET.Element, prefix: str = "", defaults: dict[str, str] | None = None) -> Iterator[tuple[str, str]]:
    for child in element:
        path = prefix + _local(child.tag)
        if len(child):
            yield from _leaves(child, path + "/", defaults)
            continue
        value = _normal_text(_local(child.tag), child.text or "")
        if (defaults or {}).get(path) != value:
            yield path, value


def _normal_text(name: str, text: str) -> str:
    text = text.strip()
    if name in _DURATIONS and (match := _DURATION.match(text)):
        days, hours, minutes, seconds = (int(g or 0) for g in match.groups())
        return str(((days * 24 + hours) * 60 + minutes) * 60 + seconds)
    if text.lower() in ("true", "false"):
        return text.lower()
    # schtasks prints through a code page that may lose non-ASCII characters: compare without them.
    return text.encode("ascii", "replace").decode("ascii")


@dataclass(frozen=True)
class _Marker:
    ref: str
    fingerprint: str
    digest: str


def _marker(task: ET.Element) -> _Marker | None:
    description = _child(_child(task, "RegistrationInfo"), "Description").text or ""
    match = _MARKER.search(description)
    return _Marker(match["ref"], match["fingerprint"], match["digest"]) if match else None


# --- the backend ---------------------------------------------------------------------------------

Runner = Callable[[Sequence[str]], subprocess.CompletedProcess[str]]
Change = Literal["added", "updated"] | Drift | None


def run_subprocess(argv: Sequence[str]) -> subprocess.CompletedProcess[str]:
    """Run a command, capturing its output; schtasks writes through the console's OEM code page."""
    encoding = "oem" if sys.platform == "win32" else None
    return subprocess.run(list(argv), capture_output=True, text=True, encoding=encoding, errors="replace", check=False)


@dataclass(frozen=True)
class _Installed:
    marker: _Marker
    digest_now: str  # the digest of the task as it is now; differs from marker.digest once edited


class TaskSchedulerBackend:
    """Keeps ``\\Crontopus\\`` in Task Scheduler equal to the desired jobs, through schtasks."""

    name = "windows"

    def __init__(self, home: Path, *, runner: Runner = run_subprocess) -> None:
        self._home = home
        self._run = runner
        # Refs in place after the last reconcile: tells a task deleted by hand from a new job.
        self._known: set[str] = set()

    def installed(self) -> dict[str, str]:
        owned, _ = self._scan()
        return {ref: task.marker.fingerprint for ref, task in owned.items()}

    def reconcile(self, jobs: Sequence[AgentJob]) -> ReconcileReport:
        owned, unmarked = self._scan()
        report = ReconcileReport(backend=self.name)
        desired = {job.ref: job for job in jobs}
        with tempfile.TemporaryDirectory(prefix="crontopus-tasks-") as folder:
            for job in desired.values():
                self._apply(job, owned.get(job.ref), job.ref in unmarked, Path(folder), report)
        for ref in sorted(owned.keys() - desired.keys()):
            self._remove(ref, report)
        self._known &= desired.keys()  # a job that leaves and comes back later is new again
        return report

    # -- reading ----------------------------------------------------------------------------

    def _scan(self) -> tuple[dict[str, _Installed], set[str]]:
        """Owned tasks by ref, and refs whose path in our folder holds a task without our marker."""
        listing = self._schtasks("/Query", "/FO", "CSV", "/NH")
        if listing.returncode != 0:
            raise SchedulerError(f"cannot list scheduled tasks: {_why(listing)}")
        owned: dict[str, _Installed] = {}
        unmarked: set[str] = set()
        for ref in _folder_refs(listing.stdout):
            task = self._read(ref)
            if task is not None and task.marker.ref == ref:
                owned[ref] = task
            else:
                unmarked.add(ref)
        return owned, unmarked

    def _read(self, ref: str) -> _Installed | None:
        result = self._schtasks("/Query", "/TN", task_path(ref), "/XML")
        if result.returncode != 0:
            return None
        try:
            task = ET.fromstring(result.stdout.lstrip("\ufeff \r\n\t"))
        except ET.ParseError:
            return None
        marker = _marker(task)
        return _Installed(marker, _digest(task)) if marker else None

    # -- writing ----------------------------------------------------------------------------

    def _apply(
        self, job: AgentJob, current: _Installed | None, unmarked: bool, folder: Path, report: ReconcileReport
    ) -> None:
        try:
            task, digest = _build(job, self._home, now=None)
        except ValueError as exc:
            report.errors.append(f"{job.ref}: {exc}")
            return
        change = self._change(job, current, unmarked, digest)
        if change is not None:
            failure = self._create(job.ref, _serialise(task), folder)
            if failure:
                report.errors.append(f"{job.ref}: {failure}")
                return
            _record(report, job.ref, change)
        self._known.add(job.ref)

    def _change(self, job: AgentJob, current: _Installed | None, unmarked: bool, wanted_digest: str) -> Change:
        if current is None:
            if unmarked:
                return Drift(job.ref, "edited", "the task lost its Crontopus marker or cannot be read; replaced")
            if job.ref in self._known:
                return Drift(job.ref, "deleted", "the task was deleted outside Crontopus; restored")
            return "added"
        if current.digest_now != current.marker.digest:
            return Drift(job.ref, "edited", "the task's triggers, action or settings were changed; restored")
        if current.marker.fingerprint != job.fingerprint or current.marker.digest != wanted_digest:
            return "updated"
        return None

    def _create(self, ref: str, document: str, folder: Path) -> str | None:
        file = folder / f"{ref.replace('/', '.')}.xml"
        file.write_bytes(encode_task_xml(document))
        result = self._schtasks("/Create", "/TN", task_path(ref), "/XML", str(file), "/F")
        return _why(result) if result.returncode != 0 else None

    def _remove(self, ref: str, report: ReconcileReport) -> None:
        result = self._schtasks("/Delete", "/TN", task_path(ref), "/F")
        if result.returncode != 0:
            report.errors.append(f"{ref}: cannot delete the task: {_why(result)}")
            return
        report.removed.append(ref)
        self._known.discard(ref)

    def _schtasks(self, *args: str) -> subprocess.CompletedProcess[str]:
        argv = ["schtasks", *args]
        try:
            return self._run(argv)
        except OSError as exc:  # schtasks missing or not startable: a failed command, not a crash
            return subprocess.CompletedProcess(argv, 127, "", str(exc))


def _record(report: ReconcileReport, ref: str, change: Change) -> None:
    if isinstance(change, Drift):
        report.drift.append(change)
    elif change == "added":
        report.added.append(ref)
    else:
        report.updated.append(ref)


def _folder_refs(listing: str) -> list[str]:
    """Refs of the tasks at ``\\Crontopus\\<ns>\\<name>`` in ``schtasks /Query /FO CSV /NH`` output.
    Only the first quoted field is read: the others are localised, the task path is not."""
    refs: dict[str, None] = {}
    for line in listing.splitlines():
        first = re.match(r'\s*"([^"]*)"', line)
        path = _OWNED_PATH.match(first[1]) if first else None
        if path:
            refs[f"{path[1]}/{path[2]}"] = None
    return list(refs)


def _why(result: subprocess.CompletedProcess[str]) -> str:
    return (result.stderr or result.stdout or "").strip() or f"exit status {result.returncode}"
