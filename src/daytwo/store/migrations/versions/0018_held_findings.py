"""held findings: a segment finding of a repeated look waits for the next look to confirm it

Revision ID: 0018_held_findings
Revises: 0017_adoption_pilot_runs
Create Date: 2026-12-06
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0018_held_findings"
down_revision: str | None = "0017_adoption_pilot_runs"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "held_findings",
        sa.Column("fingerprint", sa.String(length=40), nullable=False),
        sa.Column("deployment", sa.String(length=100), nullable=False),
        sa.Column("detector", sa.String(length=64), nullable=False),
        sa.Column("first_seen", sa.DateTime(timezone=True), nullable=False),
        sa.Column("data_through", sa.DateTime(timezone=True), nullable=False),
        sa.Column("run_id", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("fingerprint", name=op.f("pk_held_findings")),
    )
    op.create_index("ix_held_findings_deployment", "held_findings", ["deployment"])


def downgrade() -> None:
    op.drop_index("ix_held_findings_deployment", table_name="held_findings")
    op.drop_table("held_findings")
