"""`/api/v1/gaps`, the knowledge-gaps pages and `daytwo gaps --json`."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from daytwo.cli.main import run
from daytwo.detect.gaps.models import GapRun
from daytwo.store.events import open_event_store
from tests.detect.gaps.conftest import store
from tests.detect.gaps.data import CRYPTO, PETS, SOLAR, traffic


@pytest.fixture
def seeded(client: TestClient) -> TestClient:
    resp = client.post("/api/v1/ingest", json={"interactions": traffic()})
    assert resp.status_code == 200, resp.text
    resp = client.post("/api/v1/gaps/runs", params={"deployment": "care-bot"})
    assert resp.status_code == 200, resp.text
    assert resp.json()["gaps"] == 3
    return client


def test_gaps_api_lists_gaps_with_examples_and_members(seeded: TestClient) -> None:
    gaps = seeded.get("/api/v1/gaps", params={"deployment": "care-bot"}).json()
    assert len(gaps) == 3
    assert all(g["members"] is None for g in gaps)
    assert [g["volume"] for g in gaps] == sorted((g["volume"] for g in gaps), reverse=True)
    full = seeded.get("/api/v1/gaps", params={"deployment": "care-bot", "members": True}).json()
    members = sorted(sorted(m["text"] for m in g["members"]) for g in full)
    assert members == sorted([sorted(CRYPTO), sorted(PETS), sorted(SOLAR)])
    assert set(full[0]["members"][0]) == {"interaction_id", "seq", "text"}
    one = seeded.get(f"/api/v1/gaps/{gaps[0]['id']}").json()
    assert one["id"] == gaps[0]["id"]
    assert len(one["members"]) == one["volume"]
    latest = seeded.get("/api/v1/gaps/runs/latest", params={"deployment": "care-bot"}).json()
    assert latest["gaps"] == 3
    # Incremental: no new data, no new run.
    again = seeded.post("/api/v1/gaps/runs", params={"deployment": "care-bot"}).json()
    assert again["id"] == latest["id"]


def test_gaps_api_errors(seeded: TestClient) -> None:
    resp = seeded.get("/api/v1/gaps/gap-missing")
    assert resp.status_code == 404
    assert resp.json()["error"]["code"] == "not_found"
    resp = seeded.get("/api/v1/gaps", params={"status": "closed"})
    assert resp.status_code == 422  # the schema lists the statuses
    assert [e["field"] for e in resp.json()["error"]["errors"]] == ["query.status"]
    resp = seeded.post("/api/v1/gaps/runs", params={"deployment": "nobody"})
    assert resp.status_code == 404
    assert seeded.get("/api/v1/gaps", params={"deployment": "nobody"}).json() == []


def test_gaps_pages_show_labels_trend_examples_journeys_and_the_cut(seeded: TestClient) -> None:
    page = seeded.get("/gaps", params={"deployment": "care-bot"})
    assert page.status_code == 200
    html = page.text
    assert "bitcoin" in html
    assert 'data-chart="chart-gaps"' in html
    # the chart's week axis ticks each week of the gaps' points, as UTC dates
    spec = orjson.loads(html.split('id="chart-gaps">', 1)[1].split("</script>", 1)[0])
    weeks = {w["week"] for g in seeded.get("/api/v1/gaps").json() for w in g["weekly"]}
    ticks = spec["encoding"]["x"]["axis"]["values"]
    assert weeks
    assert [f"{t['year']}-{t['month']:02d}-{t['date']:02d}" for t in ticks] == sorted(weeks)
    assert all(t["utc"] for t in ticks)
    assert "/journeys/billing" in html
    assert 'data-testid="gap-count">3<' in html
    assert 'data-testid="off-topic"' in html
    gap = seeded.get("/api/v1/gaps").json()[0]
    detail = seeded.get(f"/gaps/{gap['id']}")
    assert detail.status_code == 200
    assert gap["id"] in detail.text
    assert f"{gap['volume']} distinct wordings" in detail.text  # every wording differs here
    assert detail.text.count('<td class="num">1</td>') == gap["volume"]
    assert seeded.get("/gaps/gap-missing").status_code == 404
    # A deployment without known intents is cut on similarity centred on its own traffic; its
    # run records it (params.cluster.centre) and the page says where the cut came from.
    centred = "centred on this deployment's own traffic: no known intents to read it from"
    assert centred not in seeded.get("/gaps", params={"deployment": "care-bot"}).text
    ledger = seeded.app.state.ledger  # type: ignore[attr-defined]
    with ledger.session() as session:
        run = session.scalars(select(GapRun).where(GapRun.deployment == "care-bot")).one()
        cluster = {**run.params["cluster"], "min_similarity": 0.375, "centre": True}
        run.params = {**run.params, "cluster": cluster, "granularity": None}
    html = seeded.get("/gaps", params={"deployment": "care-bot"}).text
    assert f"cut at similarity 0.375 ({centred})" in html


def test_gaps_page_filters_sorts_and_keeps_the_filters_while_paging(seeded: TestClient) -> None:
    found = seeded.get("/gaps", params={"deployment": "care-bot", "q": "bitcoin"}).text
    assert 'data-testid="gap-count">1<' in found
    assert "/journeys/billing" in found
    none = seeded.get("/gaps", params={"deployment": "care-bot", "kind": "off_topic"}).text
    assert "No gap matches these filters" in none
    travel = seeded.get(
        "/gaps", params={"deployment": "care-bot", "gap_journey": "travel", "sort": "volume"}
    ).text
    assert 'data-testid="gap-count">1<' in travel
    assert '<option value="volume" selected>' in travel
    assert seeded.get("/gaps", params={"deployment": "care-bot", "sort": "size"}).status_code == 400


def test_gaps_page_before_any_run(client: TestClient) -> None:
    client.post("/api/v1/ingest", json={"interactions": traffic()})
    html = client.get("/gaps").text
    assert "No gap run yet" in html


@pytest.fixture
def data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "data"
    monkeypatch.setenv("DAYTWO_DATA_DIR", str(path))
    monkeypatch.delenv("DAYTWO_LEDGER_URL", raising=False)
    monkeypatch.delenv("DAYTWO_EVENTS_URL", raising=False)
    return path


def test_cli_gaps_json_lists_each_gap_with_its_member_utterances(
    data_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data_dir.mkdir(parents=True)
    with open_event_store(f"duckdb:///{data_dir / 'events.duckdb'}") as events:
        store(events, traffic())
    assert run(["gaps", "--deployment", "care-bot", "--json"]) == 0
    gaps = orjson.loads(capsys.readouterr().out)
    assert len(gaps) == 3
    for g in gaps:
        assert g["label"]
        assert g["kind"] in ("new_intent", "missing_knowledge", "misrouting")
        assert len(g["members"]) == g["volume"]
        for m in g["members"]:
            assert set(m) == {"interaction_id", "seq", "text"}
    # A table without --json, without clustering again.
    assert run(["gaps", "--deployment", "care-bot", "--no-refresh"]) == 0
    assert "bitcoin" in capsys.readouterr().out


def test_cli_gaps_errors(data_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data_dir.mkdir(parents=True)
    with open_event_store(f"duckdb:///{data_dir / 'events.duckdb'}") as events:
        store(events, traffic())
    assert run(["gaps", "--deployment", "nobody"]) == 4
    assert "no interactions" in capsys.readouterr().err
    assert run(["gaps", "--deployment", "care-bot", "--encoder", "bert"]) == 78
    assert "Unknown gap encoder" in capsys.readouterr().err
