"""A demo at a low volume builds: a champion the data never names is not marked."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

from daytwo.adoption.champions import list_champions
from daytwo.adoption.cohorts import agents_of
from daytwo.demo.generator import DemoConfig
from daytwo.demo.load import build_demo
from daytwo.demo.manifest import ASSIST
from daytwo.settings import Settings
from daytwo.store.events import open_event_store
from daytwo.store.ledger import Ledger


def test_a_champion_without_conversations_is_left_unmarked(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path)
    # Ten conversations a day leave one of seed 3's champions without a conversation.
    build_demo(
        settings, DemoConfig(seed=3, days=20, interactions_per_day=10, end=date(2026, 9, 30))
    )
    manifest = json.loads((tmp_path / "demo-manifest.json").read_text())
    planned = {c["agent"] for c in manifest["adoption"]["champions"]}
    with open_event_store(settings.resolved_events_url, read_only=True) as events:
        named = agents_of(events, ASSIST)
    ledger = Ledger(settings.resolved_ledger_url)
    try:
        marked = {c.agent_ref for c in list_champions(ledger, ASSIST)}
    finally:
        ledger.dispose()
    assert planned - named, "the volume no longer leaves a champion without conversations"
    assert marked == planned & named
