"""What got worse counts problems (one per backlog item), not the findings behind them."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from fastapi.testclient import TestClient

from daytwo.backlog import owners
from daytwo.backlog.intake import absorb_detected
from daytwo.backlog.policy import BacklogPolicy
from daytwo.backlog.schemas import OwnerCreate, RuleCreate
from daytwo.detect import service as detect_service
from daytwo.detect.findings import Finding, FindingScope, Impact, Measure, Severity
from daytwo.report.render import weekly_body
from daytwo.report.weekly import weekly_update
from daytwo.store.ledger import Ledger
from tests.report.test_weekly import NOW, WEEK, _setup

SEEN = datetime(2026, 3, 4, tzinfo=UTC)  # in 2026-W10


def _finding(
    segment: tuple[str, str],
    *,
    root: str | None = None,
    severity: Severity = Severity.high,
    first_seen: datetime = SEEN,
) -> Finding:
    details: dict[str, object] = {"p_value": 0.0, "good": "up"}
    if root is not None:
        details["root"] = root
    return Finding(
        detector="degradation",
        kind="degradation",
        title=f"Containment worse in {segment[0]}={segment[1]}",
        scope=FindingScope("care-bot", segment=segment, metric="containment_rate"),
        severity=severity,
        first_seen=first_seen,
        last_seen=SEEN,
        baseline=Measure(0.6, 1000),
        current=Measure(0.4, 1000),
        impact=Impact(interactions_per_week=500, customers_per_week=450),
        details=details,
    )


def _record(ledger: Ledger, findings: list[Finding], days_later: int = 0) -> None:
    run = detect_service.start_run(ledger, "care-bot", ["degradation"])
    detect_service.record_findings(
        ledger, run, "care-bot", ["degradation"], findings, since=None,
        data_through=SEEN + timedelta(days=days_later), interactions=2000,
    )  # fmt: skip


def test_what_got_worse_lists_problems_each_linked_to_its_item(client: TestClient) -> None:
    _setup(client)
    ledger, events = client.app.state.ledger, client.app.state.events  # type: ignore[attr-defined]
    owners.create_owner(ledger, OwnerCreate(handle="maria", name="Maria"), actor="a")
    owners.add_rule(
        ledger, RuleCreate(deployment="care-bot", owner="maria", segment="site:porto"), actor="a"
    )
    site = _finding(("site", "porto"))
    teams = [_finding(("team", f"porto-{n}"), root=site.fingerprint) for n in (1, 2, 3)]
    old = _finding(
        ("channel", "voice"), severity=Severity.critical, first_seen=SEEN.replace(month=2)
    )
    _record(ledger, [*teams, site, old])
    absorb_detected(ledger, BacklogPolicy(), deployment="care-bot")
    # A later run: the old problem is still seen; a symptom of the site's problem that no item
    # holds yet joins its root's item; a new finding nobody has triaged stands alone.
    late = _finding(("team", "porto-4"), root=site.fingerprint)
    loose = _finding(("tenure", "new"), severity=Severity.medium)
    # New segment findings of a repeated look: held by the first, raised by the next day's.
    _record(ledger, [*teams, site, old, late, loose], 1)
    _record(ledger, [*teams, site, old, late, loose], 2)

    update = weekly_update(ledger, events, "care-bot", WEEK, now=NOW)
    assert len(update.worse) == 3  # 7 open findings, 3 problems
    voice, porto, tenure = update.worse  # most severe first
    assert (voice.severity, voice.findings, voice.new) == ("critical", 1, False)
    assert porto.findings == 5  # the site, its three teams and the late symptom
    assert porto.owner == "maria"
    assert porto.new is True
    assert porto.item_id is not None
    assert porto.href == f"/backlog/{porto.item_id}"
    assert porto.title == "Containment worse in site=porto"
    assert tenure.item_id is None
    assert tenure.href == f"/findings/{tenure.finding_id}"
    assert tenure.owner is None

    body = str(weekly_body(update, base="https://daytwo.example/"))
    assert "3\nopen problems, 2 new this week" in body
    assert f'<a href="https://daytwo.example/backlog/{porto.item_id}">#{porto.item_id}</a>' in body
    assert f'href="https://daytwo.example/findings/{tenure.finding_id}"' in body
    assert "team=porto-1" not in body  # a symptom is counted in its problem, not listed

    api = client.get("/api/v1/reports/weekly", params={"deployment": "care-bot", "week": WEEK})
    assert api.status_code == 200, api.text
    assert [p["item_id"] for p in api.json()["worse"]] == [p.item_id for p in update.worse]
