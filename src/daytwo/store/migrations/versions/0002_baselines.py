"""deployment baselines

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-24
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("deployments") as batch:
        batch.add_column(sa.Column("baseline_start", sa.Date(), nullable=True))
        batch.add_column(sa.Column("baseline_end", sa.Date(), nullable=True))
        batch.add_column(
            sa.Column("baseline_values", sa.JSON(), nullable=False, server_default="{}")
        )


def downgrade() -> None:
    with op.batch_alter_table("deployments") as batch:
        batch.drop_column("baseline_values")
        batch.drop_column("baseline_end")
        batch.drop_column("baseline_start")
