"""The value section's counts equal what the metrics API answers for the same period, and an
issued report keeps its numbers and, once laid out, its PDF."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta

import pytest
from fastapi.testclient import TestClient

from daytwo.errors import InputError
from daytwo.interactions.slice import Slice
from daytwo.metrics.service import totals
from daytwo.report import archive
from daytwo.report.archive import get_issued, issued_pdf
from daytwo.report.models import IssuedReport
from daytwo.report.service import issue_snapshot, period_counts
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


def _days(client: TestClient, days: range) -> None:
    """Six conversations a day from BASE's day, a third of them escalated."""
    records = [interaction(206 * d + k, turns=2) for d in days for k in range(6)]
    r = client.post("/api/v1/ingest", json={"interactions": records})
    assert r.status_code < 300, r.text


def test_the_escalation_baseline_says_what_it_was_measured_on(client: TestClient) -> None:
    _days(client, range(25))
    events = client.app.state.events  # type: ignore[attr-defined]
    day0 = datetime(BASE.year, BASE.month, BASE.day, tzinfo=UTC)
    counts = period_counts(events, "care-bot", day0, day0 + timedelta(days=25), None, day0)
    window = Slice(
        deployment="care-bot", start=day0 + timedelta(days=7), end=day0 + timedelta(days=21)
    )
    measured = totals(events, ["escalation_rate"], window)["escalation_rate"]
    assert counts.baseline_escalation_rate == pytest.approx(measured.value)
    assert counts.baseline_escalation_n == measured.n == 84
    assert counts.baseline_escalation_basis == (
        "the baseline window, 2026-03-09 to 2026-03-22, 84 conversations"
    )


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
