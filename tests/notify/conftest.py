"""Notification fixtures: a ledger with a deployment and owners, and the real receivers."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import update

from daytwo.backlog.models import Item
from daytwo.backlog.owners import create_owner
from daytwo.backlog.policy import BacklogPolicy
from daytwo.backlog.schemas import ItemCreate, OwnerCreate, SignalIn
from daytwo.backlog.service import create_item
from daytwo.notify import service
from daytwo.notify.schemas import ChannelCreate
from daytwo.settings import Settings
from daytwo.store.ledger import Ledger
from tests.backlog.conftest import DEPLOYMENT, registered_ledger
from tests.notify.receivers import SmtpServer, WebhookReceiver

SECRET = "s3cret-signing-key-of-32-characters!"


def seeded(url: str) -> Ledger:
    led = registered_ledger(url)
    create_owner(led, OwnerCreate(handle="ana", name="Ana", contact="ana@bank.example"), actor="t")
    create_owner(led, OwnerCreate(handle="cards-team", name="Cards", kind="team"), actor="t")
    return led


@pytest.fixture
def ledger(ledger_url: str) -> Iterator[Ledger]:
    """The seeded ledger on SQLite and PostgreSQL."""
    led = seeded(ledger_url)
    yield led
    led.dispose()


@pytest.fixture
def lite(tmp_path: Path) -> Iterator[Ledger]:
    """The seeded ledger on SQLite only (for what the dialect cannot change)."""
    led = seeded(f"sqlite:///{tmp_path / 'ledger.sqlite'}")
    yield led
    led.dispose()


@pytest.fixture
def receiver() -> Iterator[WebhookReceiver]:
    server = WebhookReceiver(secret=SECRET).start()
    yield server
    server.stop()


@pytest.fixture
def smtp() -> Iterator[SmtpServer]:
    server = SmtpServer(username="daytwo", password="mail-pass").start()
    yield server
    server.stop()


@pytest.fixture
def quick_settings(settings: Settings) -> Settings:
    return settings.model_copy(update={"notify_max_attempts": 3})


def webhooks(ledger: Ledger, settings: Settings, receiver: WebhookReceiver, *names: str) -> None:
    """Signed webhook channels ``names``, each posting to ``receiver`` under its own path."""
    for name in names:
        service.create_channel(
            ledger,
            ChannelCreate(name=name, kind="webhook", url=f"{receiver.url}/{name}", secret=SECRET),
            server_key=settings.session_key(), actor="t",
        )  # fmt: skip


def make_item(ledger: Ledger, title: str, *, priority: str, owner: str = "ana") -> int:
    """An open item of ``priority`` owned by ``owner`` (the priority set as an analysis
    would have set it)."""
    spec = ItemCreate(
        deployment=DEPLOYMENT, title=title, journey="card_lost", owner=owner,
        signal=SignalIn(volume_per_week=400, severity=3),
    )  # fmt: skip
    item = create_item(ledger, spec, BacklogPolicy(), actor="t")
    set_item(ledger, item.id, priority=priority)
    return item.id


def set_item(ledger: Ledger, item_id: int, **values: object) -> None:
    with ledger.session() as session:
        session.execute(update(Item).where(Item.id == item_id).values(**values))
