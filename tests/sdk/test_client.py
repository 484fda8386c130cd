"""`daytwo.sdk.Client` against a scripted endpoint: batching, retries, errors, never blocking."""

from __future__ import annotations

import dataclasses
import logging
import threading
import time
from datetime import UTC, datetime, timedelta, timezone

import httpx
import orjson
import pytest

import daytwo.sdk
from daytwo.interactions import InteractionIn
from daytwo.sdk import Client, ClientStats, UndeliveredRecord
from tests.sdk.conftest import Ingest, MakeClient, record


class Collect:
    """An ``on_error`` that keeps what it is given."""

    def __init__(self) -> None:
        self.records: list[UndeliveredRecord] = []
        self.calls = 0

    def __call__(self, records: list[UndeliveredRecord]) -> None:
        self.calls += 1
        self.records.extend(records)


def invariant_holds(stats: ClientStats, logged: int) -> bool:
    accounted = stats.queued + stats.accepted + stats.rejected + stats.failed
    return accounted + stats.dropped == logged


def test_public_surface_is_exported_once() -> None:
    assert daytwo.sdk.__all__ == ["Client", "ClientStats", "UndeliveredRecord"]
    for name in daytwo.sdk.__all__:
        obj = getattr(daytwo.sdk, name)
        assert obj.__module__.startswith("daytwo.sdk")
        assert obj.__doc__


def test_a_request_is_ndjson_with_auth_and_partial(ingest: Ingest, make_client: MakeClient) -> None:
    client = make_client()
    assert client.log(record(1))
    assert client.flush(timeout=5)
    (sent,) = ingest.requests
    assert sent.url.path == "/api/v1/ingest"
    assert sent.params == {"partial": "true"}
    assert sent.headers["content-type"] == "application/x-ndjson"
    assert sent.headers["authorization"] == "Bearer dt_secret"
    assert sent.headers["user-agent"].startswith("daytwo-python")
    assert sent.body == orjson.dumps(record(1)) + b"\n"


def test_batches_fill_up_to_batch_size(ingest: Ingest, make_client: MakeClient) -> None:
    client = make_client(batch_size=10)
    for n in range(25):
        client.log(record(n))
    first, second = ingest.wait_for(2)
    assert first.ids == [f"c-{n:06d}" for n in range(10)]
    assert second.ids == [f"c-{n:06d}" for n in range(10, 20)]
    time.sleep(0.1)
    assert len(ingest.requests) == 2  # the last 5 wait for the interval or a flush
    assert client.stats.queued == 5
    assert client.flush(timeout=5)
    assert ingest.requests[2].ids == [f"c-{n:06d}" for n in range(20, 25)]


def test_a_partial_batch_goes_after_the_flush_interval(
    ingest: Ingest, make_client: MakeClient
) -> None:
    client = make_client(batch_size=500, flush_interval=0.05)
    started = time.monotonic()
    for n in range(3):
        client.log(record(n))
    (sent,) = ingest.wait_for(1)
    assert sent.ids == ["c-000000", "c-000001", "c-000002"]
    assert sent.at - started >= 0.04


def test_flush_waits_until_delivered(ingest: Ingest, make_client: MakeClient) -> None:
    client = make_client()
    assert client.flush(timeout=1)  # nothing queued: at once
    for n in range(7):
        client.log(record(n))
    assert client.flush()
    assert ingest.ids == [f"c-{n:06d}" for n in range(7)]
    stats = client.stats
    assert (stats.queued, stats.sent, stats.accepted, stats.retries) == (0, 7, 7, 0)
    assert invariant_holds(stats, 7)


def test_flush_gives_up_waiting_after_its_timeout(ingest: Ingest, make_client: MakeClient) -> None:
    ingest.replies = [httpx.Response(503, headers={"retry-after": "0.5"})]
    client = make_client()
    client.log(record(1))
    assert client.flush(timeout=0.1) is False
    assert client.stats.queued == 1
    assert client.flush(timeout=5)
    assert client.stats.accepted == 1


def test_a_503_is_retried_with_the_very_same_batch(ingest: Ingest, make_client: MakeClient) -> None:
    ingest.replies = [httpx.Response(503), httpx.Response(502)]
    client = make_client()
    for n in range(5):
        client.log(record(n))
    assert client.flush(timeout=5)
    bodies = [sent.body for sent in ingest.requests]
    assert len(bodies) == 3
    assert bodies[0] == bodies[1] == bodies[2]
    stats = client.stats
    assert (stats.retries, stats.sent, stats.accepted, stats.failed) == (2, 5, 5, 0)


