"""run output compressed with lz4 on PostgreSQL

Outputs over ~2 KB are compressed when stored. With PostgreSQL's default, pglz, compressing them
took a quarter of the server's CPU during check-in ingest; lz4 compresses log text several times
faster at a similar size. A server built without lz4 (or before PostgreSQL 14) keeps pglz.
Only new values are affected; stored outputs stay as they are, and both are read alike.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-28
"""

from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    _set_output_compression("lz4")


def downgrade() -> None:
    _set_output_compression("pglz")


def _set_output_compression(method: str) -> None:
    if op.get_bind().dialect.name != "postgresql":
        return  # SQLite does not compress
    op.execute(f"""
        DO $$
        BEGIN
            EXECUTE 'ALTER TABLE runs ALTER COLUMN output SET COMPRESSION {method}';
        EXCEPTION WHEN feature_not_supported OR syntax_error THEN
            RAISE NOTICE 'run output keeps the default compression: %', SQLERRM;
        END $$
    """)
