"""report archive and schedules: an issued report keeps the document it was (HTML and PDF), a
subscription sends a deployment's reports on schedule through a notification channel, and the
notification outbox carries documents as well as alerts

Revision ID: 0013_report_archive
Revises: 0011_reports
Create Date: 2026-12-05
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0013_report_archive"
down_revision: str | None = "0011_reports"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("issued_reports") as batch:
        batch.add_column(
            sa.Column("title", sa.String(length=300), nullable=False, server_default="")
        )
        batch.add_column(sa.Column("html", sa.Text(), nullable=False, server_default=""))
        batch.add_column(sa.Column("pdf", sa.LargeBinary(), nullable=True))
        batch.add_column(
            sa.Column("sha256", sa.String(length=64), nullable=False, server_default="")
        )
    op.create_table(
        "report_subscriptions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("deployment", sa.String(length=100), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("channel", sa.String(length=100), nullable=False),
        sa.Column("recipients", sa.String(length=500), nullable=False),
        sa.Column("weekday", sa.Integer(), nullable=False),
        sa.Column("day", sa.Integer(), nullable=False),
        sa.Column("hour", sa.Integer(), nullable=False),
        sa.Column("timezone", sa.String(length=64), nullable=False),
        sa.Column("last_period", sa.String(length=16), nullable=True),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("created_by", sa.String(length=200), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_report_subscriptions")),
        sa.UniqueConstraint(
            "deployment", "kind", "channel", name=op.f("uq_report_subscriptions_deployment")
        ),
    )
    with op.batch_alter_table("notify_deliveries") as batch:
        batch.alter_column("alert_id", existing_type=sa.Integer(), nullable=True)


def downgrade() -> None:
    op.execute("DELETE FROM notify_deliveries WHERE alert_id IS NULL")
    with op.batch_alter_table("notify_deliveries") as batch:
        batch.alter_column("alert_id", existing_type=sa.Integer(), nullable=False)
    op.drop_table("report_subscriptions")
    with op.batch_alter_table("issued_reports") as batch:
        batch.drop_column("sha256")
        batch.drop_column("pdf")
        batch.drop_column("html")
        batch.drop_column("title")
