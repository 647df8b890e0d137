"""Events carried on JetStream streams.

Every event carries metadata (id, occurred_at, schema_version, correlation_id).
The tenant is never a payload field: it is the subject's tenant token, which the
publisher's credential decides.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from crontopus_schemas.names import JOB_REF_PATTERN, JOB_REF_RULE, in_words

# What a check-in reports: a start (running) or a finish.
CheckInStatus = Literal["running", "success", "failure", "timeout"]
# A stored run's status; "log" is an output-only event (a /log ping): kept in the history, never
# a job's last status.
RunStatus = Literal["running", "success", "failure", "timeout", "log"]
FINAL_STATUSES: frozenset[str] = frozenset({"success", "failure", "timeout", "log"})

# Stored output is the tail of what a run printed; the original size is kept beside it.
MAX_STORED_OUTPUT_BYTES = 64 * 1024

RUN_ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$"

JobRef = Annotated[str, StringConstraints(pattern=JOB_REF_PATTERN), in_words(JOB_REF_RULE)]
RunId = Annotated[str, StringConstraints(pattern=RUN_ID_PATTERN)]


def utcnow() -> datetime:
    return datetime.now(UTC)


class EventMeta(BaseModel):
    model_config = ConfigDict(extra="ignore")

    event_id: uuid.UUID = Field(default_factory=uuid.uuid4)
    occurred_at: datetime = Field(default_factory=utcnow)
    schema_version: int = 1
    correlation_id: str | None = None


def tail_of_output(output: str | None) -> tuple[str | None, int | None]:
    """Keep the last MAX_STORED_OUTPUT_BYTES bytes of output; return it and the original size."""
    if output is None:
        return None, None
    raw = output.encode("utf-8", errors="replace")
    if len(raw) <= MAX_STORED_OUTPUT_BYTES:
        return output, len(raw)
    tail = raw[-MAX_STORED_OUTPUT_BYTES:].decode("utf-8", errors="ignore")
    return tail, len(raw)


class CheckIn(BaseModel):
    """The fields of ``CheckInEvent`` without its envelope: what the runs service reads (validating
    the envelope too cost it ~2 µs of its ~32 µs per check-in)."""

    model_config = ConfigDict(extra="ignore")

    job: JobRef
    run_id: RunId
    status: RunStatus
    exit_code: int | None = Field(default=None, ge=-1024, le=1024)
    output: str | None = None
    output_size: int | None = Field(default=None, ge=0)
    timestamp: datetime = Field(default_factory=utcnow, description="when the run started or finished")
    duration_ms: int | None = Field(default=None, ge=0, description="measured by the reporter, if it can")
    source: str = "api"
    manifest_commit: str | None = None
    closes_open_run: bool = Field(
        default=False,
        description="a finish that knows no run id of its own (a ping URL without ?rid=): stored into the job's "
        "newest run from the same source that started within 24 h and has no finish yet, else as a run of its "
        "own under run_id; paired by the runs service in stream order",
    )
    replaced_by: RunId | None = Field(
        default=None,
        description="on a finish: the run of the same job that stopped this one under `concurrency: replace` "
        "(set by the agent); a finish that names it is not judged as a failure by alerting",
    )

    @property
    def is_finish(self) -> bool:
        return self.status in FINAL_STATUSES


class CheckInEvent(CheckIn, EventMeta):
    """One check-in of one run: a start (status running) or a finish (any final status).

    Subject: ``subjects.checkin_subject(tenant_id, source)``.
    Message id: ``subjects.checkin_msg_id(tenant_id, source, run_id, status)`` (from an agent), a keyed
    digest of it (from the gateway).
    """


class RecordedRun(BaseModel):
    """One run's merged state after a check-in of it was stored."""

    run_id: str
    job: str
    status: RunStatus
    started_at: datetime | None
    finished_at: datetime | None
    duration_ms: int | None
    exit_code: int | None
    replaced_by: str | None = Field(default=None, description="the run that replaced it (`concurrency: replace`)")


class RunsRecorded(EventMeta):
    """The runs of one tenant whose state a stored check-in batch changed.
    Subject: run_recorded_subject(tenant). One event per tenant and batch, not per run: at
    thousands of check-ins a second, per-run events cost the ingester a quarter of its time."""

    runs: list[RecordedRun]
