"""sign-in failures counted per account and per device token, no longer per typed name

The old counters (key ``account:<typed name>``) locked a username but not the same account's
email, and let anyone lock anyone out. Failures now count under ``user:<user id>``,
``device:<nonce>`` and ``name:<unknown name>``; the old rows would never be read again, so they
go. At worst a lock in force during the upgrade ends early.

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-08
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(sa.text("DELETE FROM login_throttle WHERE key LIKE 'account:%'"))


def downgrade() -> None:
    op.execute(sa.text("DELETE FROM login_throttle WHERE key LIKE 'user:%' OR key LIKE 'device:%' OR key LIKE 'name:%'"))
