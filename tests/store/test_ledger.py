"""The ledger on SQLite and PostgreSQL: migrations and deployments."""

from __future__ import annotations

from datetime import date

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect

from daytwo.deployments.schemas import DeploymentCreate
from daytwo.deployments.service import create_deployment, get_deployment, list_deployments
from daytwo.errors import ConflictError, NotFoundError
from daytwo.store.ledger import DeploymentKind, Ledger, upgrade
from daytwo.store.ledger.db import at_head, downgrade, head_revisions, migration_config
from daytwo.store.ledger.tables import all_metadata


def test_migrations_build_an_empty_database_that_matches_the_models(empty_ledger_url: str) -> None:
    upgrade(empty_ledger_url)
    ledger = Ledger(empty_ledger_url)
    with ledger.engine.connect() as con:
        assert compare_metadata(MigrationContext.configure(con), all_metadata()) == []
        assert "deployments" in inspect(con).get_table_names()
    ledger.dispose()


def test_migrations_round_trip(empty_ledger_url: str) -> None:
    upgrade(empty_ledger_url)
    downgrade(empty_ledger_url, "base")
    ledger = Ledger(empty_ledger_url)
    with ledger.engine.connect() as con:
        assert "deployments" not in inspect(con).get_table_names()
    ledger.dispose()
    upgrade(empty_ledger_url)
    upgrade(empty_ledger_url)  # idempotent
    ledger = Ledger(empty_ledger_url)
    with ledger.engine.connect() as con:
        assert "deployments" in inspect(con).get_table_names()
    ledger.dispose()


def test_the_quick_head_check_agrees_with_alembic(empty_ledger_url: str) -> None:
    from alembic.script import ScriptDirectory

    heads = ScriptDirectory.from_config(migration_config(empty_ledger_url)).get_heads()
    assert head_revisions() == frozenset(heads)
    assert not at_head(empty_ledger_url)
    upgrade(empty_ledger_url)
    assert at_head(empty_ledger_url)
    downgrade(empty_ledger_url, "-1")
    assert not at_head(empty_ledger_url)
    upgrade(empty_ledger_url)  # the quick check does not stop a real upgrade
    assert at_head(empty_ledger_url)


def test_deployments_are_created_listed_and_replaced(ledger_url: str) -> None:
    upgrade(ledger_url)
    ledger = Ledger(ledger_url)
    spec = DeploymentCreate(
        name="care-bot",
        kind=DeploymentKind.virtual_agent,
        go_live=date(2026, 3, 1),
        journeys=["billing", "card_lost"],
        targets={"containment_rate": 0.6},
        cost_model={"escalation": 6.5},
    )
    created = create_deployment(ledger, spec)
    assert created.name == "care-bot"
    assert created.targets == {"containment_rate": 0.6}
    with pytest.raises(ConflictError):
        create_deployment(ledger, spec)
    changed = create_deployment(
        ledger, spec.model_copy(update={"journeys": ["billing"]}), replace=True
    )
    assert changed.journeys == ["billing"]
    assert [d.name for d in list_deployments(ledger)] == ["care-bot"]
    assert get_deployment(ledger, "care-bot").go_live == date(2026, 3, 1)
    with pytest.raises(NotFoundError):
        get_deployment(ledger, "nope")
    ledger.dispose()
