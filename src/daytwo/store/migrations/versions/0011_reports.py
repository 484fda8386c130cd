"""issued reports: frozen snapshots of the weekly and monthly reports

Revision ID: 0011_reports
Revises: 0006
Create Date: 2026-12-05
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0011_reports"
down_revision: str | None = "0010_notify"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "issued_reports",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("deployment", sa.String(length=100), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("period", sa.String(length=16), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("as_of", sa.DateTime(timezone=True), nullable=False),
        sa.Column("code_version", sa.String(length=40), nullable=False),
        sa.Column("issued_by", sa.String(length=200), nullable=False),
        sa.Column("issued_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("payload", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_issued_reports")),
        sa.UniqueConstraint(
            "deployment", "kind", "period", "version", name=op.f("uq_issued_reports_deployment")
        ),
    )
    op.create_index(
        op.f("ix_issued_reports_deployment"), "issued_reports", ["deployment"], unique=False
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_issued_reports_deployment"), table_name="issued_reports")
    op.drop_table("issued_reports")
