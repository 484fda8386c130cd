"""Runs end to end on a small demo: `daytwo analyze`, `daytwo findings`, the API, the ledger."""

from __future__ import annotations

import dataclasses
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
import pytest
from fastapi.testclient import TestClient

from daytwo.cli.main import run
from daytwo.demo.generator import DemoConfig
from daytwo.demo.load import build_demo
from daytwo.detect import Finding, FindingScope, Severity
from daytwo.detect.schemas import FindingFilter
from daytwo.detect.service import (
    findings_by_fingerprint,
    list_findings,
    record_findings,
    start_run,
)
from daytwo.settings import Settings
from daytwo.store.ledger import Ledger, upgrade

T0 = datetime(2026, 3, 2, tzinfo=UTC)


@pytest.fixture(scope="module")
def demo_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("demo")
    settings = Settings(data_dir=path)
    build_demo(
        settings, DemoConfig(seed=3, days=40, interactions_per_day=600, end=date(2026, 11, 20))
    )
    return path


@pytest.fixture
def data_dir(demo_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    # A fresh copy of the demo per test: each test analyses an untouched ledger.
    copy = tmp_path / "data"
    copy.mkdir()
    for f in demo_dir.iterdir():
        (copy / f.name).write_bytes(f.read_bytes())
    monkeypatch.setenv("DAYTWO_DATA_DIR", str(copy))
    monkeypatch.delenv("DAYTWO_EVENTS_URL", raising=False)
    monkeypatch.delenv("DAYTWO_LEDGER_URL", raising=False)
    return copy


def _json(capsys: pytest.CaptureFixture[str]) -> Any:
    return orjson.loads(capsys.readouterr().out)


def test_analyze_records_findings_and_is_incremental(
    data_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run(["analyze"]) == 0
    capsys.readouterr()
    assert run(["findings", "--json"]) == 0
    first = _json(capsys)
    assert first, "the demo's injected problems produce findings"
    kinds = {f["kind"] for f in first}
    # Days 13-16 of 40 carry duplicate deliveries; day 26 the model change on chat.
    assert "degradation" in kinds
    assert all(f["status"] == "open" for f in first)
    # Every finding names conversations, except those about the feed or the whole mix.
    no_rows = ("freshness_gap", "volume_anomaly", "input_length", "intent_mix", "language_mix")
    assert all(f["evidence"] for f in first if f["kind"] not in no_rows)
    # Nothing new arrived: the second run is skipped and changes nothing.
    assert run(["analyze"]) == 0
    assert "no new data" in capsys.readouterr().out
    assert run(["analyze", "--force"]) == 0
    capsys.readouterr()
    assert run(["findings", "--json"]) == 0
    again = _json(capsys)
    assert [f["fingerprint"] for f in again] == [f["fingerprint"] for f in first]
    assert all(f["times_seen"] == 2 for f in again)


def test_findings_filters_and_errors(data_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert run(["analyze", "--deployment", "care-bot"]) == 0
    capsys.readouterr()
    assert run(["findings", "--json", "--deployment", "care-assist"]) == 0
    assert _json(capsys) == []
    assert run(["findings", "--status", "closed"]) == 2
    assert "--status must be" in capsys.readouterr().err
    assert run(["analyze", "--deployment", "nope"]) != 0
    assert run(["analyze", "--since", "yesterday"]) != 0


@pytest.fixture
def settings(data_dir: Path) -> Settings:
    # The shared ``client`` fixture serves this settings' data dir: the analysed demo copy.
    return Settings(data_dir=data_dir)


def test_api_lists_and_filters(settings: Settings, client: TestClient) -> None:
    assert run(["analyze", "--deployment", "care-bot"]) == 0
    all_ = client.get("/api/v1/findings").json()
    assert all_
    one = client.get(f"/api/v1/findings/{all_[0]['id']}").json()
    assert one["fingerprint"] == all_[0]["fingerprint"]
    deg = client.get("/api/v1/findings", params={"kind": "degradation"}).json()
    assert deg
    assert {f["kind"] for f in deg} == {"degradation"}
    high = client.get("/api/v1/findings", params={"severity": "high"}).json()
    assert all(f["severity_level"] >= Severity.high for f in high)
    bad = client.get("/api/v1/findings", params={"severity": "urgent"})
    assert bad.status_code == 422  # the schema lists the severities
    assert client.get("/api/v1/findings/99999999999999999999").status_code == 422
    assert client.get("/api/v1/findings/999999").status_code == 404
    runs = client.get("/api/v1/findings/runs").json()
    assert runs[0]["status"] == "ok"
    ids = {d["id"] for d in client.get("/api/v1/detectors").json()}
    assert {"slo_breach", "degradation", "feed_quality"} <= ids


def _finding(key: str) -> Finding:
    return Finding(
        "degradation", "degradation", f"problem {key}", FindingScope("bot", journey="j"),
        Severity.medium, T0, T0 + timedelta(days=1), key=(key,), evidence=("c1",),
    )  # fmt: skip


def _record(ledger: Ledger, detector: str, *findings: Finding) -> tuple[int, int, int, int]:
    """One run of ``detector`` over deployment ``bot`` that saw ``findings``: new, updated,
    resolved and regressed."""
    run_id = start_run(ledger, "bot", [detector])
    r = record_findings(
        ledger, run_id, "bot", [detector], findings, since=None,
        data_through=T0, interactions=10,
    )  # fmt: skip
    return r.new, r.updated, r.resolved, r.regressed


def test_fingerprints_update_resolve_and_regress(ledger_url: str) -> None:
    upgrade(ledger_url)
    ledger = Ledger(ledger_url)

    def once(*findings: Finding) -> tuple[int, int, int, int]:
        return _record(ledger, "degradation", *findings)

    assert once(_finding("a"), _finding("b")) == (2, 0, 0, 0)
    assert once(_finding("a")) == (0, 1, 1, 0)  # b is gone: resolved
    assert once(_finding("a"), _finding("b")) == (0, 2, 0, 1)  # b is back: regressed
    rows = {f.key[0]: f for f in list_findings(ledger, FindingFilter())}
    assert rows["a"].status == "open"
    assert rows["a"].times_seen == 3
    assert rows["b"].status == "regressed"
    assert rows["b"].regressions == 1
    assert rows["b"].first_seen == T0
    ledger.dispose()


def test_analyze_through_the_api_then_the_page(settings: Settings, client: TestClient) -> None:
    ran = client.post("/api/v1/findings/analyze", params={"deployment": "care-bot"}).json()
    assert [r["deployment"] for r in ran] == ["care-bot"]
    assert ran[0]["findings"] > 0
    assert ran[0]["new"] == ran[0]["findings"] or ran[0]["new"] > 0
    again = client.post("/api/v1/findings/analyze", params={"deployment": "care-bot"}).json()
    assert again[0]["skipped"] == "no new data since the last run"
    page = client.get("/findings")
    assert page.status_code == 200
    assert 'data-testid="finding-count"' in page.text
    # One row per problem: the symptoms other listed findings explain are one click below.
    found = client.get("/api/v1/findings", params={"deployment": "care-bot"}).json()
    prints = {f["fingerprint"] for f in found}
    problems = [f for f in found if f["details"].get("root") not in prints]
    assert page.text.count("<tr data-finding=") == len(problems)
    every = client.get("/findings", params={"symptoms": "1"})
    assert every.text.count("<tr data-finding=") == ran[0]["findings"]
    assert "/conversations?deployment=care-bot" in page.text
    narrowed = client.get("/findings", params={"kind": "degradation", "severity": "high"})
    assert narrowed.status_code == 200
    assert 'data-kind="slo_breach"' not in narrowed.text
    assert client.get("/findings", params={"status": "closed"}).status_code == 400
    assert client.get("/findings", params={"deployment": "nope"}).status_code == 400


def test_findings_by_fingerprint_keep_the_list_order(ledger_url: str) -> None:
    """What one run changed, read by fingerprint, comes in the order of the whole list
    (severity, then last seen, then id), less the other deployments' and fingerprints'."""
    upgrade(ledger_url)
    ledger = Ledger(ledger_url)
    found = [
        dataclasses.replace(
            _finding(k), severity=sev, last_seen=T0 + timedelta(hours=h),
            scope=FindingScope("bot", journey=f"j{k}"),
        )
        for k, sev, h in (
            ("a", Severity.low, 5), ("b", Severity.high, 1), ("c", Severity.high, 3),
            ("d", Severity.medium, 2), ("e", Severity.high, 3), ("f", Severity.low, 5),
        )
    ]  # fmt: skip
    _record(ledger, "degradation", *found)
    other = start_run(ledger, "other", ["degradation"])
    elsewhere = dataclasses.replace(_finding("x"), scope=FindingScope("other", journey="j"))
    record_findings(
        ledger, other, "other", ["degradation"], [elsewhere], since=None, data_through=T0,
        interactions=1,
    )  # fmt: skip
    whole = [f.fingerprint for f in list_findings(ledger, FindingFilter(deployment="bot"))]
    wanted = {f.fingerprint for f in found if f.key[0] in "acef"} | {elsewhere.fingerprint}
    got = findings_by_fingerprint(ledger, wanted, deployment="bot")
    assert [f.fingerprint for f in got] == [fp for fp in whole if fp in wanted]
    assert [f.key[0] for f in got] == ["c", "e", "a", "f"]
    # Read in several queries, merged into the same order.
    import daytwo.detect.service as detect_service

    every = findings_by_fingerprint(ledger, whole, deployment="bot")
    try:
        detect_service.FINGERPRINTS_PER_QUERY = 2
        assert findings_by_fingerprint(ledger, whole, deployment="bot") == every
    finally:
        detect_service.FINGERPRINTS_PER_QUERY = 500
    assert [f.fingerprint for f in every] == whole
    ledger.dispose()


def test_evidence_links_keep_the_scope() -> None:
    from daytwo.detect.schemas import FindingPublic
    from daytwo.detect.views import evidence_url

    f = FindingPublic.model_validate(
        {
            "id": 1, "fingerprint": "x", "detector": "degradation", "kind": "degradation",
            "title": "t", "key": [], "severity": "high", "severity_level": 3, "status": "open",
            "scope": {"deployment": "bot", "journey": "billing", "segment": {"site": "porto"},
                      "metric": "escalation_rate", "level": "segment"},
            "baseline": {"value": 0.1, "n": 10}, "current": {"value": 0.3, "n": 10},
            "evidence": [], "details": {}, "times_seen": 1, "regressions": 0,
            "impact": {"interactions_per_week": 1, "customers_per_week": 1,
                       "agents_per_week": 0},
            "first_seen": T0, "last_seen": T0 + timedelta(days=7), "resolved_at": None,
        }
    )  # fmt: skip
    assert evidence_url(f) == (
        "/conversations?deployment=bot&start=2026-03-02&end=2026-03-08&journey=billing"
        "&segment=site%3Aporto&metric=escalation_rate"
    )


def test_since_replays_each_day_and_repeating_changes_nothing(
    data_dir: Path, client: TestClient, settings: Settings
) -> None:
    assert run(["analyze", "--deployment", "care-bot", "--since", "2026-11-16"]) == 0
    runs = client.get("/api/v1/findings/runs", params={"limit": 50}).json()
    # The end of each day from the 17th to the 20th, then up to the latest data.
    assert len(runs) == 5
    assert [r["data_through"][:10] for r in reversed(runs)][:4] == [
        "2026-11-17", "2026-11-18", "2026-11-19", "2026-11-20",
    ]  # fmt: skip
    first = {f["fingerprint"]: f for f in client.get("/api/v1/findings").json()}
    assert run(["analyze", "--deployment", "care-bot", "--since", "2026-11-16"]) == 0
    again = client.get("/api/v1/findings/runs", params={"limit": 50}).json()
    assert len(again) == 10
    assert all(r["findings_new"] == 0 for r in again[:5])
    assert set(first) <= {f["fingerprint"] for f in client.get("/api/v1/findings").json()}


def test_a_root_seen_only_on_its_own_days_stays_the_root_between_them(ledger_url: str) -> None:
    # A knowledge gap (clustered weekly) explains a journey's fallback rise on its day; the
    # daily looks between do not run the gap detector, so they cannot tell: the rise keeps the
    # gap as its root while the gap is open, and loses it once the gap's own look resolves it.
    upgrade(ledger_url)
    ledger = Ledger(ledger_url)
    gap = _gap("payroll", ("c1",), {"c1"})
    rise = _finding("fallback")
    explained = dataclasses.replace(rise, details={"root": gap.fingerprint})
    _record(ledger, "knowledge_gap", gap)
    _record(ledger, "degradation", explained)

    def root() -> object:
        (row,) = [f for f in list_findings(ledger, FindingFilter()) if f.key == ["fallback"]]
        return row.details.get("root")

    _record(ledger, "degradation", rise)  # a daily look: the gap is not among its findings
    assert root() == gap.fingerprint
    _record(ledger, "knowledge_gap")  # the gap's own look no longer sees it: resolved
    _record(ledger, "degradation", rise)
    assert root() is None
    # A root of a detector that looks every time is that look's to judge.
    other = _finding("other")
    _record(
        ledger, "degradation", other, dataclasses.replace(rise, details={"root": other.fingerprint})
    )
    _record(ledger, "degradation", other, rise)
    assert root() is None
    ledger.dispose()


def _gap(words: str, evidence: tuple[str, ...], members: set[str]) -> Finding:
    return Finding(
        "knowledge_gap", "knowledge_gap", f"Knowledge gap: {words}", FindingScope("bot"),
        Severity.medium, T0, T0 + timedelta(days=1), key=(words,), evidence=evidence,
        members=frozenset(members),
    )  # fmt: skip


def test_a_gap_whose_keywords_shift_stays_one_finding(ledger_url: str) -> None:
    upgrade(ledger_url)
    ledger = Ledger(ledger_url)

    def once(*findings: Finding) -> tuple[int, int, int, int]:
        return _record(ledger, "knowledge_gap", *findings)

    monday = {f"c{i}" for i in range(10)}
    pets = {f"p{i}" for i in range(10)}
    assert once(
        _gap("deposit direct", ("c1", "c2", "c3", "c4"), monday),
        _gap("pets dog", ("p1", "p2"), pets),
    ) == (2, 0, 0, 0)
    # The same conversations (and some new ones) under other leading words: the same finding.
    tuesday = (monday - {"c1"}) | {"c10", "c11"}
    renamed = _gap("deposit set", ("c2", "c10"), tuesday)
    explained = dataclasses.replace(_finding("payments"), details={"root": renamed.fingerprint})
    assert once(renamed, _gap("pets dog", ("p1", "p2"), pets), explained) == (1, 2, 0, 0)
    rows = list_findings(ledger, FindingFilter())
    assert len(rows) == 3
    deposit = next(r for r in rows if r.title.startswith("Knowledge gap: deposit"))
    assert deposit.title == "Knowledge gap: deposit set"
    assert deposit.times_seen == 2
    assert deposit.status == "open"
    # What the gap explains names the finding it continues as its root.
    assert deposit.fingerprint != renamed.fingerprint
    payments = next(r for r in rows if r.title == "problem payments")
    assert payments.details["root"] == deposit.fingerprint
    # Other conversations under new words are another gap; the one not seen resolves. Findings
    # without members (other detectors) are never matched this way.
    assert once(_gap("crypto wallet", ("x1",), {"x1", "x2"}), _gap("pets dog", ("p1",), pets)) == (
        1,
        1,
        1,
        0,
    )
    # The deposit gap returns with yet other words: its resolved finding regresses.
    assert once(_gap("payday deposit", ("c5",), monday), _gap("pets dog", ("p1",), pets)) == (
        0,
        2,
        1,
        1,
    )
    by_title = {r.title: r for r in list_findings(ledger, FindingFilter(kind="knowledge_gap"))}
    assert len(by_title) == 3
    assert by_title["Knowledge gap: payday deposit"].status == "regressed"
    assert by_title["Knowledge gap: crypto wallet"].status == "resolved"
    ledger.dispose()


def test_an_earlier_gap_is_continued_once_by_the_closest(ledger_url: str) -> None:
    upgrade(ledger_url)
    ledger = Ledger(ledger_url)
    members = {f"c{i}" for i in range(10)}

    def once(*findings: Finding) -> tuple[int, int, int, int]:
        return _record(ledger, "knowledge_gap", *findings)

    assert once(_gap("deposit direct", ("c1", "c2", "c3", "c4"), members)) == (1, 0, 0, 0)
    # The gap split in two: the half with more of its evidence continues it, the other is new.
    assert once(
        _gap("deposit set", ("c1",), {"c1", "c2"}),
        _gap("direct deposit form", ("c3",), {"c1", "c2", "c3", "c4"}),
    ) == (1, 1, 0, 0)
    titles = {r.title for r in list_findings(ledger, FindingFilter())}
    assert titles == {"Knowledge gap: deposit set", "Knowledge gap: direct deposit form"}
    continued = next(r for r in list_findings(ledger, FindingFilter()) if r.times_seen == 2)
    assert continued.title == "Knowledge gap: direct deposit form"
    # A finding this run sees under its own fingerprint is not continued by another as well.
    assert once(
        _gap("deposit set", ("c1",), {"c1", "c2"}), _gap("set deposit", ("c1",), {"c1", "c2"})
    ) == (1, 1, 1, 0)
    rows = {r.title: r for r in list_findings(ledger, FindingFilter())}
    assert rows["Knowledge gap: deposit set"].times_seen == 2
    assert rows["Knowledge gap: set deposit"].times_seen == 1
    ledger.dispose()


def test_a_backfill_is_analysed_as_of_the_days_it_touched(data_dir: Path) -> None:
    """New data is what was delivered since the last run, whatever its started_at: a batch
    imported for an earlier day is analysed, as of that day and as of the latest data."""
    from daytwo.ingest.decode import decode_json
    from daytwo.ingest.service import ingest
    from daytwo.pipeline.run import NOTHING_NEW, analyze
    from daytwo.store.events import open_event_store
    from tests.factory import interaction

    settings = Settings(data_dir=data_dir)
    ledger = Ledger(settings.resolved_ledger_url)
    try:
        with open_event_store(settings.resolved_events_url) as events:
            first = analyze(settings, ledger, events, trigger="cli", deployment="care-bot")
            assert [o.skipped for o in first] == [None]
            latest = first[0].as_of
            assert [
                o.skipped
                for o in analyze(settings, ledger, events, trigger="cli", deployment="care-bot")
            ] == [NOTHING_NEW]
            # A backfill for a day five days back: the latest started_at does not move.
            day = (latest - timedelta(days=5)).date()
            start = datetime.combine(day, datetime.min.time(), tzinfo=UTC) + timedelta(hours=9)
            late = [
                interaction(
                    i,
                    deployment="care-bot",
                    id=f"backfill-{i}",
                    started_at=(start + timedelta(minutes=i)).isoformat(),
                    ended_at=(start + timedelta(minutes=i, seconds=90)).isoformat(),
                    turns=2,
                )
                for i in range(40)
            ]
            for rec in late:
                for turn in rec["turns"]:
                    del turn["ts"]
            result = ingest(events, decode_json(orjson.dumps(late)), source="backfill")
            assert result.accepted == 40
            again = analyze(settings, ledger, events, trigger="cli", deployment="care-bot")
            assert [o.skipped for o in again] == [None, None]
            end_of_day = datetime.combine(day + timedelta(days=1), datetime.min.time(), tzinfo=UTC)
            assert [o.as_of for o in again] == [end_of_day, latest]
            assert [
                o.skipped
                for o in analyze(settings, ledger, events, trigger="cli", deployment="care-bot")
            ] == [NOTHING_NEW]
    finally:
        ledger.dispose()


def _ledger_state(settings: Settings) -> tuple[list[tuple[Any, ...]], list[tuple[Any, ...]]]:
    """Every finding and every run of a ledger, as a replay and separate looks must agree."""
    from sqlalchemy import select

    from daytwo.detect.models import AnalysisRun, FindingRecord

    ledger = Ledger(settings.resolved_ledger_url)
    try:
        with ledger.session() as session:
            findings = [
                (r.fingerprint, r.status, r.first_seen, r.last_seen, r.times_seen,
                 r.severity, r.title, orjson.dumps(r.evidence, option=orjson.OPT_SORT_KEYS))
                for r in session.scalars(select(FindingRecord).order_by(FindingRecord.id))
            ]  # fmt: skip
            runs = [
                (r.deployment, r.data_through, tuple(r.detectors), r.findings_new,
                 r.findings_updated, r.findings_resolved)
                for r in session.scalars(select(AnalysisRun).order_by(AnalysisRun.id))
            ]  # fmt: skip
    finally:
        ledger.dispose()
    return findings, runs


def test_a_replay_gives_what_separate_daily_looks_give(
    data_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The replay (one read, weekly detectors only where due) records exactly the findings and
    runs that the same days analysed one look at a time record."""
    from daytwo.detect import registry
    from daytwo.pipeline.run import analyze
    from daytwo.store.events import open_event_store

    # A cadence of two days given to one detector, so four looks show it skipped and due; the
    # knowledge-gap detector (weekly, and the costliest to run) is left out here.
    registry.load_detectors()
    paced = registry.get_detector("silent_failures")
    monkeypatch.setitem(
        registry._REGISTRY, "silent_failures", dataclasses.replace(paced, every_days=2)
    )
    monkeypatch.delitem(registry._REGISTRY, "knowledge_gap")
    alone_dir = tmp_path / "alone"
    alone_dir.mkdir()
    for f in data_dir.iterdir():
        (alone_dir / f.name).write_bytes(f.read_bytes())
    replayed, alone = Settings(data_dir=data_dir), Settings(data_dir=alone_dir)
    since = datetime(2026, 11, 17, tzinfo=UTC)
    ledger = Ledger(replayed.resolved_ledger_url)
    with open_event_store(replayed.resolved_events_url) as events:
        outcomes = analyze(
            replayed, ledger, events, trigger="cli", deployment="care-bot", since=since
        )
    ledger.dispose()
    ledger = Ledger(alone.resolved_ledger_url)
    with open_event_store(alone.resolved_events_url) as events:
        for o in outcomes:
            analyze(alone, ledger, events, trigger="cli", deployment="care-bot", as_of=o.as_of)
    ledger.dispose()
    findings, runs = _ledger_state(replayed)
    assert (findings, runs) == _ledger_state(alone)
    # The ends of the 18th, 19th and 20th, then the latest data (late on the 20th): the paced
    # detector ran on the first look and two days of data later.
    assert [r[1].day for r in runs] == [18, 19, 20, 20]
    assert ["silent_failures" in r[2] for r in runs] == [True, False, True, False]
    assert findings


def test_a_gap_folded_into_another_lives_on_under_it(ledger_url: str) -> None:
    upgrade(ledger_url)
    ledger = Ledger(ledger_url)
    payday = {f"c{i}" for i in range(10)}
    deposit = {f"d{i}" for i in range(10)}
    assert _record(
        ledger,
        "knowledge_gap",
        _gap("payday paid", ("c1", "c2", "c3"), payday),
        _gap("deposit direct", ("d1", "d2"), deposit),
        _gap("pets dog", ("p1",), {"p1", "p2"}),
    ) == (3, 0, 0, 0)
    # The next clustering folds the payday questions into the deposit gap, and the pets
    # questions stop: the payday finding lives on under the deposit one, pets went away.
    folded = _gap("deposit direct", ("d1", "c2"), deposit | payday)
    assert _record(ledger, "knowledge_gap", folded) == (0, 1, 2, 0)
    rows = {r.title: r for r in list_findings(ledger, FindingFilter(status=["resolved"]))}
    assert rows["Knowledge gap: payday paid"].details["root"] == folded.fingerprint
    assert "root" not in rows["Knowledge gap: pets dog"].details
    ledger.dispose()


def test_a_gap_of_the_same_launch_lives_on_in_its_family(ledger_url: str) -> None:
    upgrade(ledger_url)
    ledger = Ledger(ledger_url)
    pay = {"payments": 60, "balance": 40}

    def gap(words: str, members: set[str], journeys: dict[str, int], days: int = 0) -> Finding:
        f = _gap(words, tuple(sorted(members))[:2], members)
        at = T0 + timedelta(days=days)
        return dataclasses.replace(
            f, first_seen=at, last_seen=at + timedelta(days=1), details={"journeys": journeys}
        )

    taxes = gap("taxes federal", {f"t{i}" for i in range(10)}, {"payments": 50, "balance": 50})
    deposit = gap("deposit direct", {f"d{i}" for i in range(10)}, pay)
    fraud = gap("card stolen", {f"f{i}" for i in range(10)}, {"fraud": 20})
    late = gap("pay slip", {f"s{i}" for i in range(10)}, pay, days=-20)
    assert _record(ledger, "knowledge_gap", taxes, deposit, fraud, late) == (4, 0, 0, 0)
    # The next clustering sees only the deposit questions (none of the others' among them):
    # the tax gap began with it and its questions land in the same journeys, so it lives on
    # under it; the fraud gap (other journeys) and the pay-slip gap (three weeks older) went.
    assert _record(ledger, "knowledge_gap", deposit) == (0, 1, 3, 0)
    rows = {r.title: r for r in list_findings(ledger, FindingFilter(status=["resolved"]))}
    assert rows[taxes.title].details["root"] == deposit.fingerprint
    assert "root" not in rows[fraud.title].details
    assert "root" not in rows[late.title].details
    ledger.dispose()
