"""Every ledger table in one metadata, for Alembic and the schema test.

Each domain keeps its tables in its own ``models.py`` (built on :class:`Base`) and lists that
module in :data:`DOMAIN_MODELS`; importing them here rather than from the ledger package keeps
the domains free to import the ledger without a cycle.
"""

from __future__ import annotations

import importlib

from sqlalchemy import MetaData

from daytwo.store.ledger.models import Base

DOMAIN_MODELS: tuple[str, ...] = (
    "daytwo.store.ledger.leases",
    "daytwo.detect.models",
    "daytwo.detect.gaps.models",
    "daytwo.backlog.models",
    "daytwo.governance.models",
    "daytwo.adoption.models",
    "daytwo.notify.models",
    "daytwo.report.models",
    "daytwo.plan.models",
)


def all_metadata() -> MetaData:
    """The metadata of every ledger table, each domain's models imported first."""
    for module in DOMAIN_MODELS:
        importlib.import_module(module)
    return Base.metadata
