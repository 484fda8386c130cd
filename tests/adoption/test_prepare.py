"""A server that has not analysed since it started: the adoption page's and API's default
answers are prepared in the background soon after it starts, so its first reader waits for
none of them."""

from __future__ import annotations

from typing import Any

import orjson
import pytest
from fastapi.testclient import TestClient

from daytwo.adoption import champions, compare, memo, pilot_runs, served
from daytwo.backlog.policy import BacklogPolicy
from daytwo.deployments.schemas import DeploymentCreate
from daytwo.deployments.service import create_deployment
from daytwo.governance.keys import create_key
from daytwo.governance.models import KeyScope
from daytwo.ingest.decode import decode_json
from daytwo.server import create_app
from daytwo.settings import Settings
from daytwo.store.events import open_event_store
from daytwo.store.ledger import Ledger
from daytwo.store.ledger.kinds import DeploymentKind
from tests.factory import interaction

DESK = "desk-assist"


def _computed(*args: Any, **kwargs: Any) -> Any:
    raise AssertionError("an adoption answer was computed while a reader waited")


def _deliver(settings: Settings) -> None:
    """A small agent-assist deployment with a month of conversations, in the stores of a
    server not started yet."""
    ledger = Ledger(settings.resolved_ledger_url)
    try:
        create_deployment(
            ledger,
            DeploymentCreate(name=DESK, kind=DeploymentKind.agent_assist, journeys=["billing"]),
        )
    finally:
        ledger.dispose()
    team = {"site": "leeds", "team": "leeds-1", "tenure": "2y+"}
    records = []
    for n in range(0, 6000, 37):  # every 7 minutes: about a month
        agent = f"d{n % 6}"
        actions = ("shown", "accepted" if n % 3 else "dismissed")
        records.append(interaction(
            n, deployment=DESK, agent_ref=agent, ai_used=True, segments=team,
            assist_events=[
                {"action": a, "feature": "suggested_reply", "agent_ref": agent} for a in actions
            ],
        ))  # fmt: skip
    with open_event_store(settings.resolved_events_url) as events:
        events.write(decode_json(orjson.dumps(records)).batch, source="test", batch_id="1")


def test_the_first_requests_after_a_server_starts_are_served_prepared_answers(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    _deliver(settings)
    serve = settings.model_copy(
        update={"adoption_prepare_seconds": 0.01, "notify_deliver_seconds": 0,
                "report_schedule_seconds": 0, "impact_resamples": 100, "otlp_workers": 0}
    )  # fmt: skip
    with TestClient(create_app(serve, serving=True)) as client:
        prepare: served.PrepareAfterStart = client.app.state.adoption_prepare  # type: ignore[attr-defined]
        assert prepare.done.wait(60)
        # Both tops, AI vs legacy, champions with and without agents, the changes, and pilot
        # vs rollout (no analysis stored one).
        assert prepare.prepared == {DESK: 7}
        # From here on, computing any of them would fail the request.
        for module, name in ((served, "_top"), (compare, "ai_vs_legacy"), (champions, "view"),
                             (served, "after_changes"), (pilot_runs, "compare_now")):  # fmt: skip
            monkeypatch.setattr(module, name, _computed)
        key, _ = create_key(client.app.state.ledger, scope=KeyScope.admin, deployment=None)  # type: ignore[attr-defined]
        client.headers["Authorization"] = f"Bearer {key}"
        r = client.get(f"/api/v1/adoption/{DESK}")
        assert r.status_code == 200, r.text
        body = r.json()
        assert (body["freshness"]["stale"], body["freshness"]["refreshing"]) == (False, False)
        assert body["headline"]["agents_offered"] == 6
        assert body["ai_vs_legacy"] is not None
        assert body["champions"] is not None
        assert client.get(f"/adoption?deployment={DESK}").status_code == 200
        for section in ("pilot", "legacy", "champions", "changes"):
            r = client.get(f"/adoption/sections/{section}?deployment={DESK}")
            assert r.status_code == 200, (section, r.text)
        memo.settle()  # and no refresh was started behind them
        # Preparing again leaves the current answers alone (an analysis's, a reader's).
        app = client.app
        policy = BacklogPolicy.from_settings(serve)
        warm = served.warm(app.state.ledger, app.state.events, DESK, policy, missing_only=True)  # type: ignore[attr-defined]
        assert warm == 0
    assert not prepare._thread.is_alive()  # the server's end stopped it
