"""Registering deployments and listing them with their volumes."""

from __future__ import annotations

from sqlalchemy import select

from daytwo.deployments.schemas import DeploymentCreate, DeploymentOverview, DeploymentPublic
from daytwo.errors import ConflictError, InputError, NotFoundError
from daytwo.metrics import rollup
from daytwo.metrics.catalog import REGISTRY
from daytwo.store.events import EventStore
from daytwo.store.ledger import Deployment, Ledger


def create_deployment(
    ledger: Ledger, spec: DeploymentCreate, *, replace: bool = False
) -> DeploymentPublic:
    """Register a deployment; with ``replace`` an existing one of that name is updated.

    Every target must be on a metric a target can be set on (the SLO detector checks each).
    """
    check_targets(spec.targets)
    with ledger.session() as session:
        existing = session.scalar(select(Deployment).where(Deployment.name == spec.name))
        if existing is not None and not replace:
            raise ConflictError(f"A deployment named {spec.name!r} already exists.")
        row = existing or Deployment(name=spec.name)
        for key, value in spec.model_dump().items():
            setattr(row, key, value)
        session.add(row)
        session.flush()
        return DeploymentPublic.model_validate(row)


def check_targets(targets: dict[str, float]) -> None:
    """Refuse a target that nothing would check: on an unknown metric, or on a total or count
    (volumes, costs, distinct agents) rather than a rate, mean, score or quantile."""
    for metric_id in targets:
        metric = REGISTRY.get(metric_id)
        if metric is not None and metric.targetable:
            continue
        allowed = ", ".join(m for m, d in REGISTRY.items() if d.targetable)
        why = "is not a metric" if metric is None else f"is a {metric.kind}, which has no target"
        raise InputError(
            f"targets.{metric_id}: {metric_id!r} {why}; a target can be set on {allowed}."
        )


def list_deployments(ledger: Ledger) -> list[DeploymentPublic]:
    with ledger.session() as session:
        rows = session.scalars(select(Deployment).order_by(Deployment.name)).all()
        return [DeploymentPublic.model_validate(r) for r in rows]


def get_deployment(ledger: Ledger, name: str) -> DeploymentPublic:
    with ledger.session() as session:
        row = session.scalar(select(Deployment).where(Deployment.name == name))
        if row is None:
            raise NotFoundError(f"No deployment named {name!r}.")
        return DeploymentPublic.model_validate(row)


def overview(ledger: Ledger, events: EventStore) -> list[DeploymentOverview]:
    """Every deployment known to the ledger or seen in the events, with its volume."""
    registered = {d.name: d for d in list_deployments(ledger)}
    known = rollup.volumes(events)
    volumes = {v.deployment: v for v in (events.volumes() if known is None else known)}
    out: list[DeploymentOverview] = []
    for name in sorted(registered.keys() | volumes.keys()):
        dep = registered.get(name)
        vol = volumes.get(name)
        out.append(
            DeploymentOverview(
                name=name,
                kind=dep.kind.value if dep else None,
                registered=dep is not None,
                go_live=dep.go_live if dep else None,
                interactions=vol.interactions if vol else 0,
                turns=vol.turns if vol else 0,
                first_started_at=vol.first_started_at if vol else None,
                last_started_at=vol.last_started_at if vol else None,
            )
        )
    return out


def currency_of(ledger: Ledger, name: str) -> str | None:
    """The ISO 4217 currency of a registered deployment's money; None when unregistered."""
    with ledger.session() as session:
        found: str | None = session.scalar(
            select(Deployment.currency).where(Deployment.name == name)
        )
        return found
