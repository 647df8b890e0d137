"""open runs found by an index; finish pings remember the run they closed

A finish ping without ?rid= closes its job's newest open run (a start, no finish). The runs
service pairs it at ingest (crontopus_runs/pairing.py): ix_runs_open holds only open runs, so the
lookup reads a few index entries however long the job's history is, where it used to read up to
2,000 of the job's newest rows. closed_by is the finish's own run id once paired, so a redelivered
copy of it finds the run it closed (ix_runs_closed_by) instead of closing another.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-06
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

OPEN = sa.text("finished_at IS NULL AND started_at IS NOT NULL")
CLOSED = sa.text("closed_by IS NOT NULL")


def upgrade() -> None:
    # A nullable column without a default: PostgreSQL and SQLite add it without rewriting the table.
    op.add_column("runs", sa.Column("closed_by", sa.String(128), nullable=True))
    op.create_index(
        "ix_runs_open", "runs", ["tenant_id", "job", "source", "id"], sqlite_where=OPEN, postgresql_where=OPEN
    )
    op.create_index(
        "ix_runs_closed_by", "runs", ["tenant_id", "closed_by"], sqlite_where=CLOSED, postgresql_where=CLOSED
    )


def downgrade() -> None:
    op.drop_index("ix_runs_closed_by", table_name="runs")
    op.drop_index("ix_runs_open", table_name="runs")
    op.drop_column("runs", "closed_by")
