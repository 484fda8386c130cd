"""The value section's counts equal what the metrics API answers for the same period."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from fastapi.testclient import TestClient

from daytwo.errors import InputError
from daytwo.interactions.slice import Slice
from daytwo.metrics.service import totals
from daytwo.report.models import IssuedReport
from daytwo.report.service import escalation_baseline, issue_snapshot, period_counts
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


def _days(client: TestClient, days: range, *, escalated_from: int) -> None:
    """Six conversations a day from BASE's day, a third escalated until ``escalated_from``,
    every one escalated from that day on."""
    records = [
        interaction(
            206 * d + k, turns=2, **({"outcome": "escalated"} if d >= escalated_from else {})
        )
        for d in days
        for k in range(6)
    ]
    r = client.post("/api/v1/ingest", json={"interactions": records})
    assert r.status_code < 300, r.text


def test_the_escalation_baseline_pools_the_unchanged_days_after_the_window(
    client: TestClient,
) -> None:
    _days(client, range(40), escalated_from=30)
    events = client.app.state.events  # type: ignore[attr-defined]
    day0 = datetime(BASE.year, BASE.month, BASE.day, tzinfo=UTC)
    window = (day0 + timedelta(days=7), day0 + timedelta(days=21))
    alone = escalation_baseline(events, "care-bot", window, None)
    assert alone is not None
    assert (alone.n, alone.end, alone.basis) == (84, window[1], "the baseline window")

    # Up to a change shipped on day 28: the week after the window escalates alike, so it is
    # pooled and the rate is measured on 126 conversations instead of 84.
    pooled = escalation_baseline(events, "care-bot", window, day0 + timedelta(days=28))
    assert pooled is not None
    assert (pooled.n, pooled.end) == (126, day0 + timedelta(days=28))
    assert "unchanged days" in pooled.basis
    assert pooled.rate == pytest.approx(
        (alone.rate * 84 + _rate(events, window[1], pooled.end) * 42) / 126
    )

    # Up to day 40, with every conversation escalated from day 30: a drift nobody recorded.
    drifted = escalation_baseline(events, "care-bot", window, day0 + timedelta(days=40))
    assert drifted is not None
    assert (drifted.rate, drifted.n, drifted.end) == (alone.rate, 84, window[1])
    assert "another rate" in drifted.basis

    # A report's counts take the first change after the window (not one inside it) or the
    # period's end, and say what the rate was measured on.
    counts = period_counts(
        events, "care-bot", day0, day0 + timedelta(days=40), None, day0,
        [day0 + timedelta(days=10), day0 + timedelta(days=28), day0 + timedelta(days=35)],
    )  # fmt: skip
    assert counts.baseline_escalation_rate == pytest.approx(pooled.rate)
    assert counts.baseline_escalation_n == 126
    assert "to 2026-03-29, 126 conversations" in counts.baseline_escalation_basis


def _rate(events: object, start: datetime, end: datetime) -> float:
    s = Slice(deployment="care-bot", start=start, end=end)
    value = totals(events, ["escalation_rate"], s)["escalation_rate"].value  # type: ignore[arg-type]
    assert value is not None
    return value
