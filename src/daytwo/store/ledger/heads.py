"""The head of the shipped migrations, read without Alembic or SQLAlchemy (commands that find
their ledger already at the head never load either)."""

from __future__ import annotations

import re
from functools import cache
from pathlib import Path

MIGRATIONS = Path(__file__).resolve().parent.parent / "migrations"
_REVISION = re.compile(r"^(revision|down_revision)\b[^=]*=\s*(?:\"([^\"]*)\"|None)", re.M)


@cache
def head_revisions() -> frozenset[str]:
    """The heads of the shipped migrations, read from the scripts' ``revision`` and
    ``down_revision`` lines without loading Alembic (a test checks it agrees with Alembic)."""
    revisions: set[str] = set()
    parents: set[str] = set()
    for script in (MIGRATIONS / "versions").glob("*.py"):
        found = {m.group(1): m.group(2) for m in _REVISION.finditer(script.read_text())}
        if found.get("revision"):
            revisions.add(found["revision"])
            if found.get("down_revision"):
                parents.add(found["down_revision"])
    return frozenset(revisions - parents)
