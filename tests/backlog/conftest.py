"""Backlog fixtures: a migrated ledger with a registered deployment, owners, and events with
a known effect in one journey."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from typing import Any

import numpy as np
import orjson
import pytest

from daytwo.backlog.policy import BacklogPolicy
from daytwo.deployments.schemas import DeploymentCreate
from daytwo.deployments.service import create_deployment
from daytwo.ingest.decode import decode_json
from daytwo.store.events import EventStore, open_event_store
from daytwo.store.ledger import DeploymentKind, Ledger, upgrade

DEPLOYMENT = "care-bot"
JOURNEYS = ["billing", "card_lost", "address_change", "payments"]
START = datetime(2026, 3, 1, tzinfo=UTC)
SHIP_DAY = 20
DAYS = 40
PER_DAY = 60
# card_lost contains 0.50 before the change and 0.62 after; the others stay put.
BASE = {"billing": 0.6, "card_lost": 0.5, "address_change": 0.7, "payments": 0.55}
EFFECT = 0.12


def registered_ledger(url: str) -> Ledger:
    """A migrated ledger at ``url`` with the test deployment registered."""
    upgrade(url)
    led = Ledger(url)
    create_deployment(
        led,
        DeploymentCreate(
            name=DEPLOYMENT,
            kind=DeploymentKind.virtual_agent,
            go_live=date(2026, 3, 1),
            journeys=JOURNEYS,
            cost_model={"escalation": 6.5, "agent_minute": 0.9},
        ),
    )
    return led


@pytest.fixture
def ledger(ledger_url: str) -> Iterator[Ledger]:
    led = registered_ledger(ledger_url)
    yield led
    led.dispose()


@pytest.fixture
def policy() -> BacklogPolicy:
    return BacklogPolicy()


def synthetic_records(
    *, effect: float = EFFECT, seed: int = 3, feedback_every: int = 0
) -> list[dict[str, Any]]:
    """Interactions per day and journey with binomial containment and a shared daily shock."""
    rng = np.random.default_rng(seed)
    out: list[dict[str, Any]] = []
    n = 0
    for day in range(DAYS):
        shock = rng.normal(0, 0.03)
        for journey in JOURNEYS:
            p = (
                BASE[journey]
                + shock
                + (effect if journey == "card_lost" and day >= SHIP_DAY else 0)
            )
            for k in range(PER_DAY):
                at = START + timedelta(days=day, minutes=10 * k + 1)
                rec: dict[str, Any] = {
                    "id": f"i-{n:06d}",
                    "deployment": DEPLOYMENT,
                    "started_at": at.isoformat().replace("+00:00", "Z"),
                    "journey": journey,
                    "customer_ref": f"u-{n % 500}",
                    "outcome": "contained" if rng.random() < p else "escalated",
                }
                if feedback_every and n % feedback_every == 0:
                    rec["feedback"] = {"thumbs": "down", "comment": "it was too slow to answer"}
                out.append(rec)
                n += 1
    return out


def store_of(records: list[dict[str, Any]]) -> EventStore:
    store = open_event_store("duckdb:///:memory:")
    decoded = decode_json(orjson.dumps(records))
    assert decoded.errors == []
    store.write(decoded.batch, source="t", batch_id="1")
    return store


@pytest.fixture(scope="module")
def effect_records() -> list[dict[str, Any]]:
    return synthetic_records(feedback_every=97)


@pytest.fixture
def events(effect_records: list[dict[str, Any]]) -> Iterator[EventStore]:
    store = store_of(effect_records)
    yield store
    store.close()
