"""indexes on when a run happened, per team and per job

A run's moment is coalesce(started_at, finished_at): when it started, or when it finished for a
run reported only by its finish. The runs list filters on it (since, until) and the statistics
(GET /api/runs/stats) count and rank the runs of a window by it; without these indexes both read
every run of the team (or of the job) since retention began.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-06
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

MOMENT = sa.text("coalesce(started_at, finished_at)")


def upgrade() -> None:
    op.create_index("ix_runs_tenant_moment", "runs", [sa.column("tenant_id"), MOMENT])
    op.create_index("ix_runs_tenant_job_moment", "runs", [sa.column("tenant_id"), sa.column("job"), MOMENT])


def downgrade() -> None:
    op.drop_index("ix_runs_tenant_job_moment", table_name="runs")
    op.drop_index("ix_runs_tenant_moment", table_name="runs")