def test_connection_errors_and_timeouts_are_retried(
    ingest: Ingest, make_client: MakeClient
) -> None:
    ingest.replies = [httpx.ConnectError("refused"), httpx.ReadTimeout("slow")]
    client = make_client()
    client.log(record(1))
    assert client.flush(timeout=5)
    assert len(ingest.requests) == 3
    assert ingest.ids == ["c-000001"] * 3
    assert (client.stats.retries, client.stats.accepted) == (2, 1)


def test_retry_after_is_honoured_on_429(ingest: Ingest, make_client: MakeClient) -> None:
    ingest.replies = [httpx.Response(429, headers={"Retry-After": "0.3"})]
    client = make_client(backoff_base=0.0, backoff_max=0.0)
    client.log(record(1))
    assert client.flush(timeout=5)
    first, second = ingest.requests
    assert second.at - first.at >= 0.29
    assert client.stats.retries == 1


def test_retries_are_bounded(ingest: Ingest, make_client: MakeClient) -> None:
    ingest.replies = [httpx.Response(500)] * 10
    errors = Collect()
    client = make_client(max_retries=2, on_error=errors)
    client.log(record(1))
    client.log(record(2))
    assert client.flush(timeout=5)
    assert len(ingest.requests) == 3
    stats = client.stats
    assert (stats.retries, stats.failed, stats.failed_batches, stats.sent) == (2, 2, 1, 0)
    assert [(r.id, r.reason, r.status) for r in errors.records] == [
        ("c-000001", "failed", 500),
        ("c-000002", "failed", 500),
    ]
    assert errors.records[0].line == orjson.dumps(record(1))
    assert invariant_holds(stats, 2)


def test_a_client_error_is_not_retried(ingest: Ingest, make_client: MakeClient) -> None:
    ingest.replies = [
        httpx.Response(401, json={"error": {"code": "unauthorized", "message": "bad key"}})
    ]
    errors = Collect()
    client = make_client(on_error=errors)
    client.log(record(1))
    assert client.flush(timeout=5)
    assert len(ingest.requests) == 1
    assert (client.stats.failed, client.stats.failed_batches, client.stats.retries) == (1, 1, 0)
    (failed,) = errors.records
    assert (failed.reason, failed.status, failed.message) == ("failed", 401, "HTTP 401: bad key")


def test_invalid_records_are_reported_and_the_others_sent_again_without_them(
    ingest: Ingest, make_client: MakeClient
) -> None:
    """All-or-nothing mode: a 422 stored nothing, so the valid records go again, alone."""
    ingest.replies = [
        httpx.Response(
            422,
            json={
                "error": {
                    "code": "invalid_records",
                    "message": "2 of 5 records are invalid; nothing was stored.",
                    "errors": [
                        {"index": 1, "id": "c-000001", "field": "csat", "message": "too big"},
                        {"index": 1, "id": "c-000001", "field": "outcome", "message": "unknown"},
                        {"index": 3, "id": "c-000003", "field": "started_at", "message": "bad"},
                    ],
                    "received": 5,
                }
            },
        )
    ]
    errors = Collect()
    client = make_client(partial=False, on_error=errors)
    for n in range(5):
        client.log(record(n))
    assert client.flush(timeout=5)
    first, second = ingest.requests  # and no third: invalid records are never retried
    assert first.params == {}
    assert first.ids == [f"c-{n:06d}" for n in range(5)]
    assert second.ids == ["c-000000", "c-000002", "c-000004"]
    assert [(r.id, r.reason, r.status, r.fields) for r in errors.records] == [
        ("c-000001", "invalid", 422, ("csat", "outcome")),
        ("c-000003", "invalid", 422, ("started_at",)),
    ]
    assert errors.records[0].message == "csat: too big; outcome: unknown"
    assert errors.records[1].line == orjson.dumps(record(3))
    stats = client.stats
    assert (stats.accepted, stats.rejected, stats.retries, stats.failed) == (3, 2, 0, 0)
    assert invariant_holds(stats, 5)


def test_partial_mode_reports_the_rejected_records_once(
    ingest: Ingest, make_client: MakeClient
) -> None:
    ingest.replies = [
        httpx.Response(
            200,
            json={
                "received": 3,
                "accepted": 2,
                "rejected": 1,
                "inserted": 2,
                "replaced": 0,
                "turns": 0,
                "errors": [{"index": 2, "id": "c-000002", "field": "csat", "message": "no"}],
            },
        )
    ]
    errors = Collect()
    client = make_client(on_error=errors)
    for n in range(3):
        client.log(record(n))
    assert client.flush(timeout=5)
    assert len(ingest.requests) == 1
    assert [(r.id, r.reason, r.fields) for r in errors.records] == [
        ("c-000002", "invalid", ("csat",))
    ]
    stats = client.stats
    assert (stats.sent, stats.accepted, stats.rejected) == (3, 2, 1)
    assert invariant_holds(stats, 3)


