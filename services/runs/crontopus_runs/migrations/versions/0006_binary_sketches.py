"""run_quarters keeps its duration sketches as bytes, not base64 text

Decoding 30 days of a busy team's quarters from base64 (~5.5 MB of text) took a third of a
statistics request. The rollups are derived from the runs and built again by the first request
that needs them, so the table is emptied, not converted: that request pays the rebuild once
(seconds for a team with a million runs a month). A runs instance of the previous version still
running during an upgrade answers statistics with an internal error until it is replaced.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-07
"""

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    _sketches_as(sa.LargeBinary())


def downgrade() -> None:
    _sketches_as(sa.Text())


def _sketches_as(column_type: sa.types.TypeEngine) -> None:
    op.execute("DELETE FROM run_quarters")
    with op.batch_alter_table("run_quarters") as table:  # SQLite alters a column by copying the table
        table.drop_column("durations")
        table.add_column(sa.Column("durations", column_type, nullable=False))
