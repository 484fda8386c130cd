"""The ledger: small, transactional state (deployments, findings, items, users...).

Names load on first use, so that :mod:`daytwo.store.ledger.kinds` costs no database driver.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__all__ = ["Base", "Deployment", "DeploymentKind", "Ledger", "migration_config", "upgrade"]

if TYPE_CHECKING:
    from daytwo.store.ledger.db import Ledger, migration_config, upgrade
    from daytwo.store.ledger.kinds import DeploymentKind
    from daytwo.store.ledger.models import Base, Deployment


def __getattr__(name: str) -> Any:
    if name in ("Ledger", "migration_config", "upgrade"):
        from daytwo.store.ledger import db

        return getattr(db, name)
    if name == "DeploymentKind":
        from daytwo.store.ledger.kinds import DeploymentKind

        return DeploymentKind
    if name in ("Base", "Deployment"):
        from daytwo.store.ledger import models

        return getattr(models, name)
    raise AttributeError(f"module 'daytwo.store.ledger' has no attribute {name!r}")
