"""The value section's counts equal what the metrics API answers for the same period, and an
issued report keeps its numbers and, once laid out, its PDF."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta

import pytest
from fastapi.testclient import TestClient

from daytwo.deployments.schemas import DeploymentCreate
from daytwo.deployments.service import create_deployment
from daytwo.errors import InputError
from daytwo.interactions.slice import Slice
from daytwo.metrics.service import totals
from daytwo.report import archive
from daytwo.report.archive import get_issued, issued_pdf
from daytwo.report.models import IssuedReport
from daytwo.report.service import ChangeScope, escalation_baseline, issue_snapshot, period_counts
from daytwo.store.ledger import Ledger, upgrade
from tests.factory import BASE, interaction

START = datetime(2020, 1, 1, tzinfo=UTC)
END = datetime(2030, 1, 1, tzinfo=UTC)


def test_period_counts_match_the_metrics_api(client: TestClient) -> None:
    records = [interaction(n) for n in range(30)]
    records += [
        interaction(
            100 + n,
            deployment="care-assist",
            agent_ref=f"a{n % 4}",
            ai_used=n % 2 == 0,
            handle_time_s=300.0 - 30 * (n % 2 == 0) + n % 5,
        )
        for n in range(40)
    ]
    r = client.post("/api/v1/ingest", json={"interactions": records})
    assert r.status_code < 300, r.text
    params = {
        "deployment": "care-bot",
        "start": START.isoformat(),
        "end": END.isoformat(),
        "metric": ["contact_volume", "containment_rate", "ai_cost"],
    }
    api = {p["metric"]: p for p in client.get("/api/v1/metrics", params=params).json()}
    events = client.app.state.events  # type: ignore[attr-defined]
    counts = period_counts(events, "care-bot", START, END, None, None)
    assert counts.conversations == api["contact_volume"]["value"] == 30
    assert counts.contained == round(api["containment_rate"]["value"] * 30) == 10
    assert counts.ai_cost_reported == pytest.approx(api["ai_cost"]["value"])
    assist = period_counts(events, "care-assist", START, END, None, None)
    assert sum(s.n_ai for s in assist.strata) == 20
    assert sum(s.n_without for s in assist.strata) == 20


def test_an_issued_report_is_frozen_and_a_reissue_is_a_new_version(client: TestClient) -> None:
    ledger = client.app.state.ledger  # type: ignore[attr-defined]

    def issue(kind: str, payload: dict[str, object]) -> IssuedReport:
        return issue_snapshot(
            ledger,
            deployment="care-bot",
            kind=kind,
            period="2026-W48",
            as_of=END,
            payload=payload,
            issued_by="ops",
        )

    first = issue("weekly", {"net": 1.0})
    second = issue("weekly", {"net": 2.0})
    assert (first.version, second.version) == (1, 2)
    with ledger.session() as session:
        kept = session.get(IssuedReport, first.id)
        assert kept is not None
        assert kept.payload == {"net": 1.0}
        assert kept.code_version
    with pytest.raises(InputError, match="daily"):
        issue("daily", {})


def _journeys(client: TestClient, days: int, moved_from: int | None = None) -> datetime:
    """Five conversations a day on each of two journeys from BASE's day: "a" escalates one of
    them, "b" three (all five from ``moved_from`` on); the first day's midnight."""
    day0 = datetime(BASE.year, BASE.month, BASE.day, tzinfo=UTC)
    records = []
    for d in range(days):
        for k in range(10):
            journey, rank = ("a", k) if k < 5 else ("b", k - 5)
            escalated = rank < (1 if journey == "a" else 5 if d >= (moved_from or days) else 3)
            at = day0 + timedelta(days=d, minutes=60 * k)
            records.append(
                interaction(
                    100 * d + k, turns=1, journey=journey, started_at=at.isoformat(),
                    ended_at=(at + timedelta(minutes=2)).isoformat(),
                    outcome="escalated" if escalated else "contained",
                )
            )  # fmt: skip
    r = client.post("/api/v1/ingest", json={"interactions": records})
    assert r.status_code < 300, r.text
    return day0


