"""Plan fixtures: a migrated ledger with a registered deployment, and events with known rates.

``care-bot`` goes live on 2026-03-01 with three journeys and 40 days of data. Every
conversation has one question and one answer. Errors: 0.4% of answers, but 6% from day 10 to
day 15 (an incident). Containment: billing 0.70, card_lost 0.50 (0.62 from day 20: a fix),
payments 0.60. Sites: leeds, cork, porto in turn.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from daytwo.deployments.schemas import DeploymentCreate
from daytwo.deployments.service import create_deployment
from daytwo.store.events import EventStore
from daytwo.store.ledger import DeploymentKind, Ledger, upgrade
from tests.backlog.conftest import store_of

DEPLOYMENT = "care-bot"
JOURNEYS = ["billing", "card_lost", "payments"]
GO_LIVE = date(2026, 3, 1)
START = datetime(2026, 3, 1, tzinfo=UTC)
DAYS = 40
PER_DAY = 80  # per journey
CONTAINMENT = {"billing": 0.70, "card_lost": 0.50, "payments": 0.60}
FIX_DAY, FIX_EFFECT = 20, 0.12
INCIDENT = range(10, 16)
ERROR_RATE, INCIDENT_ERROR_RATE = 0.004, 0.06
SITES = ("leeds", "cork", "porto")


def day_of(n: int) -> date:
    return GO_LIVE + timedelta(days=n)


def synthetic_records(seed: int = 11) -> list[dict[str, Any]]:
    rng = np.random.default_rng(seed)
    out: list[dict[str, Any]] = []
    n = 0
    for day in range(DAYS):
        errors = INCIDENT_ERROR_RATE if day in INCIDENT else ERROR_RATE
        for journey in JOURNEYS:
            p = CONTAINMENT[journey] + (
                FIX_EFFECT if journey == "card_lost" and day >= FIX_DAY else 0
            )
            for k in range(PER_DAY):
                at = START + timedelta(days=day, minutes=15 * k + 1)
                error = rng.random() < errors
                out.append(
                    {
                        "id": f"p-{n:06d}",
                        "deployment": DEPLOYMENT,
                        "started_at": at.isoformat().replace("+00:00", "Z"),
                        "channel": "chat",
                        "journey": journey,
                        "customer_ref": f"u-{n % 700}",
                        "segments": {"site": SITES[n % 3]},
                        "outcome": "contained" if rng.random() < p else "escalated",
                        "csat": int(rng.integers(3, 6)),
                        "turns": [
                            {"seq": 0, "role": "user", "text": "help me please"},
                            {
                                "seq": 1,
                                "role": "assistant",
                                "text": "Sure.",
                                "latency_ms": int(rng.integers(400, 900)),
                                "fallback": bool(rng.random() < 0.1),
                                **({"error": "timeout"} if error else {}),
                            },
                        ],
                    }
                )
                n += 1
    return out


@pytest.fixture(scope="session")
def records() -> list[dict[str, Any]]:
    return synthetic_records()


@pytest.fixture(scope="module")
def events(records: list[dict[str, Any]]) -> Iterator[EventStore]:
    """Read-only in the tests that use it: one store per module."""
    store = store_of(records)
    yield store
    store.close()


def register(led: Ledger, **extra: Any) -> None:
    create_deployment(
        led,
        DeploymentCreate(
            name=DEPLOYMENT,
            kind=DeploymentKind.virtual_agent,
            go_live=GO_LIVE,
            journeys=JOURNEYS,
            targets={"error_rate": 0.01, "containment_rate": 0.55},
            cost_model={"escalation": 6.5, "agent_minute": 0.9, "ai_per_interaction": 0.04},
            **extra,
        ),
        replace=True,
    )


@pytest.fixture
def ledger(ledger_url: str) -> Iterator[Ledger]:
    upgrade(ledger_url)
    led = Ledger(ledger_url)
    register(led)
    yield led
    led.dispose()


@pytest.fixture(scope="session")
def migrated_sqlite(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An empty ledger migrated once; each test gets a copy (migrating takes seconds)."""
    path = tmp_path_factory.mktemp("plan-ledger") / "ledger.sqlite"
    upgrade(f"sqlite:///{path}")
    return path


@pytest.fixture
def sqlite_ledger(tmp_path: Path, migrated_sqlite: Path) -> Iterator[Ledger]:
    """The ledger on SQLite only, for the tests whose point is not the dialect."""
    shutil.copy(migrated_sqlite, tmp_path / "ledger.sqlite")
    led = Ledger(f"sqlite:///{tmp_path / 'ledger.sqlite'}")
    register(led)
    yield led
    led.dispose()
