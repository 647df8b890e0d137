"""The job manifest, v1: what a YAML file in the jobs repository says.

Field names are camelCase in YAML (``apiVersion``, ``matchLabels``), as Kubernetes users expect.
Unknown fields are errors, so a typo (``schedul:``) never silently does nothing.
The JSON Schema in ``docs/job-manifest.schema.json`` is generated from these models (``make docs``).
"""

from __future__ import annotations

import re
from typing import Annotated, Literal

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StringConstraints,
    field_validator,
    model_validator,
)
from pydantic.alias_generators import to_camel

from crontopus_schemas.cron import normalise_schedule, zone
from crontopus_schemas.names import DNS_LABEL, LABEL_RULE, in_words
from crontopus_schemas.strict import Integer, json_number

API_VERSION = "crontopus.io/v1"
KIND = "Job"

# Largest unit first; each at most once. Days and weeks are fixed lengths (86400 s, 7 days), as
# for --since: a silence "for 2d" or "maxRuns.per: 1w" means that many hours, whatever the calendar.
_DURATION_UNITS = {"w": 7 * 86400, "d": 86400, "h": 3600, "m": 60, "s": 1}
_DURATION = re.compile("".join(f"(?:(?P<{unit}>\\d+){unit})?" for unit in _DURATION_UNITS))
DURATION_EXAMPLES = "30s, 5m, 1h30m, 2d, 1w"


def duration_seconds(value: str) -> int:
    """'1h30m' -> 5400, '2d' -> 172800. Units: w, d, h, m, s, largest first."""
    match = _DURATION.fullmatch(value)
    if not value or not match:
        raise ValueError(f"{value!r} is not a duration like {DURATION_EXAMPLES}")
    return sum(int(match[unit] or 0) * size for unit, size in _DURATION_UNITS.items())


def _positive_duration(value: str) -> str:
    if duration_seconds(value) <= 0:
        raise ValueError("must be longer than 0s")
    return value


def _non_negative_duration(value: str) -> str:
    duration_seconds(value)
    return value


# The patterns say in JSON Schema what duration_seconds takes (validation stays with it: pydantic's
# regex engine has no lookahead); a Duration has a digit other than 0 somewhere. One alternative
# per first unit, e.g. "[0-9]+d([0-9]+h)?([0-9]+m)?([0-9]+s)?", so an empty string never matches.
_DURATION_PATTERN = (
    "("
    + "|".join(
        f"[0-9]+{unit}" + "".join(f"([0-9]+{later})?" for later in list(_DURATION_UNITS)[i + 1 :])
        for i, unit in enumerate(_DURATION_UNITS)
    )
    + ")$"
)
Duration = Annotated[
    str,
    AfterValidator(_positive_duration),
    Field(examples=["30s", "5m", "1h30m", "2d"], json_schema_extra={"pattern": "^(?=.*[1-9])" + _DURATION_PATTERN}),
]
OptionalDuration = Annotated[
    str,
    AfterValidator(_non_negative_duration),
    Field(examples=["0s", "5m"], json_schema_extra={"pattern": "^" + _DURATION_PATTERN}),
]


def _one_line(value: str) -> str:
    """Refused here, so the API and a push say so at once rather than only the agent later: the
    agent's crontab backend writes the job's command and arguments into one crontab line, which
    cannot hold a line break, and no command line can hold a NUL."""
    if "\0" in value:
        raise ValueError("contains a NUL character, which no command line can hold")
    if "\n" in value or "\r" in value:
        raise ValueError(
            "contains a line break, which a crontab line cannot hold; put a multi-line script in a file "
            "and run that, or join its commands with ';'"
        )
    return value


# The same rule for JSON Schema users (editors): ECMA-262 syntax.
_ONE_LINE_PATTERN = "^[^\\n\\r\\u0000]*$"
OneLine = Annotated[str, AfterValidator(_one_line), Field(json_schema_extra={"pattern": _ONE_LINE_PATTERN})]


def _not_blank(value: str) -> str:
    """A blank command would be installed and fail every run with exit 127 ("command not found");
    refused here so `jobs validate` and a push say so instead."""
    if not value.strip():
        raise ValueError("is empty or only whitespace; name the program to run, e.g. /usr/local/bin/backup")
    return value


# One line with something other than whitespace on it (ECMA-262 \s covers the line breaks too).
_COMMAND_PATTERN = "^[^\\n\\r\\u0000]*[^\\s\\u0000][^\\n\\r\\u0000]*$"
Command = Annotated[
    str,
    StringConstraints(max_length=4096),
    AfterValidator(_one_line),
    AfterValidator(_not_blank),
    Field(json_schema_extra={"pattern": _COMMAND_PATTERN}),
]
DnsLabel = Annotated[
    str,
    StringConstraints(pattern=DNS_LABEL),
    in_words(LABEL_RULE),
    Field(description="lowercase letters, digits and '-', at most 63 characters"),
]
LabelValue = Annotated[str, StringConstraints(max_length=63, pattern=r"^[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$|^$")]
LabelKey = Annotated[
    str, StringConstraints(max_length=253, pattern=r"^([a-z0-9.-]+/)?[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$")
]
# Every key must be a LabelKey: in JSON Schema, keys outside patternProperties would be free.
Labels = Annotated[dict[LabelKey, LabelValue], Field(json_schema_extra={"additionalProperties": False})]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", alias_generator=to_camel, populate_by_name=True, frozen=True)