def test_a_413_halves_the_batch(ingest: Ingest, make_client: MakeClient) -> None:
    ingest.replies = [httpx.Response(413), httpx.Response(413)]
    errors = Collect()
    client = make_client(on_error=errors)
    for n in range(4):
        client.log(record(n))
    assert client.flush(timeout=5)
    assert [len(sent.ids) for sent in ingest.requests] == [4, 2, 1, 1, 2]
    assert ingest.ids[6:] == ["c-000000", "c-000001", "c-000002", "c-000003"]
    assert client.stats.accepted == 4
    assert errors.records == []


def test_a_single_record_the_server_finds_too_large_is_rejected(
    ingest: Ingest, make_client: MakeClient
) -> None:
    ingest.replies = [httpx.Response(413)]
    errors = Collect()
    client = make_client(on_error=errors)
    client.log(record(1))
    assert client.flush(timeout=5)
    assert [(r.id, r.reason, r.status) for r in errors.records] == [("c-000001", "invalid", 413)]
    assert client.stats.rejected == 1


def test_bodies_stay_under_the_byte_limit(ingest: Ingest, make_client: MakeClient) -> None:
    errors = Collect()
    client = make_client(max_batch_bytes=2048, on_error=errors)
    for n in range(10):
        client.log(record(n, text="x" * 500))
    client.log(record(99, text="x" * 3000))
    assert client.flush(timeout=5)
    assert all(len(sent.body) <= 2048 for sent in ingest.requests)
    assert len(ingest.requests) > 1
    assert ingest.ids == [f"c-{n:06d}" for n in range(10)]
    (too_big,) = errors.records
    assert (too_big.id, too_big.reason) == ("c-000099", "invalid")
    assert "limit" in too_big.message


def test_a_full_queue_drops_counts_and_never_blocks(
    ingest: Ingest, make_client: MakeClient, caplog: pytest.LogCaptureFixture
) -> None:
    ingest.gate = threading.Event()  # the server hangs until the test ends
    client = make_client(batch_size=5, max_queue=10)
    for n in range(5):
        client.log(record(n))
    assert ingest.entered.wait(5)  # the sender is stuck on the first batch
    started = time.monotonic()
    with caplog.at_level(logging.WARNING, logger="daytwo.sdk"):
        queued = [client.log(record(n)) for n in range(5, 105)]
    assert time.monotonic() - started < 1.0
    assert queued == [True] * 10 + [False] * 90
    stats = client.stats
    assert (stats.dropped, stats.queued) == (90, 15)
    assert invariant_holds(stats, 105)
    assert [r.message for r in caplog.records].count(caplog.records[0].message) == 1
    assert "queue is full" in caplog.records[0].message
    ingest.gate.set()
    assert client.flush(timeout=5)
    assert ingest.ids == [f"c-{n:06d}" for n in range(15)]


def test_close_flushes_and_later_logs_are_dropped(
    ingest: Ingest, make_client: MakeClient, caplog: pytest.LogCaptureFixture
) -> None:
    client = make_client()
    for n in range(7):
        client.log(record(n))
    assert client.close(timeout=5)
    assert ingest.ids == [f"c-{n:06d}" for n in range(7)]
    with caplog.at_level(logging.WARNING, logger="daytwo.sdk"):
        assert client.log(record(8)) is False
        assert client.log(record(9)) is False
    assert len(caplog.records) == 1
    assert "after close" in caplog.records[0].message
    assert client.stats.dropped == 2
    assert client.close(timeout=1)  # closing twice is harmless


def test_the_context_manager_closes(ingest: Ingest) -> None:
    with Client("http://daytwo.test", transport=ingest.transport(), flush_interval=30) as client:
        client.log(record(1))
    assert ingest.ids == ["c-000001"]
    assert "authorization" not in ingest.requests[0].headers
    assert client.log(record(2)) is False


def test_close_gives_up_at_its_deadline(ingest: Ingest, make_client: MakeClient) -> None:
    ingest.replies = [httpx.Response(503, headers={"retry-after": "30"})] * 5
    errors = Collect()
    client = make_client(on_error=errors)
    for n in range(3):
        client.log(record(n))
    assert client.flush(timeout=0.1) is False
    started = time.monotonic()
    assert client.close(timeout=0.5)
    assert time.monotonic() - started < 2
    assert client.stats.failed == 3
    assert {r.reason for r in errors.records} == {"failed"}


