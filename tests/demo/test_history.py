"""The demo built day by day (`daytwo demo --history`): what the analysis and the demo's people
record carries the day it happened on, not the build minute."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from daytwo.backlog.service import get_item, list_items
from daytwo.demo.generator import DemoConfig
from daytwo.demo.load import FIRST_ANALYSIS_DAY, build_demo, replay_history
from daytwo.demo.team import BEHIND, TRIAGE_DAYS, TRIAGED
from daytwo.detect import registry
from daytwo.detect.models import AnalysisRun
from daytwo.pipeline import analyze
from daytwo.pipeline.run import NOTHING_NEW
from daytwo.settings import Settings
from daytwo.store.events import open_event_store
from daytwo.store.ledger import Ledger

# A short history: a few looks after the first day an analysis can run.
CONFIG = DemoConfig(seed=3, days=FIRST_ANALYSIS_DAY + 3, interactions_per_day=400,
                    end=date(2026, 11, 20))  # fmt: skip


def test_a_history_replayed_day_by_day_carries_its_true_dates(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Dates, not gaps, are tested: the knowledge-gap detector (embedding every unhandled
    # message, most of a small replay's time) is left out of the registry here.
    registry.load_detectors()
    monkeypatch.delitem(registry._REGISTRY, "knowledge_gap")
    settings = Settings(data_dir=tmp_path / "demo")
    summary = build_demo(settings, CONFIG, history=True)
    manifest = json.loads(Path(summary.manifest_path).read_text())
    ledger = Ledger(settings.resolved_ledger_url)
    with open_event_store(settings.resolved_events_url) as events:
        replay_history(settings, ledger, events, manifest)
    ledger.dispose()
    start = datetime.combine(date.fromisoformat(manifest["start"]), datetime.min.time(), UTC)
    first_look = start + timedelta(days=FIRST_ANALYSIS_DAY)
    through = datetime.fromisoformat(manifest["through"].replace("Z", "+00:00"))
    ledger = Ledger(settings.resolved_ledger_url)
    try:
        with ledger.session() as session:
            runs = [
                (r.deployment, r.started_at.replace(tzinfo=UTC))
                for r in session.scalars(select(AnalysisRun).order_by(AnalysisRun.id))
            ]
        # Each look ran on its own day on the clock: one look a day, no build minute; then
        # one look a deployment on the real clock, after its events were delivered.
        marked = [(name, at) for name, at in runs if at > through]
        assert marked, "the last look on the real clock"
        assert runs[-len(marked) :] == marked
        assert len({name for name, _ in marked}) == len(marked)
        started = [at for _, at in runs[: -len(marked)]]
        assert len({s.date() for s in started}) >= 3
        assert all(first_look <= s <= through for s in started)
        # So a server's first scheduled run finds nothing new: before that last look, every day
        # of the history counted as a backfill and the whole history was replayed again.
        with open_event_store(settings.resolved_events_url) as events:
            outcomes = analyze(settings, ledger, events, trigger="schedule")
        skipped = {o.deployment: o.skipped for o in outcomes}
        assert {name: skipped[name] for name, _ in marked} == dict.fromkeys(
            (name for name, _ in marked), NOTHING_NEW
        )
        items = list_items(ledger)
        assert items
        created = {i.created_at for i in items if i.created_by == "system"}
        assert created
        assert all(first_look <= c <= through for c in created)
        for item in items:
            detail = get_item(ledger, item.id)
            assert all(e.at <= through for e in detail.history)
            triaged = [e for e in detail.history if e.after == "triaged" and e.note == TRIAGED]
            if item.owner == BEHIND:
                assert not triaged, "the owner who is behind triages nothing"
            for e in triaged:
                # The owner triaged on the morning of their day after the item was created.
                days = TRIAGE_DAYS[e.actor]
                day = item.created_at.replace(hour=0, minute=0, second=0, microsecond=0)
                assert e.at == min(day + timedelta(days=days, hours=9), through)
        assert any(e.after == "triaged" for i in items for e in get_item(ledger, i.id).history), (
            "the team triages within days"
        )
    finally:
        ledger.dispose()
