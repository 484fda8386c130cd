"""users, grants, API keys, audit log, redaction and retention policy

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-30
"""

from collections.abc import Sequence

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Reserved in the revision chain; the tables land with their domain."""


def downgrade() -> None:
    """Nothing to undo while the revision is reserved."""
