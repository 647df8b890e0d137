"""How check-ins of one run merge into its state. Pure; the SQL upsert in service.py applies
the same rules, so the result does not depend on arrival order or on duplicates:
the first finish wins, a start only fills in what is missing.

A run id belongs to the job that used it first in its team: a check-in of another job under it
is refused, never merged (``conflicts``). Merged, it would have given that job's run the other
job's status, exit code and output, and the other job no run at all."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TypeVar

from crontopus_kit.times import as_utc
from crontopus_schemas.events import CheckIn, tail_of_output

T = TypeVar("T")


# Slotted and not frozen: one is built per check-in, and a frozen dataclass's __init__ (an
# object.__setattr__ per field) cost four times as much. Treated as immutable all the same:
# merge() builds a new one.
@dataclass(slots=True)
class RunState:
    tenant_id: str
    run_id: str
    job: str
    status: str
    started_at: datetime | None
    finished_at: datetime | None
    reported_duration_ms: int | None
    exit_code: int | None
    output: str | None
    output_size: int | None
    source: str | None
    manifest_commit: str | None
    # A finish with closes_open_run: its own run id, kept once it is paired with an open run
    # (pairing.py), so a redelivered copy finds the run it closed instead of closing another.
    closed_by: str | None
    # A finish stopped by a newer run of the job (concurrency: replace): that run's id. A finish
    # field: the first finish's wins.
    replaced_by: str | None

    @property
    def duration_ms(self) -> int | None:
        return duration_ms(self.started_at, self.finished_at, self.reported_duration_ms)


def duration_ms(started: datetime | None, finished: datetime | None, reported: int | None) -> int | None:
    """The reporter's own measurement when it sent one (monotonic clock), else finish - start."""
    if reported is not None:
        return reported
    if started is None or finished is None:
        return None
    return max(0, round((as_utc(finished) - as_utc(started)).total_seconds() * 1000))  # type: ignore[operator]


def state_from_checkin(tenant_id: str, checkin: CheckIn) -> RunState:
    output, size = tail_of_output(checkin.output)
    if checkin.output_size is not None:
        size = max(size or 0, checkin.output_size)
    finish = checkin.is_finish
    moment = as_utc(checkin.timestamp)
    return RunState(
        tenant_id=tenant_id,
        run_id=checkin.run_id,
        job=checkin.job,
        status=checkin.status,
        started_at=None if finish else moment,
        finished_at=moment if finish else None,
        reported_duration_ms=checkin.duration_ms if finish else None,
        exit_code=checkin.exit_code if finish else None,
        output=output,
        output_size=size,
        source=checkin.source,
        manifest_commit=checkin.manifest_commit,
        closed_by=checkin.run_id if finish and checkin.closes_open_run else None,
        replaced_by=checkin.replaced_by if finish else None,
    )


def conflicts(current: RunState, incoming: RunState) -> bool:
    """Whether ``incoming`` is refused rather than merged: a check-in of another job under a run
    id ``current``'s job holds. Mirrored by the WHERE of the upsert's ON CONFLICT in service.py."""
    return current.job != incoming.job


def merge(current: RunState, incoming: RunState) -> RunState:
    """Fold ``incoming`` (of the same job: see ``conflicts``) into ``current``. Mirrors the ON
    CONFLICT clause in service.py. Built field by field: ``dataclasses.replace`` costs several
    times as much."""
    # The first finish wins; later check-ins only fill in what is still missing.
    finished = current.finished_at is not None
    latest = current if finished else incoming
    return RunState(
        tenant_id=current.tenant_id,
        run_id=current.run_id,
        job=current.job,
        status=latest.status,
        started_at=current.started_at or incoming.started_at,
        finished_at=latest.finished_at,
        reported_duration_ms=latest.reported_duration_ms,
        exit_code=latest.exit_code,
        output=current.output if finished else _first_known(incoming.output, current.output),
        output_size=current.output_size if finished else _first_known(incoming.output_size, current.output_size),
        source=current.source or incoming.source,
        manifest_commit=current.manifest_commit or incoming.manifest_commit,
        closed_by=current.closed_by or incoming.closed_by,
        replaced_by=latest.replaced_by,
    )


def _first_known(preferred: T | None, fallback: T | None) -> T | None:
    return preferred if preferred is not None else fallback