class Metadata(_Model):
    name: DnsLabel
    namespace: DnsLabel = Field(description="also the folder the file lives in")
    labels: Labels = Field(default_factory=dict)
    annotations: dict[str, str] = Field(default_factory=dict, description="free-form notes; not used for selection")


class Retries(_Model):
    limit: int = Field(default=0, ge=0, le=10, description="attempts after the first one fails")
    backoff: Duration = Field(default="30s", description="wait before the first retry; doubles for each next one")


class Target(_Model):
    match_labels: Labels = Field(
        default_factory=dict, description="agents whose labels include all of these install the job; empty: every agent"
    )


class Failures(_Model):
    consecutive: Integer = Field(default=1, ge=1, le=100, description="alert after this many failed runs in a row")
    # The bounds inside the union, before the validator: see strict.Integer.
    ratio: Annotated[float, Field(gt=0, le=1), BeforeValidator(json_number)] | None = Field(
        default=None, description="or: alert when this share of the last `window` runs failed"
    )
    window: Integer = Field(default=10, ge=2, le=1000, description="runs the ratio is taken over")


class RunCount(_Model):
    count: Integer = Field(ge=1, description="more runs than this ...")
    per: Duration = Field(description="... within this period counts as running too often")


class MaintenanceWindow(_Model):
    start: AwareDatetime
    end: AwareDatetime
    reason: str = ""

    @model_validator(mode="after")
    def ends_after_it_starts(self) -> MaintenanceWindow:
        if self.end <= self.start:
            raise ValueError("end must be after start (a window that ends first silences nothing)")
        return self


class Monitor(_Model):
    """Alerting knobs. Unset fields take the team's default rules (`/api/alert-rules`)."""

    grace: OptionalDuration | None = Field(
        default=None, description="how late a run may start before it counts as missed (team default: 5m)"
    )
    missed: bool | None = Field(default=None, description="alert when a run does not start (team default: true)")
    finish_grace: OptionalDuration | None = Field(
        default=None, description="a started run that has not finished this long after its timeout (or maxDuration) "
        "counts as never finished (team default: 1h when the job has neither)",
    )  # fmt: skip
    max_duration: Duration | None = Field(default=None, description="a run taking longer than this ran too long")
    min_duration: Duration | None = Field(default=None, description="a successful run shorter than this ran too fast")
    max_runs: RunCount | None = Field(default=None, description="more runs than this per period: ran too often")
    failures: Failures | None = Field(
        default=None, description="when failed runs raise an incident (team default: 1 in a row)"
    )
    maintenance: list[MaintenanceWindow] = Field(
        default_factory=list, description="windows in which incidents are recorded but nobody is notified"
    )
    snooze_until: AwareDatetime | None = Field(default=None, description="silence this job's notifications until then")


class JobSpec(_Model):
    schedule: str = Field(
        description="5-field cron (minute hour day-of-month month day-of-week) or @hourly, @daily, ..."
    )
    timezone: str = Field(default="UTC", description="IANA time zone the schedule is read in, e.g. Europe/Berlin")
    command: Command = Field(description="the program to run; one line (no line break, no NUL), not blank")
    args: list[OneLine] = Field(default_factory=list, description="its arguments, each one line")
    env: dict[Annotated[str, StringConstraints(pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")], str] = Field(default_factory=dict)
    working_dir: str | None = None
    enabled: bool = Field(default=True, description="false: not installed on any agent")
    paused: bool = Field(default=False, description="true: installed but not run, and not alerted on")
    timeout: Duration | None = Field(default=None, description="the run is stopped and reported as timeout after this")
    concurrency: Literal["allow", "forbid", "replace"] = Field(
        default="forbid", description="when a run is due while the last one still runs: start anyway, skip, or replace"
    )
    retries: Retries = Field(default_factory=Retries)
    target: Target = Field(default_factory=Target)
    monitor: Monitor = Field(default_factory=Monitor)

    # ScheduleError is a ValueError: pydantic reports its message as the field's error.
    @field_validator("schedule")
    @classmethod
    def schedule_is_valid(cls, value: str) -> str:
        normalise_schedule(value)
        return value

    @field_validator("timezone")
    @classmethod
    def timezone_is_known(cls, value: str) -> str:
        zone(value)
        return value


class JobManifest(_Model):
    """A ``kind: Job`` document."""

    api_version: Literal["crontopus.io/v1"] = Field(description="crontopus.io/v1")
    kind: Literal["Job"]
    metadata: Metadata
    spec: JobSpec

    @property
    def ref(self) -> str:
        return f"{self.metadata.namespace}/{self.metadata.name}"


def json_schema() -> dict:
    schema = JobManifest.model_json_schema(by_alias=True, mode="validation")
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["$id"] = "https://crontopus.io/schemas/job-manifest-v1.json"
    schema["title"] = "Crontopus job manifest (crontopus.io/v1)"
    return schema
