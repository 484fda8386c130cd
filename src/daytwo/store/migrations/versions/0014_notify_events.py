"""notify: alerts remember the state they last told about (SLA, gate, feed alerts), and a
delivery held by a channel's rate limit names the grouped message that carried it; owners
choose a daily or weekly digest

Revision ID: 0014_notify_events
Revises: 0013_report_archive
Create Date: 2026-12-05
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0014_notify_events"
down_revision: str | None = "0013_report_archive"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("notify_alerts") as batch:
        batch.add_column(sa.Column("state", sa.String(length=32), nullable=True))
    with op.batch_alter_table("notify_deliveries") as batch:
        batch.add_column(sa.Column("grouped_into", sa.Integer(), nullable=True))
    with op.batch_alter_table("notify_preferences") as batch:
        batch.add_column(
            sa.Column("digest", sa.String(length=8), nullable=False, server_default="off")
        )
        batch.add_column(sa.Column("digest_sent_at", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("notify_preferences") as batch:
        batch.drop_column("digest_sent_at")
        batch.drop_column("digest")
    with op.batch_alter_table("notify_deliveries") as batch:
        batch.drop_column("grouped_into")
    with op.batch_alter_table("notify_alerts") as batch:
        batch.drop_column("state")
