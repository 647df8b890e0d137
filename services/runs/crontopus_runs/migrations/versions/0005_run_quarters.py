"""quarter-hour rollups of the runs for the statistics, and marks of the quarters that changed

GET /api/runs/stats of a team reads its closed quarter-hours from run_quarters (counts per status
and a duration sketch, see crontopus_runs/stats.py) instead of every run of the window; a quarter
is rolled up by the first request that needs it. run_quarter_marks names the quarters whose runs
changed after they were rolled up (a late finish, a spooled run, retention), to be built again.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-07
"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "run_quarters",
        sa.Column("tenant_id", sa.String(64), primary_key=True),
        sa.Column("quarter", sa.BigInteger(), primary_key=True, autoincrement=False),
        sa.Column("success", sa.Integer(), nullable=False),
        sa.Column("failure", sa.Integer(), nullable=False),
        sa.Column("timeout", sa.Integer(), nullable=False),
        sa.Column("running", sa.Integer(), nullable=False),
        sa.Column("durations", sa.Text(), nullable=False),
    )
    op.create_table(
        "run_quarter_marks",
        sa.Column("tenant_id", sa.String(64), primary_key=True),
        sa.Column("quarter", sa.BigInteger(), primary_key=True, autoincrement=False),
        sa.Column("generation", sa.Integer(), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("run_quarter_marks")
    op.drop_table("run_quarters")
