"""The runs table: one row per (tenant, run id), start and finish merged into it; and the
statistics' quarter-hour rollups of it (``run_quarters``, ``run_quarter_marks``, see quarters.py)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, Column, DateTime, Index, Integer, LargeBinary, Text, UniqueConstraint, and_, func
from sqlmodel import Field, SQLModel

from crontopus_schemas.runs import FINISHED_STATUSES

COUNTED = (*FINISHED_STATUSES, "running")  # what the statistics count; "log" entries are output, not runs


class Run(SQLModel, table=True):
    __tablename__ = "runs"
    __table_args__ = (
        UniqueConstraint("tenant_id", "run_id", name="uq_runs_tenant_run"),
        # Keyset pagination walks id downwards inside a tenant, optionally per job or status.
        Index("ix_runs_tenant_id_desc", "tenant_id", "id"),
        Index("ix_runs_tenant_job_id", "tenant_id", "job", "id"),
        Index("ix_runs_tenant_status_id", "tenant_id", "status", "id"),
    )

    id: int | None = Field(
        default=None,
        sa_column=Column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True),
    )
    tenant_id: str = Field(max_length=64)
    run_id: str = Field(max_length=128)
    job: str = Field(max_length=130)
    status: str = Field(max_length=16)
    started_at: datetime | None = Field(default=None, sa_column=Column(DateTime(timezone=True)))
    finished_at: datetime | None = Field(default=None, sa_column=Column(DateTime(timezone=True)))
    reported_duration_ms: int | None = Field(default=None, sa_column=Column(BigInteger))
    exit_code: int | None = None
    output: str | None = Field(default=None, sa_column=Column(Text))
    output_size: int | None = Field(default=None, sa_column=Column(BigInteger))
    source: str | None = Field(default=None, max_length=64)
    manifest_commit: str | None = Field(default=None, max_length=64)
    closed_by: str | None = Field(default=None, max_length=128)  # see merge.RunState.closed_by
    replaced_by: str | None = Field(default=None, max_length=128)  # see merge.RunState.replaced_by
    created_at: datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False))
    updated_at: datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False))


_TABLE = Run.__table__  # type: ignore[attr-defined]
# When a run happened: its start, or its finish for a run reported only by its finish. The runs
# list's since/until and the statistics range over it, per team and per job (migration 0003).
MOMENT = func.coalesce(_TABLE.c.started_at, _TABLE.c.finished_at)
Index("ix_runs_tenant_moment", _TABLE.c.tenant_id, MOMENT)
Index("ix_runs_tenant_job_moment", _TABLE.c.tenant_id, _TABLE.c.job, MOMENT)
# Open runs only (a start, no finish): a finish ping finds its job's newest one in a few index
# entries however long the job's history is (pairing.py). Partial, so finished runs cost nothing.
OPEN = and_(_TABLE.c.finished_at.is_(None), _TABLE.c.started_at.is_not(None))
Index(
    "ix_runs_open", _TABLE.c.tenant_id, _TABLE.c.job, _TABLE.c.source, _TABLE.c.id,
    sqlite_where=OPEN, postgresql_where=OPEN,
)  # fmt: skip
# The finish pings paired with a run, by their own run id (migration 0004).
CLOSED = _TABLE.c.closed_by.is_not(None)
Index("ix_runs_closed_by", _TABLE.c.tenant_id, _TABLE.c.closed_by, sqlite_where=CLOSED, postgresql_where=CLOSED)


class RunQuarter(SQLModel, table=True):
    """A team's runs of one closed quarter-hour, by their moment: counts per status and the
    sketch of their durations (sketch.py, as ``sketch.dumps`` writes it). A quarter without runs
    has a row too (zeros, no bytes): computed and empty, not never computed."""

    __tablename__ = "run_quarters"

    tenant_id: str = Field(max_length=64, primary_key=True)
    quarter: int = Field(sa_column=Column(BigInteger, primary_key=True, autoincrement=False))  # epoch // 900
    success: int = 0
    failure: int = 0
    timeout: int = 0
    running: int = 0
    durations: bytes = Field(sa_column=Column(LargeBinary, nullable=False))


class RunQuarterMark(SQLModel, table=True):
    """ "This quarter's runs changed since it was rolled up": the next statistics request over it
    builds it again. ``generation`` counts the changes, so a rebuild removes only the mark it saw."""

    __tablename__ = "run_quarter_marks"

    tenant_id: str = Field(max_length=64, primary_key=True)
    quarter: int = Field(sa_column=Column(BigInteger, primary_key=True, autoincrement=False))
    generation: int = 1
