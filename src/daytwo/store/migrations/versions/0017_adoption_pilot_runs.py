"""adoption: the pilot-vs-rollout comparison kept per analysis run

Revision ID: 0017_adoption_pilot_runs
Revises: 0016_plan
Create Date: 2026-12-06
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0017_adoption_pilot_runs"
down_revision: str | None = "0016_plan"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "adoption_pilot_runs",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("run_id", sa.Integer(), nullable=False),
        sa.Column("deployment", sa.String(length=100), nullable=False),
        sa.Column("as_of", sa.DateTime(timezone=True), nullable=False),
        sa.Column("period_start", sa.DateTime(timezone=True), nullable=False),
        sa.Column("period_end", sa.DateTime(timezone=True), nullable=False),
        sa.Column("basis", sa.String(length=16), nullable=False),
        sa.Column("comparison", sa.JSON(), nullable=True),
        sa.Column("note", sa.Text(), nullable=False),
        sa.Column("cohorts", sa.Text(), nullable=False),
        sa.Column("computed_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_adoption_pilot_runs")),
    )
    with op.batch_alter_table("adoption_pilot_runs", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_adoption_pilot_runs_deployment"), ["deployment"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_adoption_pilot_runs_run_id"), ["run_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("adoption_pilot_runs", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_adoption_pilot_runs_run_id"))
        batch_op.drop_index(batch_op.f("ix_adoption_pilot_runs_deployment"))
    op.drop_table("adoption_pilot_runs")
