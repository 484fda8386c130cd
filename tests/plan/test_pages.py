"""The plan where it is shown: the /plan and /rollout pages, the overview's banner, and the
phases and gates on trend charts (server-rendered; the browser suite drives them for real)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import date
from pathlib import Path

import orjson
import pytest
import vl_convert
from fastapi.testclient import TestClient

from daytwo.governance.keys import create_key
from daytwo.governance.models import KeyScope, Role
from daytwo.http.timeline import Mark
from daytwo.metrics.charts import with_marks
from daytwo.plan import service
from daytwo.plan.consumer import evaluate_gates
from daytwo.server import create_app
from daytwo.settings import Settings
from daytwo.store.events import EventStore
from daytwo.store.ledger import Ledger
from tests.plan.conftest import DEPLOYMENT, START, day_of
from tests.plan.test_plan import plan


@pytest.fixture
def web(tmp_path: Path, sqlite_ledger: Ledger, events: EventStore) -> Iterator[TestClient]:
    app = create_app(Settings(data_dir=tmp_path / "data"), events=events, ledger=sqlite_ledger)
    with TestClient(app) as client:
        key, _ = create_key(sqlite_ledger, scope=KeyScope.admin, deployment=None)
        client.headers["authorization"] = f"Bearer {key}"
        yield client


def overridden(ledger: Ledger, events: EventStore) -> None:
    """The plan applied, its stabilise gate overridden on day 15 (signed the next day)."""
    service.apply_plan(ledger, events, plan(), actor="t")
    service.signoff(
        ledger,
        events,
        DEPLOYMENT,
        "stabilise",
        actor="user:root",
        role=Role.admin,
        reason="the incident is understood and fixed",
        override=True,
        through=day_of(15),
        at=START.replace(day=16),
    )
    service.evaluate(ledger, events, DEPLOYMENT)


def test_plan_page_shows_the_evidence_and_the_override(
    web: TestClient, sqlite_ledger: Ledger, events: EventStore
) -> None:
    empty = web.get("/plan")
    assert empty.status_code == 200
    assert "has no plan yet" in empty.text
    overridden(sqlite_ledger, events)
    page = web.get(f"/plan?deployment={DEPLOYMENT}").text
    assert "Day 40 of 60, in optimise: all 1 criteria met" in page
    assert "Passed by <strong>override</strong>" in page
    assert "the incident is understood and fixed" in page
    assert 'data-criterion="errors" data-verdict="met"' in page
    assert "/conversations?deployment=care-bot&amp;metric=error_rate" in page


def test_overview_banner_and_chart_marks(
    web: TestClient, sqlite_ledger: Ledger, events: EventStore
) -> None:
    overridden(sqlite_ledger, events)
    page = web.get(f"/overview?deployment={DEPLOYMENT}&start=2026-03-01&end=2026-04-09").text
    assert "data-plan-banner" in page
    assert "Day 40 of 60 · Optimise" in page
    assert "next gate: 1 of 1 criteria met" in page
    assert "stabilise passed by override" in page
    assert '"label":"stabilise overridden","kind":"overridden"' in page
    assert '"label":"optimise","kind":"phase"' in page


def test_rollout_page(web: TestClient) -> None:
    page = web.get(f"/rollout?deployment={DEPLOYMENT}")
    assert page.status_code == 200
    assert 'data-journey="billing" data-state="not_started"' in page.text
    r = web.post(
        f"/rollout/{DEPLOYMENT}/set",
        data={"journey": "billing", "state": "live"},
        follow_redirects=False,
    )
    assert r.status_code == 303
    assert "skips+or+reverses" in r.headers["location"]


def test_marks_join_any_dated_chart() -> None:
    spec = {
        "data": {"values": [{"day": "2026-03-01", "n": 1}, {"day": "2026-03-20", "n": 2}]},
        "mark": "bar",
        "encoding": {"x": {"field": "day"}},
    }
    marks = [Mark(date(2026, 3, 10), "optimise"), Mark(date(2026, 4, 30), "scale")]
    got = with_marks(spec, marks, "day")
    assert got["layer"][0] == {"mark": "bar", "encoding": {"x": {"field": "day"}}}
    drawn = got["layer"][1]["data"]["values"]
    assert [m["label"] for m in drawn] == ["optimise"]  # the scale mark is past the data
    assert with_marks(spec, [Mark(date(2026, 5, 1), "late")], "day") == spec
    assert orjson.dumps(got)  # JSON-ready


def test_marks_leave_a_chart_coloured_by_its_own_field_its_colours() -> None:
    # The marks colour by their kind with a fixed domain: on a colour scale shared with the
    # chart's, the gaps' weekly lines (one colour per gap) were drawn with no stroke at all.
    values = [
        {"week": week, "n": n, "gap": gap}
        for gap in ("refund status", "card fee")
        for week, n in (("2026-03-02", 3), ("2026-03-09", 5), ("2026-03-16", 8))
    ]
    spec = {
        "data": {"values": values},
        "mark": "line",
        "encoding": {
            "x": {"field": "week", "type": "temporal"},
            "y": {"field": "n", "type": "quantitative"},
            "color": {"field": "gap", "type": "nominal"},
        },
    }
    svg = vl_convert.vegalite_to_svg(
        with_marks(spec, [Mark(date(2026, 3, 10), "optimise")], "week")
    )
    strokes = re.findall(r'<path[^>]*aria-roledescription="line mark"[^>]*stroke="([^"]+)"', svg)
    assert len(set(strokes)) == 2, strokes  # one colour per gap
    assert "refund status" in svg  # and their legend
    assert "card fee" in svg


def test_a_gate_finding_row_shows_its_gate_not_empty_values(
    web: TestClient, sqlite_ledger: Ledger, events: EventStore
) -> None:
    """A passed gate that stopped holding has no baseline, sample or customers of its own:
    its row on the findings page says when the gate passed, who signed and how many of its
    criteria fail now, and links to the plan."""
    service.apply_plan(sqlite_ledger, events, plan(), actor="t")
    service.signoff(
        sqlite_ledger,
        events,
        DEPLOYMENT,
        "stabilise",
        actor="user:ana",
        role=Role.owner,
        through=day_of(8),
    )
    assert evaluate_gates(sqlite_ledger, events, DEPLOYMENT, through=day_of(12)) is not None
    page = web.get(f"/findings?deployment={DEPLOYMENT}&symptoms=1").text
    row = page[page.index('data-kind="gate_no_longer_holds"') :]
    row = row[: row.index("</tr>")]
    assert 'data-gate-criteria="1"' in row
    assert "→ 1 not met" in row
    assert "signed by user:ana" in row
    assert f"/plan?deployment={DEPLOYMENT}" in row
    assert "n=0" not in row
    assert "customers" not in row
