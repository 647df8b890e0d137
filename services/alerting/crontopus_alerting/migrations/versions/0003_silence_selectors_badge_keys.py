"""silences for a namespace or a label selector; each team's badge key; deliveries by channel

A silence covered one job or the whole team; it may now cover every job of a namespace or every
job whose labels include a set of pairs (``match_labels``, JSON). ``badge_keys`` holds each team's
key for its public status badges: the public id that names the team in a badge URL and the secret
that signs each badge's selector. Rotating the key replaces both, so every badge URL given out
before stops working. ``ix_deliveries_channel_created`` finds each channel's newest delivery
(the channels page shows how the last one went) without reading every delivery of the team.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-07
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("silences", sa.Column("namespace", sa.String(length=63), nullable=True))
    op.add_column("silences", sa.Column("match_labels", sa.Text(), nullable=False, server_default="{}"))
    op.create_table(
        "badge_keys",
        sa.Column("tenant_id", sa.String(length=64), primary_key=True),
        sa.Column("public_id", sa.String(length=32), nullable=False),
        sa.Column("secret", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.UniqueConstraint("public_id", name="uq_badge_keys_public_id"),
    )

    op.create_index("ix_deliveries_channel_created", "deliveries", ["channel_id", "created_at"])


def downgrade() -> None:
    op.drop_index("ix_deliveries_channel_created", table_name="deliveries")
    op.drop_table("badge_keys")
    with op.batch_alter_table("silences") as batch:
        batch.drop_column("match_labels")
        batch.drop_column("namespace")
