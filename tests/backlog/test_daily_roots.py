"""Daily looks into the backlog, with the roots the detectors' data gives: two problems in
overlapping scopes, found on different days, stay two items; a site and its teams, found on
different days, become one."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta

from daytwo.backlog import service
from daytwo.backlog.intake import LEAD_CHANGED, absorb_detected
from daytwo.backlog.policy import BacklogPolicy
from daytwo.detect import analysis_data
from daytwo.detect import service as detect_service
from daytwo.detect.findings import Finding, FindingScope, Impact, Severity
from daytwo.detect.roots import with_roots
from daytwo.detect.schemas import FindingFilter
from daytwo.store.ledger import Ledger
from tests.backlog.conftest import DEPLOYMENT
from tests.detect.test_roots import BAND, WINDOW, _containment, _rows, _two_problems


def _look(ledger: Ledger, policy: BacklogPolicy, rows: list[dict[str, object]],
          findings: Sequence[Finding], day: int) -> dict[str, int]:  # fmt: skip
    """One look as of the end of ``day`` of the current week: roots from the data, the
    findings recorded and taken into the backlog; each finding's item by title."""
    end = WINDOW.current_end - timedelta(days=27 - day)
    window = WINDOW.__class__(WINDOW.baseline_start, WINDOW.baseline_end, end - timedelta(7), end)
    rooted = with_roots(analysis_data(DEPLOYMENT, window, rows), findings)
    run = detect_service.start_run(ledger, DEPLOYMENT, ["degradation"])
    detect_service.record_findings(
        ledger, run, DEPLOYMENT, ["degradation"], rooted, since=None, data_through=end,
        interactions=len(rows),
    )  # fmt: skip
    absorb_detected(ledger, policy, deployment=DEPLOYMENT)
    items = {}
    for item in service.list_items(ledger):
        for link in service.get_item(ledger, item.id).findings:
            items[link.snapshot["title"]] = item.id
    return items


def test_two_problems_in_overlapping_scopes_found_on_different_days_stay_two_items(
    ledger: Ledger, policy: BacklogPolicy
) -> None:
    # The band's containment fell all week: seen on day 26. card_declined, half of it in the
    # band, fell on day 27 only: seen that day, over its one day. Two items, each one problem.
    rows, _ = _two_problems(
        journey_fall={27: 0.2}, journey_per_day=100, journey_in_band=0.5, deployment=DEPLOYMENT
    )
    band = _containment(segment=BAND, deployment=DEPLOYMENT)
    _look(ledger, policy, rows, [band], 26)
    fresh = _containment(
        "card_declined", since=WINDOW.current_end - timedelta(days=1), deployment=DEPLOYMENT
    )
    items = _look(ledger, policy, rows, [band, fresh], 27)
    assert items[fresh.title] != items[band.title]
    assert len(service.list_items(ledger, include_merged=True)) == 2
    # A third look sees both again: still two.
    assert _look(ledger, policy, rows, [band, fresh], 27) == items


def test_a_site_and_its_teams_found_on_different_days_are_one_item(
    ledger: Ledger, policy: BacklogPolicy
) -> None:
    # Day 25 sees one team of site a; days 26 and 27 its site (held, then confirmed) and both
    # teams: the site explains its teams, and the early team item merges into the site's.
    rows = [
        {**r, "interaction_id": f"{DEPLOYMENT}-{r['interaction_id']}"} for r in _rows()
    ]  # fmt: skip
    site = _escalation(("site", "a"))
    teams = [_escalation(("team", t)) for t in ("a1", "a2")]
    (early,) = set(_look(ledger, policy, rows, teams[:1], 25).values())
    _look(ledger, policy, rows, [site, *teams], 26)
    items = _look(ledger, policy, rows, [site, *teams], 27)
    assert set(items) == {site.title, *(t.title for t in teams)}
    assert len(set(items.values())) == 1
    assert service.get_item(ledger, early).merged_into == items[site.title]


def _escalation(segment: tuple[str, str]) -> Finding:
    f = _containment(segment=segment, deployment=DEPLOYMENT)
    scope = f.scope.__class__(DEPLOYMENT, segment=segment, metric="escalation_rate")
    return Finding(
        detector=f.detector, kind=f.kind, title=f"Escalation worse in {segment[1]}",
        scope=scope, severity=f.severity, first_seen=f.first_seen, last_seen=f.last_seen,
    )  # fmt: skip


def _in_billing(metric: str, severity: Severity) -> Finding:
    at = WINDOW.current_start
    return Finding(
        detector="degradation", kind="degradation", title=f"{metric} worse in billing",
        scope=FindingScope(DEPLOYMENT, journey="billing", metric=metric), severity=severity,
        first_seen=at, last_seen=at, impact=Impact(interactions_per_week=100.0),
    )  # fmt: skip


def test_a_cells_problem_keeps_its_lead_while_two_of_its_findings_trade_severity(
    ledger: Ledger, policy: BacklogPolicy
) -> None:
    # A flow change moves billing's escalation and containment by about the same points, each
    # around a severity threshold: the looks find one, then the other, the more severe.
    flips = [(Severity.critical, Severity.high), (Severity.high, Severity.critical)] * 2
    rows = [{**r, "interaction_id": f"{DEPLOYMENT}-{r['interaction_id']}"} for r in _rows()]
    for day, (esc, con) in enumerate(flips, start=24):
        escalation = _in_billing("escalation_rate", esc)
        containment = _in_billing("containment_rate", con)
        items = _look(ledger, policy, rows, [escalation, containment], day)
        assert len(set(items.values())) == 1
    [item] = service.list_items(ledger)
    # The escalation rise stood for the problem first and still does: one name, no change.
    assert item.title == escalation.title
    assert not [e for e in service.get_item(ledger, item.id).history if e.action == LEAD_CHANGED]
    by_title = {f.title: f for f in detect_service.list_findings(ledger, FindingFilter())}
    assert by_title[containment.title].details.get("root") == escalation.fingerprint
    assert "root" not in by_title[escalation.title].details
