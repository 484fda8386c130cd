"""route limits: a route's own rate limit, and which route chose each delivery

Revision ID: 0019_route_limits
Revises: 0018_held_findings
Create Date: 2026-12-06
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0019_route_limits"
down_revision: str | None = "0018_held_findings"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("notify_routes") as batch:
        batch.add_column(sa.Column("max_per_hour", sa.Integer(), nullable=True))
    with op.batch_alter_table("notify_deliveries") as batch:
        batch.add_column(sa.Column("route_id", sa.Integer(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("notify_deliveries") as batch:
        batch.drop_column("route_id")
    with op.batch_alter_table("notify_routes") as batch:
        batch.drop_column("max_per_hour")
