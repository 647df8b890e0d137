"""memberships: a person may belong to several teams, each with a role

Until now a user belonged to the one team they signed up with, as its owner (``users.role``).
Every user becomes a member of that team with the role they had (owner), the role column goes,
and ``users.tenant_id`` becomes ``default_tenant_id``: the team a sign-in acts for.
Plain ALTER TABLE statements (SQLite 3.35+ has RENAME and DROP COLUMN), so SQLite's tables are
not rebuilt under foreign keys that point at them.

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
    op.create_table(
        "memberships",
        sa.Column("tenant_id", sa.String(32), sa.ForeignKey("tenants.id"), primary_key=True),
        sa.Column("user_id", sa.String(32), sa.ForeignKey("users.id"), primary_key=True, index=True),
        sa.Column("role", sa.String(16), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.execute(
        sa.text(
            "INSERT INTO memberships (tenant_id, user_id, role, created_at) "
            "SELECT tenant_id, id, role, created_at FROM users"
        )
    )
    op.drop_index("ix_users_tenant_id", table_name="users")
    op.execute(sa.text("ALTER TABLE users RENAME COLUMN tenant_id TO default_tenant_id"))
    op.execute(sa.text("ALTER TABLE users DROP COLUMN role"))
    op.create_index("ix_users_default_tenant_id", "users", ["default_tenant_id"])


def downgrade() -> None:
    """Back to one team per user: each keeps their default team, as its owner."""
    op.drop_index("ix_users_default_tenant_id", table_name="users")
    op.execute(sa.text("ALTER TABLE users RENAME COLUMN default_tenant_id TO tenant_id"))
    op.add_column("users", sa.Column("role", sa.String(16), nullable=False, server_default="owner"))
    op.create_index("ix_users_tenant_id", "users", ["tenant_id"])
    op.drop_table("memberships")
