"""/api/v1/adoption and the adoption pages: who may see agents, the privacy floor, and bad
input answered with a clear error and nothing stored."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from daytwo.adoption import memo, service
from daytwo.adoption.schemas import Period
from daytwo.backlog.policy import BacklogPolicy
from daytwo.errors import ConflictError
from daytwo.governance.accounts import create_user, sign_in
from daytwo.governance.keys import create_key
from daytwo.governance.models import KeyScope, Role
from daytwo.http.access import SESSION_COOKIE, sign
from daytwo.server import create_app
from daytwo.settings import Settings
from tests.adoption.conftest import ASSIST
from tests.factory import interaction

PASSWORD = "a long adoption-test password"
DESK = "desk-assist"


@pytest.fixture(scope="module")
def app_client(demo_dir: Path) -> Iterator[TestClient]:
    # No background rollup refresher and no answers prepared after start: a refresh published,
    # or an answer prepared, between a test's delivery and its reads moved what the test reads
    # (the served-answer tests were flaky with them). The tests rebuild the rollups themselves
    # after each delivery, as the refresher would; tests/adoption/test_prepare.py covers the
    # preparation.
    settings = Settings(data_dir=demo_dir, refresh_seconds=0, adoption_prepare_seconds=0)
    with TestClient(create_app(settings)) as client:
        yield client


def _session(client: TestClient, name: str, role: Role) -> dict[str, str]:
    ledger = client.app.state.ledger  # type: ignore[attr-defined]
    with contextlib.suppress(ConflictError):  # the module's app keeps its users
        create_user(ledger, name, PASSWORD, role, grants=(ASSIST, DESK))
    signed = sign_in(ledger, name, PASSWORD)
    cookie = sign(signed.token, client.app.state.session_key)  # type: ignore[attr-defined]
    return {"cookie": f"{SESSION_COOKIE}={cookie}", "x-csrf-token": signed.csrf_token}


def _admin(client: TestClient) -> dict[str, str]:
    key, _ = create_key(client.app.state.ledger, scope=KeyScope.admin, deployment=None)  # type: ignore[attr-defined]
    return {"authorization": f"Bearer {key}"}


def test_everyone_reads_groups_only_analysts_read_agents(app_client: TestClient) -> None:
    viewer = _session(app_client, "vera", Role.viewer)
    analyst = _session(app_client, "anna", Role.analyst)
    r = app_client.get(f"/api/v1/adoption/{ASSIST}", headers=viewer)
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["agents_visible"] is False
    assert all(g["agents_flagged"] == [] for g in body["stopped"])
    assert all(c["agent_ref"] == "(hidden)" for c in body["champions"]["champions"])
    assert body["champions"]["candidates"] == {}
    for path in ("agents", "agents/a-0001", "champions", "workarounds"):
        r = app_client.get(f"/api/v1/adoption/{ASSIST}/{path}", headers=viewer)
        assert r.status_code == 403, path
        assert "analyst and owner roles only" in r.json()["error"]["message"]
    r = app_client.get(f"/api/v1/adoption/{ASSIST}/agents?status=fell", headers=analyst)
    assert r.status_code == 200
    assert all(a["status"] == "fell" for a in r.json())
    r = app_client.get(f"/api/v1/adoption/{ASSIST}", headers=analyst)
    assert r.json()["agents_visible"] is True
    # Pages: the same rule.
    assert app_client.get("/adoption/agents", headers=viewer).status_code == 403
    page = app_client.get(f"/adoption?deployment={ASSIST}", headers=viewer)
    assert page.status_code == 200
    assert "Your role sees groups only" in page.text


def _deliver_to_desk(client: TestClient, admin: dict[str, str], ns: range, agents: int) -> None:
    """Register the small desk deployment (once) and ingest conversations ``ns`` of
    ``agents`` agents of one tiny team, each using a suggested reply."""
    r = client.post(
        "/api/v1/deployments",
        json={"name": DESK, "kind": "agent_assist", "journeys": ["billing"]},
        headers=admin,
    )
    assert r.status_code in (201, 409), r.text
    used = [{"action": a, "feature": "suggested_reply"} for a in ("shown", "accepted")]
    tiny = {"site": "tiny", "team": "tiny-1", "tenure": "2y+"}
    records = [
        interaction(
            n, deployment=DESK, agent_ref=f"d{n % agents}", ai_used=True, segments=tiny,
            assist_events=[{**e, "agent_ref": f"d{n % agents}"} for e in used],
        )
        for n in ns
    ]  # fmt: skip
    ok = client.post("/api/v1/ingest", json={"interactions": records}, headers=admin)
    assert ok.is_success, ok.text
    # The adoption views read the rollups a server's refresher rebuilds every second (the
    # module's app runs none): rebuild them now, so what the test reads next is what it delivered.
    client.app.state.events.refresh_derived()  # type: ignore[attr-defined]


def test_groups_under_five_agents_are_hidden_from_viewers(app_client: TestClient) -> None:
    admin = _admin(app_client)
    _deliver_to_desk(app_client, admin, range(30), 3)
    viewer = _session(app_client, "vera", Role.viewer)
    body = app_client.get(f"/api/v1/adoption/{DESK}", headers=viewer).json()
    (site,) = body["groups"]["site"]
    assert site["agents"] == 3
    assert site["acceptance"] is None
    assert "fewer than 5 agents" in site["suppressed"]
    team = app_client.get(f"/api/v1/adoption/{DESK}/teams/tiny-1", headers=viewer).json()
    assert team["acceptance"] is None
    assert "fewer than 5 agents" in team["suppressed"]
    analyst = _session(app_client, "anna", Role.analyst)
    body = app_client.get(f"/api/v1/adoption/{DESK}", headers=analyst).json()
    assert body["groups"]["site"][0]["acceptance"] == 1.0


def test_bad_input_is_a_clear_error_and_stores_nothing(app_client: TestClient) -> None:
    owner = _session(app_client, "otto", Role.owner)
    before = app_client.get(f"/api/v1/adoption/{ASSIST}/cohorts", headers=owner).json()
    refused = [
        ("cohorts", {"name": "nobody", "role": "pilot", "segment": "cohort=x"},
         "matches no agent"),
        ("cohorts", {"name": "both", "role": "rollout", "segment": "cohort=pilot"},
         "overlaps cohort"),
        ("champions", {"agent_ref": "not-an-agent", "started_at": "2026-10-01T00:00:00Z"},
         "not an agent of"),
    ]  # fmt: skip
    for path, body, message in refused:
        r = app_client.post(
            f"/api/v1/adoption/{ASSIST}/{path}", json={"deployment": ASSIST, **body}, headers=owner
        )
        assert r.status_code == 400, path
        assert message in r.json()["error"]["message"]
    assert app_client.get(f"/api/v1/adoption/{ASSIST}/cohorts", headers=owner).json() == before
    r = app_client.get(f"/adoption?deployment={ASSIST}&start=2026-10-20&end=2026-10-01",
                       headers=owner)  # fmt: skip
    assert r.status_code == 400
    r = app_client.get(f"/api/v1/adoption/{ASSIST}/agents/a-9999", headers=owner)
    assert r.status_code == 404
    # An id past what the ledger can hold, or a body with fields it does not have: named.
    end = f"/api/v1/adoption/{ASSIST}/champions/{2**70}/end"
    r = app_client.post(end, json={"ended_at": "2026-12-05T18:04:22Z"}, headers=owner)
    assert r.status_code == 422, r.text
    end = f"/api/v1/adoption/{ASSIST}/champions/1/end"
    r = app_client.post(end, json={"ended_at": "2026-12-05T18:04:22Z", "x": 1}, headers=owner)
    assert r.status_code == 422
    assert "x" in r.text


def test_the_pages_answer(app_client: TestClient) -> None:
    analyst = _session(app_client, "anna", Role.analyst)
    q = f"deployment={ASSIST}"
    page = app_client.get(f"/adoption?{q}&by=team", headers=analyst)
    assert page.status_code == 200
    assert "Who stopped" in page.text
    for section in ("pilot", "legacy", "champions", "changes"):
        r = app_client.get(f"/adoption/sections/{section}?{q}", headers=analyst)
        assert r.status_code == 200, section
    pilot = app_client.get(f"/adoption/sections/pilot?{q}", headers=analyst).text
    assert "like for like" in pilot
    agents = app_client.get(f"/api/v1/adoption/{ASSIST}/agents", headers=analyst).json()
    ref = agents[0]["agent_ref"]
    assert app_client.get(f"/adoption/agents/{ref}?{q}", headers=analyst).status_code == 200
    assert app_client.get(f"/adoption/teams/porto-1?{q}", headers=analyst).status_code == 200
    r = app_client.get(f"/adoption/sections/nope?{q}", headers=analyst)
    assert r.status_code == 400


def test_the_page_serves_its_last_answer_with_its_age_while_new_data_is_compared(
    app_client: TestClient,
) -> None:
    admin = _admin(app_client)
    app = app_client.app
    ledger, events = app.state.ledger, app.state.events  # type: ignore[attr-defined]

    def deliver(ns: range, agents: int) -> None:
        _deliver_to_desk(app_client, admin, ns, agents)

    deliver(range(30), 3)
    analyst = _session(app_client, "anna", Role.analyst)
    url = f"/adoption?deployment={DESK}"
    app_client.get(url, headers=analyst)
    memo.settle()
    assert 'data-answer-age="current"' in app_client.get(url, headers=analyst).text
    deliver(range(30, 34), 34)  # four conversations of four agents no one saw before
    stale = app_client.get(url, headers=analyst).text
    assert 'data-answer-age="stale"' in stale
    assert "newer data has arrived and a refresh is running" in stale
    memo.settle()
    assert 'data-answer-age="current"' in app_client.get(url, headers=analyst).text
    api = f"/api/v1/adoption/{DESK}"
    app_client.get(api, headers=analyst)
    memo.settle()
    body = app_client.get(api, headers=analyst).json()
    assert body["freshness"]["stale"] is False
    period = Period.model_validate(body["period"])
    fresh = service.overview(
        ledger, events, DESK, period, BacklogPolicy(), agents_visible=True, comparisons=False
    )
    assert body["headline"] == fresh.headline.model_dump(mode="json")
    assert body["headline"]["agents_offered"] == 7
