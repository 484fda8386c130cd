"""Each deployment's data policy: how its PII is redacted, and how long raw data is kept.

Retention removes raw data only: turn text (and the free-text attributes with it) after
``text_retention_days``, whole interactions with their turns and assist events after
``interaction_retention_days``. The ledger (findings, items, changes, feedback, audit log) is
never touched, so the history of what was found and done survives the raw conversations.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from daytwo.errors import ConfigError, InputError
from daytwo.governance import audit
from daytwo.governance.models import DataPolicy
from daytwo.governance.plan import RedactionPlan
from daytwo.governance.redact import RedactionPolicy, Redactor
from daytwo.store.events import EventStore
from daytwo.store.ledger import Ledger


@dataclass(frozen=True, slots=True)
class PolicyPublic:
    deployment: str
    redaction: RedactionPolicy
    text_retention_days: int | None
    interaction_retention_days: int | None


def _public(row: DataPolicy) -> PolicyPublic:
    return PolicyPublic(
        row.deployment,
        RedactionPolicy.model_validate(row.redaction or {}),
        row.text_retention_days,
        row.interaction_retention_days,
    )


def list_policies(ledger: Ledger) -> list[PolicyPublic]:
    with ledger.session() as session:
        rows = session.scalars(select(DataPolicy).order_by(DataPolicy.deployment))
        return [_public(r) for r in rows]


@lru_cache(maxsize=64)
def _redactor(policy_json: str) -> Redactor:
    return Redactor(RedactionPolicy.model_validate_json(policy_json))


def redact_text(session: Session, deployment: str | None, text: str) -> str:
    """``text`` as it may be stored: PII replaced under ``deployment``'s redaction policy
    (the default policy where it has none, or where no deployment is known).

    Every door that takes free text from a person into the ledger calls this before
    storing (feedback, friction reports, comments, reasons and notes, change titles and
    rationales...), so the ledger holds no more PII than the events store does.
    """
    if not text:
        return text
    row = (
        session.scalar(select(DataPolicy).where(DataPolicy.deployment == deployment))
        if deployment
        else None
    )
    policy = RedactionPolicy.model_validate(row.redaction or {}) if row else RedactionPolicy()
    return _redactor(policy.model_dump_json()).redact(text).text


def redaction_plan(ledger: Ledger, pseudonym_key: bytes | None = None) -> RedactionPlan:
    """The redaction of every deployment with a policy; the default for the others.

    ``pseudonym_key`` (``Settings.pseudonym_key()``) hashes the customer references of the
    deployments whose policy asks for it; without it such a policy is a configuration error.
    """
    policies = {p.deployment: p.redaction for p in list_policies(ledger)}
    if pseudonym_key is None and any(p.pseudonymize_customers for p in policies.values()):
        raise ConfigError("A deployment pseudonymises customers, but no pseudonym key is set.")
    return RedactionPlan.from_policies(policies, pseudonym_key=pseudonym_key)


_FINGERPRINT = select(func.count(), func.max(DataPolicy.updated_at), func.sum(DataPolicy.id))


class RedactionPlans:
    """The current :func:`redaction_plan` of a ledger, built again only when a policy changed.

    A door that takes many small requests (the trace door: several a second per exporter)
    would otherwise read and compile every policy for each. Each :meth:`current` asks the
    ledger one aggregate question instead (how many policies, their last update, their ids),
    so a change made by any process sharing the ledger applies from the next request on.
    """

    def __init__(self, ledger: Ledger, pseudonym_key: bytes | None = None) -> None:
        self.ledger = ledger
        self.pseudonym_key = pseudonym_key
        self._lock = threading.Lock()
        self._cached: tuple[tuple[Any, ...], RedactionPlan] | None = None
        self.builds = 0  # how many times a plan was built (for tests)

    def _fingerprint(self) -> tuple[Any, ...]:
        # On a plain connection, not an ORM session: asked once per request, and a session's
        # setup costs several times the query.
        with self.ledger.engine.connect() as connection:
            return tuple(connection.execute(_FINGERPRINT).one())

    def current(self) -> RedactionPlan:
        fingerprint = self._fingerprint()
        cached = self._cached
        if cached is not None and cached[0] == fingerprint:
            return cached[1]
        with self._lock:
            plan = redaction_plan(self.ledger, self.pseudonym_key)
            self.builds += 1
            # The fingerprint was read before the plan: a change landing between the two
            # makes the next request build again; an older plan is never kept.
            self._cached = (fingerprint, plan)
        return plan


def retention_by_deployment(ledger: Ledger) -> dict[str, int]:
    """Days each deployment keeps its conversations (those with an interaction retention)."""
    return {
        p.deployment: p.interaction_retention_days
        for p in list_policies(ledger)
        if p.interaction_retention_days
    }


_UNSET: Any = object()


def set_policy(
    ledger: Ledger,
    deployment: str,
    *,
    redaction: RedactionPolicy | None = None,
    text_retention_days: int | None = _UNSET,
    interaction_retention_days: int | None = _UNSET,
    actor: str = "cli",
    ip: str | None = None,
) -> PolicyPublic:
    for days in (text_retention_days, interaction_retention_days):
        if days is not _UNSET and days is not None and days < 1:
            raise InputError("A retention period is at least one day (or none: keep forever).")
    with ledger.session() as session:
        row = session.scalar(select(DataPolicy).where(DataPolicy.deployment == deployment))
        if row is None:
            row = DataPolicy(deployment=deployment, redaction={})
            session.add(row)
            before = None
        else:
            before = _as_dict(_public(row))
        if redaction is not None:
            row.redaction = redaction.model_dump(mode="json")
        if text_retention_days is not _UNSET:
            row.text_retention_days = text_retention_days
        if interaction_retention_days is not _UNSET:
            row.interaction_retention_days = interaction_retention_days
        session.flush()
        public = _public(row)
        audit.record(
            session,
            actor=actor,
            action="policy.update",
            target=deployment,
            deployment=deployment,
            ip=ip,
            before=before,
            after=_as_dict(public),
        )
        return public


def _as_dict(p: PolicyPublic) -> dict[str, Any]:
    return {
        "redaction": p.redaction.model_dump(mode="json"),
        "text_retention_days": p.text_retention_days,
        "interaction_retention_days": p.interaction_retention_days,
    }


@dataclass(frozen=True, slots=True)
class RetentionResult:
    deployment: str
    texts_cleared: int
    interactions_deleted: int


def apply_retention(
    ledger: Ledger, store: EventStore, *, now: datetime | None = None, actor: str = "retention"
) -> list[RetentionResult]:
    """Apply every deployment's retention now, by conversation start; each deployment that
    lost data is audited. The store keeps its rollups of the retired days and recomputes the
    derived tables that copy text, so no copy of the text outlives it."""
    now = now or datetime.now(UTC)
    results = []
    for policy in list_policies(ledger):
        texts = interactions = 0
        dep = policy.deployment
        if policy.text_retention_days is not None:
            cutoff = now - timedelta(days=policy.text_retention_days)
            texts = store.retire(dep, cutoff, text_only=True)
        if policy.interaction_retention_days is not None:
            cutoff = now - timedelta(days=policy.interaction_retention_days)
            interactions = store.retire(dep, cutoff, text_only=False)
        if texts or interactions:
            with ledger.session() as session:
                audit.record(
                    session,
                    actor=actor,
                    action="retention.apply",
                    target=dep,
                    deployment=dep,
                    after={"texts_cleared": texts, "interactions_deleted": interactions},
                )
        results.append(RetentionResult(dep, texts, interactions))
    return results


class KeptPlans:
    """The kept redaction plans of one app, shared by every door that stores text (the JSON
    ingest, the imports the server runs, the trace door): one :class:`RedactionPlans` for the
    app's ledger and pseudonym key, made again if either changes."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._plans: RedactionPlans | None = None
        self._earlier_builds = 0

    def current(self, ledger: Ledger, pseudonym_key: bytes | None) -> RedactionPlan:
        """``ledger``'s redaction plan, kept between requests until a policy changes."""
        with self._lock:
            plans = self._plans
            if plans is None or plans.ledger is not ledger or plans.pseudonym_key != pseudonym_key:
                self._earlier_builds += plans.builds if plans is not None else 0
                plans = self._plans = RedactionPlans(ledger, pseudonym_key)
        return plans.current()

    @property
    def builds(self) -> int:
        """How many plans were built so far (for tests)."""
        plans = self._plans
        return self._earlier_builds + (plans.builds if plans is not None else 0)