def test_trouble_never_reaches_the_host(
    ingest: Ingest, make_client: MakeClient, caplog: pytest.LogCaptureFixture
) -> None:
    def broken_on_error(records: list[UndeliveredRecord]) -> None:
        assert client.flush() is False  # from the sender thread: refuses instead of deadlocking
        raise RuntimeError("the host's callback is broken")

    ingest.replies = [RuntimeError("a broken transport")]
    client = make_client(on_error=broken_on_error)
    circular: dict[str, object] = {"id": "loop"}
    circular["self"] = circular
    with caplog.at_level(logging.ERROR, logger="daytwo.sdk"):
        assert client.log(circular)
        assert client.log(object())  # type: ignore[arg-type]
        loop: list[object] = []
        loop.append(loop)
        assert client.log_interaction(id="c-x", deployment="d", started_at="x", turns=loop)
        assert client.log(record(1))
        assert client.flush(timeout=5)
    assert "on_error raised" in caplog.text
    stats = client.stats
    assert (stats.rejected, stats.accepted, stats.retries) == (3, 1, 1)
    client.log(record(2))  # the sender is still alive
    assert client.flush(timeout=5)
    assert ingest.ids[-1] == "c-000002"


def test_log_interaction_writes_datetimes_with_their_zone(
    ingest: Ingest, make_client: MakeClient, caplog: pytest.LogCaptureFixture
) -> None:
    client = make_client()
    paris = timezone(timedelta(hours=1))
    with caplog.at_level(logging.WARNING, logger="daytwo.sdk"):
        client.log_interaction(
            id="c-1",
            deployment="care-bot",
            started_at=datetime(2026, 3, 2, 9, 14, 5, tzinfo=paris),
            ended_at=datetime(2026, 3, 2, 9, 17, 40),  # naive: taken as UTC
            outcome="escalated",
            turns=[{"seq": 0, "ts": datetime(2026, 3, 2, 9, 14, 5), "role": "user"}],
        )
        client.log_interaction(id="c-2", deployment="care-bot", started_at="2026-03-02T10:00:00Z")
    assert client.flush(timeout=5)
    first, second = ingest.requests[0].records
    assert first == {
        "id": "c-1",
        "deployment": "care-bot",
        "started_at": "2026-03-02T09:14:05+01:00",
        "ended_at": "2026-03-02T09:17:40+00:00",
        "outcome": "escalated",
        "turns": [{"seq": 0, "ts": "2026-03-02T09:14:05+00:00", "role": "user"}],
    }
    assert second["started_at"] == "2026-03-02T10:00:00Z"
    assert len(caplog.records) == 1  # two naive datetimes, one warning
    assert "naive" in caplog.records[0].message


def test_pydantic_models_and_naive_datetimes_in_dicts_serialise(
    ingest: Ingest, make_client: MakeClient
) -> None:
    client = make_client()
    model = InteractionIn(
        id="c-1", deployment="care-bot", started_at=datetime(2026, 3, 2, 9, 14, 5, tzinfo=UTC)
    )
    client.log(model)
    client.log({"id": "c-2", "deployment": "care-bot", "started_at": datetime(2026, 3, 2)})
    assert client.flush(timeout=5)
    first, second = ingest.requests[0].records
    assert first["id"] == "c-1"
    assert first["started_at"] == "2026-03-02T09:14:05Z"
    assert "ended_at" not in first
    assert second["started_at"] == "2026-03-02T00:00:00Z"


def test_stats_are_a_frozen_snapshot(make_client: MakeClient) -> None:
    client = make_client()
    before = client.stats
    client.log(record(1))
    assert before.queued == 0
    with pytest.raises(dataclasses.FrozenInstanceError):
        before.sent = 3  # type: ignore[misc]


@pytest.mark.parametrize(
    "options",
    [{"batch_size": 0}, {"batch_size": 5001}, {"max_queue": 0}, {"timeout": 0}],
)
def test_bad_options_are_refused_up_front(options: dict[str, int]) -> None:
    with pytest.raises(ValueError):
        Client("http://daytwo.test", **options)  # type: ignore[arg-type]


def test_a_base_url_with_a_path_prefix_is_kept(ingest: Ingest) -> None:
    with Client("http://proxy.test/daytwo/", transport=ingest.transport()) as client:
        client.log(record(1))
    assert str(ingest.requests[0].url) == "http://proxy.test/daytwo/api/v1/ingest?partial=true"


def test_the_api_key_comes_from_the_environment_unless_given(
    ingest: Ingest, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DAYTWO_API_KEY", "dt_from_env")
    with Client("http://daytwo.test", transport=ingest.transport(), flush_interval=30) as c:
        c.log(record(1))
    with Client(
        "http://daytwo.test", "dt_given", transport=ingest.transport(), flush_interval=30
    ) as c:
        c.log(record(2))
    assert [r.headers["authorization"] for r in ingest.requests] == [
        "Bearer dt_from_env",
        "Bearer dt_given",
    ]
