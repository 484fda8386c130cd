"""One small demo, built once for the adoption package's service, API and CLI tests: the
demo's assist deployment with its people-side truth (a pilot of volunteers, the Porto decay
and its cause, retypers, champions, a training), ledger seeded as `daytwo demo` seeds it."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

import pytest

from daytwo.demo.generator import DemoConfig
from daytwo.demo.load import build_demo
from daytwo.settings import Settings
from daytwo.store.events import EventStore, open_event_store
from daytwo.store.ledger import Ledger

CONFIG = DemoConfig(seed=11, days=70, interactions_per_day=1200, end=date(2026, 10, 31))
ASSIST = "care-assist"


@dataclass
class Demo:
    settings: Settings
    manifest: dict[str, Any]
    ledger: Ledger
    events: EventStore

    def problem(self, kind: str) -> dict[str, Any]:
        return next(p for p in self.manifest["problems"] if p["kind"] == kind)


@pytest.fixture(scope="package")
def demo_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    data = tmp_path_factory.mktemp("adoption") / "data"
    build_demo(Settings(data_dir=data), CONFIG, force=True)
    return data


@pytest.fixture
def demo(demo_dir: Path) -> Iterator[Demo]:
    settings = Settings(data_dir=demo_dir)
    ledger = Ledger(settings.resolved_ledger_url)
    manifest = json.loads((demo_dir / "demo-manifest.json").read_text())
    with open_event_store(settings.resolved_events_url) as events:
        yield Demo(settings, manifest, ledger, events)
    ledger.dispose()
