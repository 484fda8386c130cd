"""A finding's own page, the findings list as one row per problem, and linking changes to
items from the finding's, the item's and the change's pages."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from fastapi.testclient import TestClient

from daytwo.backlog.intake import absorb_detected
from daytwo.backlog.policy import BacklogPolicy
from daytwo.detect import service as detect_service
from daytwo.detect.findings import Finding, FindingScope, Impact, Measure, Severity
from daytwo.store.ledger import Ledger
from tests.backlog.test_api import DEPLOYMENT, _setup

ONSET = datetime.now(UTC).replace(microsecond=0) - timedelta(days=2)


def _acceptance(segment: tuple[str, str], root: str | None = None) -> Finding:
    details: dict[str, object] = {"p_value": 0.0, "good": "down"}
    if root is not None:
        details["root"] = root
    return Finding(
        detector="degradation",
        kind="degradation",
        title=f"Escalation worse in {segment[0]}={segment[1]}",
        scope=FindingScope(DEPLOYMENT, segment=segment, metric="escalation_rate"),
        severity=Severity.high,
        first_seen=ONSET,
        last_seen=ONSET + timedelta(days=1),
        baseline=Measure(0.2, 1000),
        current=Measure(0.35, 1000),
        impact=Impact(interactions_per_week=400, customers_per_week=380),
        details=details,
    )


def _recorded(client: TestClient) -> dict[str, Any]:
    """A site's finding and two of its teams' (explained by it), taken into the backlog."""
    _setup(client)
    ledger: Ledger = client.app.state.ledger  # type: ignore[attr-defined]
    site = _acceptance(("site", "leeds"))
    teams = [_acceptance(("team", f"leeds-{n}"), root=site.fingerprint) for n in (1, 2)]
    run = detect_service.start_run(ledger, DEPLOYMENT, ["degradation"])
    detect_service.record_findings(
        ledger, run, DEPLOYMENT, ["degradation"], [site, *teams], since=None,
        data_through=ONSET + timedelta(days=1), interactions=2000,
    )  # fmt: skip
    absorb_detected(ledger, BacklogPolicy(), deployment=DEPLOYMENT)
    found = client.get("/api/v1/findings", params={"deployment": DEPLOYMENT}).json()
    by_print = {f["fingerprint"]: f for f in found}
    return {"site": by_print[site.fingerprint], "teams": [by_print[t.fingerprint] for t in teams]}


def _change(client: TestClient, deployment: str = DEPLOYMENT, **extra: Any) -> dict[str, Any]:
    r = client.post(
        "/api/v1/changes",
        json={"deployment": deployment, "kind": "flow", "title": "Identity check",
              "author": "dana", "shipped_at": (ONSET - timedelta(days=1)).isoformat(), **extra},
    )  # fmt: skip
    assert r.status_code == 201, r.text
    out: dict[str, Any] = r.json()
    return out


def test_the_findings_list_shows_one_row_per_problem(client: TestClient) -> None:
    found = _recorded(client)
    page = client.get("/findings", params={"deployment": DEPLOYMENT})
    assert page.status_code == 200
    assert f'data-finding="{found["site"]["id"]}"' in page.text
    for team in found["teams"]:
        assert f'data-finding="{team["id"]}"' not in page.text  # one click below the site
    assert 'data-symptoms="2"' in page.text
    assert f'href="/findings/{found["site"]["id"]}"' in page.text
    every = client.get("/findings", params={"deployment": DEPLOYMENT, "symptoms": "1"})
    for team in found["teams"]:
        assert f'data-finding="{team["id"]}"' in every.text


def test_a_finding_has_its_page_with_symptoms_item_and_suspects(client: TestClient) -> None:
    found = _recorded(client)
    change = _change(client)
    site = found["site"]
    page = client.get(f"/findings/{site['id']}")
    assert page.status_code == 200, page.text[:500]
    assert page.headers["content-type"].startswith("text/html")
    text = page.text
    assert site["title"] in text
    assert text.count("data-symptom=") == 2
    assert 'data-item="' in text
    assert f'data-suspect="{change["id"]}"' in text
    assert "flow change to the whole deployment" in text
    assert "/conversations?" in text
    assert "data-evidence" in text
    team = client.get(f"/findings/{found['teams'][0]['id']}")
    assert "data-root" in team.text
    assert f'href="/findings/{site["id"]}"' in team.text
    missing = client.get("/findings/99999")
    assert missing.status_code == 404
    assert missing.headers["content-type"].startswith("text/html")


def test_changes_link_from_the_finding_the_item_and_the_change(client: TestClient) -> None:
    found = _recorded(client)
    site = found["site"]
    item_id = client.get(f"/findings/{site['id']}").text.split('data-item="')[1].split('"')[0]
    first, second, third = _change(client), _change(client), _change(client)
    r = client.post(
        f"/findings/{site['id']}/changes", data={"change_id": first["id"]}, follow_redirects=False
    )
    assert r.status_code == 303
    assert "error" not in r.headers["location"]
    r = client.post(
        f"/backlog/{item_id}/changes", data={"change_id": second["id"]}, follow_redirects=False
    )
    assert r.status_code == 303
    assert "error" not in r.headers["location"]
    assert f'action="/changes/{third["id"]}/items"' in client.get(f"/changes/{third['id']}").text
    r = client.post(
        f"/changes/{third['id']}/items", data={"item_id": item_id}, follow_redirects=False
    )
    assert r.status_code == 303
    assert "error" not in r.headers["location"]
    linked = client.get(f"/api/v1/items/{item_id}").json()["changes"]
    assert sorted(linked) == sorted([first["id"], second["id"], third["id"]])
    assert "linked to the item" in client.get(f"/findings/{site['id']}").text


def test_a_change_of_another_deployment_is_refused_and_nothing_changes(
    client: TestClient,
) -> None:
    found = _recorded(client)
    r = client.post("/api/v1/deployments", json={"name": "other-bot", "kind": "virtual_agent"})
    assert r.status_code == 201, r.text
    theirs = _change(client, "other-bot")
    site = found["site"]
    item_id = client.get(f"/findings/{site['id']}").text.split('data-item="')[1].split('"')[0]
    for path in (f"/findings/{site['id']}/changes", f"/backlog/{item_id}/changes"):
        r = client.post(path, data={"change_id": theirs["id"]}, follow_redirects=False)
        assert r.status_code == 303
        assert "error=" in r.headers["location"], path
        shown = client.get(r.headers["location"])
        assert "nothing was linked" in shown.text
    assert client.get(f"/api/v1/items/{item_id}").json()["changes"] == []
    r = client.post(
        f"/findings/{site['id']}/changes", data={"change_id": 99999}, follow_redirects=False
    )
    assert "error=" in r.headers["location"]


def test_a_journey_page_lists_its_problems_once_and_its_changes(client: TestClient) -> None:
    _setup(client)
    ledger: Ledger = client.app.state.ledger  # type: ignore[attr-defined]
    journey = Finding(
        detector="degradation",
        kind="degradation",
        title="Escalation worse in card_lost",
        scope=FindingScope(DEPLOYMENT, journey="card_lost", metric="escalation_rate"),
        severity=Severity.high,
        first_seen=ONSET,
        last_seen=ONSET + timedelta(days=1),
        baseline=Measure(0.2, 1000),
        current=Measure(0.35, 1000),
        impact=Impact(interactions_per_week=400, customers_per_week=380),
        details={"p_value": 0.0, "good": "down"},
    )
    run = detect_service.start_run(ledger, DEPLOYMENT, ["degradation"])
    detect_service.record_findings(
        ledger, run, DEPLOYMENT, ["degradation"], [journey], since=None,
        data_through=ONSET + timedelta(days=1), interactions=2000,
    )  # fmt: skip
    absorb_detected(ledger, BacklogPolicy(), deployment=DEPLOYMENT)
    change = _change(client, journeys=["card_lost"])
    other = _change(client, journeys=["billing"])
    page = client.get("/journeys/card_lost", params={"deployment": DEPLOYMENT})
    assert page.status_code == 200
    # The finding joined the item: one row, the item's, not the finding again beside it.
    assert page.text.count('data-problem="item"') == 1
    assert 'data-problem="finding"' not in page.text
    assert f"#{change['id']} flow: Identity check" in page.text
    assert f"#{other['id']} flow" not in page.text  # a change to another journey
    billing = client.get("/journeys/billing", params={"deployment": DEPLOYMENT})
    assert "No open finding or item about this journey." in billing.text


def _valued(metric: str | None, kind: str, before: float, now: float) -> Finding:
    return Finding(
        detector="trend" if metric else "drift",
        kind=kind,
        title=f"{metric or kind} moved",
        scope=FindingScope(DEPLOYMENT, journey="billing", metric=metric),
        severity=Severity.medium,
        first_seen=ONSET,
        last_seen=ONSET + timedelta(days=1),
        baseline=Measure(before, 500),
        current=Measure(now, 500),
        impact=Impact(interactions_per_week=12345.4, customers_per_week=11000.0),
    )


def test_finding_values_carry_their_metric_unit_on_both_pages(client: TestClient) -> None:
    _setup(client)
    ledger: Ledger = client.app.state.ledger  # type: ignore[attr-defined]
    shown = {
        "latency_p95": (_valued("latency_p95", "trend", 691.0, 1463.0), "691 ms → 1,463 ms"),
        "cost": (_valued("cost_per_interaction", "trend", 0.42, 0.8), "$0.42 → $0.80"),
        "handle": (
            _valued("average_handle_time", "trend", 185.0, 230.0),
            "3 min 05 s → 3 min 50 s",
        ),
        "words": (_valued(None, "input_length", 8.0, 12.5), "8 → 12.5"),
        "mix": (_valued(None, "failure_point", 0.1, 0.25), "10.0% → 25.0%"),
    }
    run = detect_service.start_run(ledger, DEPLOYMENT, ["trend", "drift"])
    detect_service.record_findings(
        ledger, run, DEPLOYMENT, ["trend", "drift"], [f for f, _ in shown.values()], since=None,
        data_through=ONSET + timedelta(days=1), interactions=2000,
    )  # fmt: skip
    listed = client.get("/findings", params={"deployment": DEPLOYMENT, "symptoms": "1"}).text
    found = {f["fingerprint"]: f for f in client.get("/api/v1/findings").json()}
    assert "12,345<br>" in listed  # a week's interactions, as every count is written
    assert "11,000 customers" in listed
    for finding, text in shown.values():
        assert text in listed, text
        answered = found[finding.fingerprint]
        assert f"{answered['baseline']['display']} → {answered['current']['display']}" == text
        page = client.get(f"/findings/{found[finding.fingerprint]['id']}")
        assert page.status_code == 200
        assert text in page.text, text


def test_a_finding_read_without_its_unit_takes_its_metrics() -> None:
    from daytwo.detect.schemas import FindingPublic

    answered = {
        "id": 1, "fingerprint": "x", "detector": "trend", "kind": "trend", "title": "t",
        "key": [], "severity": "high", "severity_level": 3, "status": "open",
        "scope": {"deployment": "bot", "journey": None, "segment": None,
                  "metric": "latency_p95", "level": "metric"},
        "baseline": {"value": 691.0, "n": 10}, "current": {"value": 1463.0, "n": 10},
        "evidence": [], "details": {}, "times_seen": 1, "regressions": 0,
        "impact": {"interactions_per_week": 1, "customers_per_week": 1, "agents_per_week": 0},
        "first_seen": ONSET, "last_seen": ONSET, "resolved_at": None,
    }  # fmt: skip
    f = FindingPublic.model_validate(answered)
    assert f.unit == "ms"
    assert f.displayed(None).current.display == "1,463 ms"
    drift = FindingPublic.model_validate({**answered, "kind": "intent_mix", "scope": {
        **answered["scope"], "metric": None}})  # fmt: skip
    assert drift.unit == "rate"
