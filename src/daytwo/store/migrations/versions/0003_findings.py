"""findings and analysis runs

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-30
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "findings",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("fingerprint", sa.String(length=40), nullable=False),
        sa.Column("detector", sa.String(length=64), nullable=False),
        sa.Column("kind", sa.String(length=64), nullable=False),
        sa.Column("title", sa.Text(), nullable=False),
        sa.Column("deployment", sa.String(length=100), nullable=False),
        sa.Column("journey", sa.String(length=200), nullable=True),
        sa.Column("segment_key", sa.String(length=100), nullable=True),
        sa.Column("segment_value", sa.String(length=200), nullable=True),
        sa.Column("metric", sa.String(length=100), nullable=True),
        sa.Column("key", sa.JSON(), nullable=False),
        sa.Column("severity", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("baseline_value", sa.Float(), nullable=True),
        sa.Column("baseline_n", sa.Integer(), nullable=True),
        sa.Column("current_value", sa.Float(), nullable=True),
        sa.Column("current_n", sa.Integer(), nullable=True),
        sa.Column("evidence", sa.JSON(), nullable=False),
        sa.Column("impact_interactions", sa.Float(), nullable=False),
        sa.Column("impact_customers", sa.Float(), nullable=False),
        sa.Column("impact_agents", sa.Float(), nullable=False),
        sa.Column("details", sa.JSON(), nullable=False),
        sa.Column("first_seen", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_seen", sa.DateTime(timezone=True), nullable=False),
        sa.Column("times_seen", sa.Integer(), nullable=False),
        sa.Column("regressions", sa.Integer(), nullable=False),
        sa.Column("resolved_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_run_id", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_findings")),
        sa.UniqueConstraint("fingerprint", name=op.f("uq_findings_fingerprint")),
    )
    op.create_index("ix_findings_deployment_status", "findings", ["deployment", "status"])
    op.create_table(
        "analysis_runs",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("deployment", sa.String(length=100), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("since", sa.DateTime(timezone=True), nullable=True),
        sa.Column("data_through", sa.DateTime(timezone=True), nullable=True),
        sa.Column("interactions", sa.Integer(), nullable=False),
        sa.Column("detectors", sa.JSON(), nullable=False),
        sa.Column("findings_new", sa.Integer(), nullable=False),
        sa.Column("findings_updated", sa.Integer(), nullable=False),
        sa.Column("findings_resolved", sa.Integer(), nullable=False),
        sa.Column("findings_regressed", sa.Integer(), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_analysis_runs")),
    )
    op.create_index(
        "ix_analysis_runs_deployment_started", "analysis_runs", ["deployment", "started_at"]
    )


def downgrade() -> None:
    op.drop_index("ix_analysis_runs_deployment_started", table_name="analysis_runs")
    op.drop_table("analysis_runs")
    op.drop_index("ix_findings_deployment_status", table_name="findings")
    op.drop_table("findings")
