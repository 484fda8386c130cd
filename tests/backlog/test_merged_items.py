"""An item merged into another item's problem leaves the backlog's lists: the page, the API
and every count read the problems, and the merged item says where its findings went."""

from __future__ import annotations

import re
from datetime import timedelta

from fastapi.testclient import TestClient

from daytwo.backlog import service
from daytwo.backlog.intake import absorb_detected
from daytwo.backlog.models import Item
from daytwo.backlog.policy import BacklogPolicy
from daytwo.detect import service as detect_service
from daytwo.detect.findings import Finding
from daytwo.store.ledger import Ledger
from tests.backlog.test_api import DEPLOYMENT, _finding, _setup
from tests.backlog.test_finding_page import ONSET, _acceptance


def _look(ledger: Ledger, findings: list[Finding], day: int) -> None:
    run = detect_service.start_run(ledger, DEPLOYMENT, ["degradation"])
    detect_service.record_findings(
        ledger, run, DEPLOYMENT, ["degradation"], findings, since=None,
        data_through=ONSET + timedelta(days=day), interactions=2000,
    )  # fmt: skip
    absorb_detected(ledger, BacklogPolicy(), deployment=DEPLOYMENT)


def _merged(client: TestClient) -> tuple[int, int]:
    """Day 0 sees a team alone (its own item); days 1 and 2 see its site, which explains it
    (held on day 1, raised on day 2): the team's item, still new, merges into the site's."""
    _setup(client)
    ledger: Ledger = client.app.state.ledger  # type: ignore[attr-defined]
    _look(ledger, [_acceptance(("team", "leeds-1"))], 0)
    (early,) = client.get("/api/v1/items", params={"deployment": DEPLOYMENT}).json()
    site = _acceptance(("site", "leeds"))
    team = _acceptance(("team", "leeds-1"), root=site.fingerprint)
    for day in (1, 2):
        _look(ledger, [team, site], day)
    items = client.get("/api/v1/items", params={"deployment": DEPLOYMENT}).json()
    assert [i["id"] for i in items] != [early["id"]]
    (root,) = items
    return int(early["id"]), int(root["id"])


def test_merged_items_are_listed_only_when_asked(client: TestClient) -> None:
    early, root = _merged(client)
    every = client.get("/api/v1/items", params={"deployment": DEPLOYMENT, "merged": True}).json()
    assert {i["id"]: i["merged_into"] for i in every} == {root: None, early: root}
    merged = client.get(f"/api/v1/items/{early}").json()
    assert merged["status"] == "wont_fix"
    assert merged["findings"] == []
    assert client.get(f"/api/v1/items/{root}").json()["merged"] == [early]
    # A status filter does not bring them back either.
    wont = client.get("/api/v1/items", params={"status": "wont_fix"}).json()
    assert wont == []
    # The page shows the problems and says what it left out.
    page = client.get("/backlog").text
    rows = re.findall(r'<tr data-item="(\d+)"', page)
    assert rows == [str(root)]
    assert "1 item merged into another item's problem is not listed" in page
    assert re.search(r'data-count="open">1<', page)  # the problem, not the merged item
    shown = client.get("/backlog", params={"merged": "1"}).text
    assert set(re.findall(r'<tr data-item="(\d+)"', shown)) == {str(root), str(early)}
    assert f'merged into <a href="/backlog/{root}">#{root}</a>' in shown
    item = client.get(f"/backlog/{early}").text
    assert f'data-merged-into="{root}"' in item
    assert f'<a href="/backlog/{early}">#{early}</a>' in client.get(f"/backlog/{root}").text


def test_an_item_closed_after_its_due_date_reads_late_not_overdue(client: TestClient) -> None:
    """Its SLA was breached, but it is done: the list says "late", and it is not counted among
    the open items past an SLA."""
    _setup(client)
    ledger: Ledger = client.app.state.ledger  # type: ignore[attr-defined]
    made = client.post("/api/v1/items/from-finding", json=_finding())
    item_id = made.json()["item"]["id"]
    with ledger.session() as session:  # due yesterday: every step from here on is late
        row = session.get(Item, item_id)
        assert row is not None
        row.triage_due = row.fix_due = row.created_at - timedelta(days=1)
    open_page = client.get("/backlog").text
    assert re.search(
        rf'data-item="{item_id}".*?<td class="sla-breached">overdue</td>', open_page, re.S
    )
    assert re.search(r'data-count="overdue">1<', open_page)
    with ledger.session() as session:
        row = service.get_row(session, item_id)
        for step in ("triaged", "in_progress", "fix_shipped", "verified"):
            service.transition(session, row, step, BacklogPolicy(), actor="system")
    page = client.get("/backlog", params={"status": "verified"}).text
    cell = re.search(
        rf'data-item="{item_id}".*?<td class="sla-breached"([^>]*)>(\w+)</td>', page, re.S
    )
    assert cell is not None
    assert cell.group(2) == "late"
    assert "Closed after its due date" in cell.group(1)
    assert re.search(r'data-count="overdue">0<', page)
    board = client.get("/backlog", params={"status": "verified", "view": "board"}).text
    assert '<span class="sla-breached">late</span>' in board
