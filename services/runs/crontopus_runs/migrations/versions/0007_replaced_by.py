"""a run stopped by a newer run of its job (concurrency: replace) names that run

The agent reports such a run's finish as a failure with ``replaced_by``, the run that replaced it;
alerting does not judge it as a failure, and the run's page says what stopped it.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-08
"""

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # A nullable column without a default: PostgreSQL and SQLite add it without rewriting the table.
    op.add_column("runs", sa.Column("replaced_by", sa.String(128), nullable=True))


def downgrade() -> None:
    op.drop_column("runs", "replaced_by")