def test_the_escalation_baseline_pools_each_journey_until_a_change(client: TestClient) -> None:
    day0 = _journeys(client, 30)
    events = client.app.state.events  # type: ignore[attr-defined]
    # No change: both journeys pooled from go-live (day 0; the window is days 7-20) to the
    # last day (29).
    pooled = escalation_baseline(events, "care-bot", None, day0)
    assert pooled.rate == pytest.approx(0.5 * 0.2 + 0.5 * 0.6)
    assert pooled.window_rate == pytest.approx(0.4)
    assert pooled.n == 30 * 10
    assert pooled.se is not None
    assert pooled.basis == (
        "each journey's rate on its days from 2026-03-02 until a change or a move of its rate "
        "(to 2026-03-31 at the latest; 300 conversations), at the journey mix of 2026-03-02 "
        "to 2026-03-31"
    )
    # A change to "b" on day 24 ends b's days there; one to every journey ends them all.
    to_b = escalation_baseline(
        events, "care-bot", None, day0, [ChangeScope(day0 + timedelta(days=24, hours=9), ("b",))]
    )
    assert (to_b.rate, to_b.n) == (pytest.approx(0.4), 30 * 5 + 24 * 5)
    everything = escalation_baseline(
        events, "care-bot", None, day0, [ChangeScope(day0 + timedelta(days=24))]
    )
    assert everything.n == 24 * 10
    # A change before the window (day 3) starts its journeys' days the day after it.
    early = escalation_baseline(
        events, "care-bot", None, day0, [ChangeScope(day0 + timedelta(days=3, hours=9), ("a",))]
    )
    assert early.n == 26 * 5 + 30 * 5
    assert early.basis.endswith("at the journey mix of 2026-03-06 to 2026-03-31")
    counts = period_counts(events, "care-bot", day0, day0 + timedelta(days=30), None, day0)
    assert counts.baseline_escalation_rate == pytest.approx(0.4)
    assert counts.baseline_escalation_se == pooled.se


def test_the_escalation_baseline_is_cut_where_a_journey_moved(client: TestClient) -> None:
    day0 = _journeys(client, 30, moved_from=24)  # "b" hands over everything from day 24
    events = client.app.state.events  # type: ignore[attr-defined]
    out = escalation_baseline(events, "care-bot", None, day0)
    assert out.rate == pytest.approx(0.4)
    assert out.n == 30 * 5 + 24 * 5
    assert out.basis.endswith("; moved before any change: b")


def test_a_baseline_window_set_with_its_start_draws_on_no_day_before_it(
    client: TestClient,
) -> None:
    day0 = _journeys(client, 30)
    events = client.app.state.events  # type: ignore[attr-defined]
    ledger = client.app.state.ledger  # type: ignore[attr-defined]
    spec = DeploymentCreate(
        name="care-bot", kind="virtual_agent", baseline_start=day0.date() + timedelta(days=5)
    )
    out = escalation_baseline(events, "care-bot", create_deployment(ledger, spec), day0)
    assert out.n == 25 * 10
    assert "on its days from 2026-03-07" in out.basis


def test_a_baseline_window_set_with_its_end_is_measured_alone(client: TestClient) -> None:
    day0 = _journeys(client, 30, moved_from=24)
    events = client.app.state.events  # type: ignore[attr-defined]
    ledger = client.app.state.ledger  # type: ignore[attr-defined]
    spec = DeploymentCreate(
        name="care-bot", kind="virtual_agent", baseline_start=day0.date() + timedelta(days=1),
        baseline_end=day0.date() + timedelta(days=27),
    )  # fmt: skip
    deployment = create_deployment(ledger, spec)
    out = escalation_baseline(events, "care-bot", deployment, day0)
    window = Slice(
        deployment="care-bot", start=day0 + timedelta(days=1), end=day0 + timedelta(days=27)
    )
    measured = totals(events, ["escalation_rate"], window)["escalation_rate"]
    assert (out.rate, out.n, out.se) == (pytest.approx(measured.value), 26 * 10, None)
    assert out.basis == "the baseline window, 2026-03-03 to 2026-03-28, 260 conversations"


def test_a_pdf_laid_out_on_first_download_is_kept_once(
    ledger_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    upgrade(ledger_url)
    ledger = Ledger(ledger_url)
    try:
        row = issue_snapshot(
            ledger, deployment="care-bot", kind="weekly", period="2026-W11", as_of=END,
            payload={}, issued_by="batch", html="<h1>care-bot: weekly update</h1>",
        )  # fmt: skip
        stale = get_issued(ledger, row.id, ["care-bot"])
        first = issued_pdf(ledger, row)
        assert first.startswith(b"%PDF")
        kept = get_issued(ledger, row.id, ["care-bot"])
        assert (kept.pdf, kept.sha256) == (first, hashlib.sha256(first).hexdigest())
        # A second first download that began before the first was kept lays out other bytes:
        # the kept ones win, and it answers with them.
        monkeypatch.setattr(archive, "to_pdf", lambda html: b"%PDF-laid-out-again")
        assert stale.pdf is None
        assert issued_pdf(ledger, stale) == first
        assert get_issued(ledger, row.id, ["care-bot"]).pdf == first
    finally:
        ledger.dispose()
