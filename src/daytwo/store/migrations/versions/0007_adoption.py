"""adoption: champions, cohorts; changes scoped to segments (a training for a team or a site)

Revision ID: 0007_adoption
Revises: 0006
Create Date: 2026-12-14
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007_adoption"
down_revision: str | None = "0007_deployment_currency"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "adoption_champions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("deployment", sa.String(length=100), nullable=False),
        sa.Column("agent_ref", sa.String(length=200), nullable=False),
        sa.Column("team", sa.String(length=200), nullable=True),
        sa.Column("site", sa.String(length=200), nullable=True),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("ended_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("note", sa.Text(), nullable=False),
        sa.Column("recorded_by", sa.String(length=200), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_adoption_champions")),
        sa.UniqueConstraint(
            "deployment", "agent_ref", "started_at",
            name=op.f("uq_adoption_champions_deployment"),
        ),
    )  # fmt: skip
    with op.batch_alter_table("adoption_champions", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_adoption_champions_deployment"), ["deployment"], unique=False
        )
    op.create_table(
        "adoption_cohorts",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("deployment", sa.String(length=100), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("role", sa.String(length=16), nullable=False),
        sa.Column("segment_key", sa.String(length=100), nullable=True),
        sa.Column("segment_value", sa.String(length=200), nullable=True),
        sa.Column("agents", sa.JSON(), nullable=False),
        sa.Column("enabled_from", sa.Date(), nullable=True),
        sa.Column("enabled_until", sa.Date(), nullable=True),
        sa.Column("journeys", sa.JSON(), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("recorded_by", sa.String(length=200), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_adoption_cohorts")),
        sa.UniqueConstraint("deployment", "name", name=op.f("uq_adoption_cohorts_deployment")),
    )
    with op.batch_alter_table("adoption_cohorts", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_adoption_cohorts_deployment"), ["deployment"], unique=False
        )
    with op.batch_alter_table("changes", schema=None) as batch_op:
        batch_op.add_column(sa.Column("segments", sa.JSON(), nullable=False, server_default="{}"))
        batch_op.add_column(
            sa.Column("control_segments", sa.JSON(), nullable=False, server_default="{}")
        )


def downgrade() -> None:
    with op.batch_alter_table("changes", schema=None) as batch_op:
        batch_op.drop_column("control_segments")
        batch_op.drop_column("segments")
    with op.batch_alter_table("adoption_cohorts", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_adoption_cohorts_deployment"))
    op.drop_table("adoption_cohorts")
    with op.batch_alter_table("adoption_champions", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_adoption_champions_deployment"))
    op.drop_table("adoption_champions")
