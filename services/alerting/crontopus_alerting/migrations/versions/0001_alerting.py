"""job monitors (the due-time index), incidents, channels, deliveries, silences, tenant rules,
offline agents

Revision ID: 0001
Revises:
Create Date: 2026-11-27
"""

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "job_monitors",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("tenant_id", sqlmodel.AutoString(64), nullable=False),
        sa.Column("job", sqlmodel.AutoString(127), nullable=False),
        sa.Column("schedule", sqlmodel.AutoString(255), nullable=False),
        sa.Column("timezone", sqlmodel.AutoString(64), nullable=False),
        sa.Column("paused", sa.Boolean(), nullable=False),
        sa.Column("labels", sa.Text(), nullable=False),
        sa.Column("policy", sa.Text(), nullable=False),
        sa.Column("commit", sqlmodel.AutoString(64)),
        sa.Column("expected_at", sa.DateTime(timezone=True)),
        sa.Column("alert_at", sa.DateTime(timezone=True)),
        sa.Column("finish_alert_at", sa.DateTime(timezone=True)),
        sa.Column("last_started_at", sa.DateTime(timezone=True)),
        sa.Column("last_finished_at", sa.DateTime(timezone=True)),
        sa.Column("last_run_id", sqlmodel.AutoString(128)),
        sa.Column("recent_outcomes", sa.Text(), nullable=False),
        sa.Column("recent_starts", sa.Text(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.UniqueConstraint("tenant_id", "job", name="uq_job_monitors_tenant_job"),
    )
    # The due-time index: a tick is a range scan of these, so it reads only the jobs that are due.
    op.create_index("ix_job_monitors_alert_at", "job_monitors", ["alert_at"])
    op.create_index("ix_job_monitors_finish_alert_at", "job_monitors", ["finish_alert_at"])

    op.create_table(
        "incidents",
        sa.Column("id", sqlmodel.AutoString(32), primary_key=True),
        sa.Column("tenant_id", sqlmodel.AutoString(64), nullable=False),
        sa.Column("job", sqlmodel.AutoString(127)),
        sa.Column("agent_id", sqlmodel.AutoString(32)),
        sa.Column("cause", sqlmodel.AutoString(32), nullable=False),
        sa.Column("status", sqlmodel.AutoString(16), nullable=False),
        sa.Column("open_key", sqlmodel.AutoString(255)),
        sa.Column("detail", sa.Text(), nullable=False),
        sa.Column("run_id", sqlmodel.AutoString(128)),
        sa.Column("commit", sqlmodel.AutoString(64)),
        sa.Column("silenced", sa.Boolean(), nullable=False),
        sa.Column("opened_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("acknowledged_at", sa.DateTime(timezone=True)),
        sa.Column("acknowledged_by", sqlmodel.AutoString(64)),
        sa.Column("resolved_at", sa.DateTime(timezone=True)),
        sa.Column("resolved_by", sqlmodel.AutoString(64)),
        sa.Column("last_notified_at", sa.DateTime(timezone=True)),
        sa.Column("escalated_at", sa.DateTime(timezone=True)),
        # Set only while open: opening an incident is a claim on this key.
        sa.UniqueConstraint("open_key", name="uq_incidents_open_key"),
    )
    op.create_index("ix_incidents_tenant_opened", "incidents", ["tenant_id", "opened_at"])

    op.create_table(
        "channels",
        sa.Column("id", sqlmodel.AutoString(32), primary_key=True),
        sa.Column("tenant_id", sqlmodel.AutoString(64), nullable=False, index=True),
        sa.Column("name", sqlmodel.AutoString(100), nullable=False),
        sa.Column("kind", sqlmodel.AutoString(32), nullable=False),
        sa.Column("url_sealed", sa.Text(), nullable=False),
        sa.Column("url_masked", sa.Text(), nullable=False),
        sa.Column("match_labels", sa.Text(), nullable=False),
        sa.Column("escalation", sa.Boolean(), nullable=False),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.UniqueConstraint("tenant_id", "name", name="uq_channels_tenant_name"),
    )

    op.create_table(
        "deliveries",
        sa.Column("id", sqlmodel.AutoString(32), primary_key=True),
        sa.Column("tenant_id", sqlmodel.AutoString(64), nullable=False),
        sa.Column("incident_id", sqlmodel.AutoString(32)),
        sa.Column("channel_id", sqlmodel.AutoString(32), nullable=False),
        sa.Column("event", sqlmodel.AutoString(16), nullable=False),
        sa.Column("status", sqlmodel.AutoString(16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("last_error", sa.Text()),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("sent_at", sa.DateTime(timezone=True)),
    )
    op.create_index("ix_deliveries_incident", "deliveries", ["incident_id"])

    op.create_table(
        "silences",
        sa.Column("id", sqlmodel.AutoString(32), primary_key=True),
        sa.Column("tenant_id", sqlmodel.AutoString(64), nullable=False, index=True),
        sa.Column("job", sqlmodel.AutoString(127)),
        sa.Column("starts_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("ends_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("created_by", sqlmodel.AutoString(64), nullable=False),
    )

    op.create_table(
        "tenant_rules",
        sa.Column("tenant_id", sqlmodel.AutoString(64), primary_key=True),
        sa.Column("rules", sa.Text(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    )

    op.create_table(
        "offline_agents",
        sa.Column("tenant_id", sqlmodel.AutoString(64), primary_key=True),
        sa.Column("agent_id", sqlmodel.AutoString(32), primary_key=True),
        sa.Column("jobs", sa.Text(), nullable=False),
        sa.Column("since", sa.DateTime(timezone=True), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("offline_agents")
    op.drop_table("tenant_rules")
    op.drop_table("silences")
    op.drop_table("deliveries")
    op.drop_table("channels")
    op.drop_table("incidents")
    op.drop_table("job_monitors")
