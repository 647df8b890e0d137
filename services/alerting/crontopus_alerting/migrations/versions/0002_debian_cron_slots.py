"""pending slots recomputed with the cron engine's Debian rules

The engine (``crontopus_schemas.cron``) now follows Debian's cron: days match both fields when a
day field starts with ``*``, and jobs whose minute or hour starts with ``*`` follow real time
across DST changes. A slot stored by the old rules may be a time cron never runs (``0 9 */2 * 1-5``
expected on a Sunday): it would raise a false missed-run alert. Each pending slot moves to the
first fire time at or after it by the new rules, its alert time by as much (the grace is kept).
A schedule the engine now refuses (``L``, ``W``, ``#``: cron does not run them) keeps no slot;
the job's manifest is reported as an error at the next commit.

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-07
"""

from datetime import UTC, datetime, timedelta

import sqlalchemy as sa
from alembic import op

from crontopus_schemas.cron import ScheduleError, fire_times

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

monitors = sa.table(
    "job_monitors",
    sa.column("id", sa.Integer),
    sa.column("schedule", sa.String),
    sa.column("timezone", sa.String),
    sa.column("expected_at", sa.DateTime(timezone=True)),
    sa.column("alert_at", sa.DateTime(timezone=True)),
)


def upgrade() -> None:
    bind = op.get_bind()
    pending = bind.execute(sa.select(monitors).where(monitors.c.expected_at.is_not(None))).all()
    for row in pending:
        expected = _utc(row.expected_at)
        moved = _first_fire_from(row.schedule, row.timezone, expected)
        if moved == expected:
            continue
        alert_at = _utc(row.alert_at) + (moved - expected) if moved and row.alert_at else None
        bind.execute(
            sa.update(monitors).where(monitors.c.id == row.id).values(expected_at=moved, alert_at=alert_at)
        )


def downgrade() -> None:
    pass  # the old rules' slots are not worth restoring: the next run of each job sets its slot


def _first_fire_from(schedule: str, timezone: str, moment: datetime) -> datetime | None:
    try:
        times = fire_times(schedule, timezone, after=moment - timedelta(minutes=1), count=1)
    except ScheduleError:
        return None
    return times[0].at.astimezone(UTC) if times else None


def _utc(moment: datetime) -> datetime:
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)  # SQLite: naive UTC
