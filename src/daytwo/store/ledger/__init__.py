"""The ledger: small, transactional state (deployments, and later findings, items, users...)."""

from daytwo.store.ledger.db import Ledger, migration_config, upgrade
from daytwo.store.ledger.models import Base, Deployment, DeploymentKind

__all__ = ["Base", "Deployment", "DeploymentKind", "Ledger", "migration_config", "upgrade"]
