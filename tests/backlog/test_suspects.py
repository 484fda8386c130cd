"""Suspect changes: time, scope and kind fit, ranked, with the reason in words (golden cases)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from daytwo.backlog.suspects import ChangeFacts, Onset, rank_suspects, reason

ONSET = datetime(2026, 10, 21, tzinfo=UTC)


def _change(
    i: int, day: int, kind: str, journeys: tuple[str, ...] = (), metric: str = ""
) -> ChangeFacts:
    return ChangeFacts(
        i, "care-bot", kind, f"change {i}", datetime(2026, 10, day, 9, tzinfo=UTC), journeys,
        metric or "containment_rate",
    )  # fmt: skip


def test_the_flow_change_to_the_journey_ranks_first_with_its_reason() -> None:
    problem = Onset("care-bot", ONSET, journey="card_declined", metric="escalation_rate")
    changes = [
        _change(1, 20, "flow", ("card_declined",), "escalation_rate"),
        _change(2, 19, "model"),  # whole deployment, two days before, does not move escalation
        _change(3, 20, "flow", ("payments",)),  # another journey: no fit at all
        _change(4, 1, "flow", ("card_declined",)),  # three weeks before: out of the look-back
        _change(5, 24, "prompt", ("card_declined",)),  # three days after: out
    ]
    ranked = rank_suspects(problem, changes)
    assert [s.change_id for s in ranked] == [1, 2]
    assert ranked[0].reason == (
        "flow change to card_declined on 20 Oct; escalation rose in that journey from 21 Oct"
    )
    assert ranked[0].score > ranked[1].score


def test_a_model_change_fits_latency_on_chat() -> None:
    problem = Onset("care-bot", ONSET, segment=("channel", "chat"), metric="latency_p95")
    model = _change(1, 21, "model")
    knowledge = _change(2, 21, "knowledge")
    ranked = rank_suspects(problem, [knowledge, model])
    assert [s.change_id for s in ranked] == [1, 2]
    assert "on channel chat" in ranked[0].reason


def test_other_deployments_never_fit_and_linked_changes_come_first() -> None:
    problem = Onset("care-bot", ONSET, journey="card_declined", metric="escalation_rate")
    elsewhere = ChangeFacts(9, "care-assist", "flow", "x", ONSET, ("card_declined",), "x")
    old = _change(4, 1, "flow", ("card_declined",))
    assert rank_suspects(problem, [elsewhere]) == []
    ranked = rank_suspects(problem, [old], linked=frozenset({4}))
    assert [(s.change_id, s.linked) for s in ranked] == [(4, True)]


def test_a_metric_that_fell_is_said_to_fall() -> None:
    problem = Onset("care-bot", ONSET, journey="payments", metric="containment_rate", worse=True)
    said = reason(_change(1, 20, "knowledge", ("payments",)), problem)
    assert said.endswith("containment fell in that journey from 21 Oct")


def test_suspects_over_http_and_linking_from_the_item(client: Any) -> None:
    from tests.backlog.test_api import DEPLOYMENT, _finding, _setup

    _setup(client)
    # An item with no detected finding behind it is fitted to the day it was raised.
    item = client.post("/api/v1/items/from-finding", json=_finding()).json()["item"]
    yesterday = (datetime.now(UTC) - timedelta(days=1)).isoformat()
    other = client.post("/api/v1/deployments", json={"name": "other-bot", "kind": "virtual_agent"})
    assert other.status_code == 201
    mine = client.post(
        "/api/v1/changes",
        json={"deployment": DEPLOYMENT, "kind": "flow", "title": "Identity check",
              "author": "dana", "shipped_at": yesterday,
              "journeys": ["card_lost"], "metric": "escalation_rate"},
    ).json()  # fmt: skip
    theirs = client.post(
        "/api/v1/changes",
        json={"deployment": "other-bot", "kind": "flow", "title": "Elsewhere",
              "author": "dana", "shipped_at": yesterday},
    )  # fmt: skip
    assert theirs.status_code == 201, theirs.text
    found = client.get(f"/api/v1/items/{item['id']}/suspects").json()
    assert [s["change_id"] for s in found] == [mine["id"]]
    assert "flow change to card_lost" in found[0]["reason"]
    r = client.post(f"/api/v1/items/{item['id']}/changes", json={"change_id": theirs.json()["id"]})
    assert r.status_code == 400
    assert "nothing was linked" in r.json()["error"]["message"]
    assert client.get(f"/api/v1/items/{item['id']}").json()["changes"] == []
    r = client.post(f"/api/v1/items/{item['id']}/changes", json={"change_id": mine["id"]})
    assert r.status_code == 200, r.text
    assert r.json()["changes"] == [mine["id"]]
    assert client.get(f"/api/v1/items/{item['id']}/suspects").json()[0]["linked"] is True
    assert client.get("/api/v1/findings/99999/suspects").status_code == 404
    assert client.get("/api/v1/items/99999/suspects").status_code == 404


def test_trend_charts_mark_the_recorded_changes(client: Any) -> None:
    from tests.backlog.test_api import DEPLOYMENT, _setup

    _setup(client)
    r = client.post(
        "/api/v1/changes",
        json={"deployment": DEPLOYMENT, "kind": "flow", "title": "Identity check",
              "author": "dana", "shipped_at": "2026-03-02T00:00:00Z", "journeys": ["card_lost"]},
    )  # fmt: skip
    assert r.status_code == 201, r.text
    page = client.get("/overview", params={"deployment": DEPLOYMENT, "start": "2026-03-01"})
    assert page.status_code == 200
    assert f"#{r.json()['id']} flow: Identity check" in page.text
    assert '"href":"/changes/' in page.text
    other = client.get(
        "/overview",
        params={"deployment": DEPLOYMENT, "start": "2026-03-01", "journey": "billing"},
    )
    assert "Identity check" not in other.text  # a change to another journey is not marked
