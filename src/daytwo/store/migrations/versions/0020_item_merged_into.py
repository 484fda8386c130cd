"""item merged into and lead: an item closed because its findings joined another item's
problem, and the finding an item was opened from

Revision ID: 0020_item_merged_into
Revises: 0019_route_limits
Create Date: 2026-12-06
"""

import re
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0020_item_merged_into"
down_revision: str | None = "0019_route_limits"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# The reason the backlog wrote when it merged an item (see ``backlog.intake._merge``).
MERGED = re.compile(r"^merged into item (\d+):")


def upgrade() -> None:
    with op.batch_alter_table("items") as batch:
        batch.add_column(sa.Column("merged_into", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("lead", sa.String(length=200), nullable=True))
    # Items merged before the column existed: their closing reason names the item.
    bind = op.get_bind()
    rows = bind.execute(
        sa.text(
            "SELECT id, resolution FROM items WHERE status = 'wont_fix' "
            "AND resolution LIKE 'merged into item %'"
        )
    ).all()
    for item_id, resolution in rows:
        found = MERGED.match(resolution or "")
        if found:
            bind.execute(
                sa.text("UPDATE items SET merged_into = :into WHERE id = :id"),
                {"into": int(found.group(1)), "id": item_id},
            )


def downgrade() -> None:
    with op.batch_alter_table("items") as batch:
        batch.drop_column("lead")
        batch.drop_column("merged_into")
