"""Pseudonymous customer references: a deployment's policy can have `customer_ref` stored as a
keyed hash, the same on every door (the JSON API and OTLP traces), never the original."""

from __future__ import annotations

import hashlib
import hmac
import time

import httpx
import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.proto.trace.v1.trace_pb2 import Span

from daytwo.errors import ConfigError
from daytwo.governance import RedactionPolicy, policies
from daytwo.governance.models import KeyScope
from daytwo.settings import Settings
from daytwo.store.ledger import Ledger, upgrade
from tests.factory import interaction
from tests.ingest.otlp.conftest import LiveServer


def _span(customer: str, conversation: str = "t-1", span_id: bytes = b"\x02" * 8) -> bytes:
    now = time.time_ns()
    span = Span(
        trace_id=b"\x01" * 16,
        span_id=span_id,
        name="chat",
        start_time_unix_nano=now - 2 * 10**9,
        end_time_unix_nano=now - 10**9,
    )
    for key, value in (
        ("gen_ai.operation.name", "chat"),
        ("gen_ai.conversation.id", conversation),
        ("user.id", customer),
        ("gen_ai.input.messages", '[{"role":"user","parts":[{"type":"text","content":"hi"}]}]'),
    ):
        span.attributes.append(KeyValue(key=key, value=AnyValue(string_value=value)))
    req = ExportTraceServiceRequest()
    rs = req.resource_spans.add()
    rs.resource.attributes.append(
        KeyValue(key="service.name", value=AnyValue(string_value="care-bot"))
    )
    rs.scope_spans.add().spans.append(span)
    return req.SerializeToString()


def test_both_doors_store_the_same_pseudonym(live: LiveServer) -> None:
    ledger = live.app.state.ledger
    policies.set_policy(ledger, "care-bot", redaction=RedactionPolicy(pseudonymize_customers=True))
    admin = live.key(scope=KeyScope.admin, deployment=None)
    record = interaction(1) | {"customer_ref": "alice@example.com"}
    r = httpx.post(
        live.url + "/api/v1/ingest",
        json={"interactions": [record]},
        headers={"authorization": f"Bearer {admin}"},
    )
    assert r.status_code == 200
    r = httpx.post(
        live.url + "/v1/traces",
        content=_span("alice@example.com"),
        headers={
            "authorization": f"Bearer {live.key()}",
            "content-type": "application/x-protobuf",
        },
    )
    assert r.status_code == 200
    live.end_conversations()
    refs = {
        row["interaction_id"]: row["customer_ref"]
        for row in live.query("SELECT interaction_id, customer_ref FROM interactions")
    }
    key = live.app.state.settings.pseudonym_key()
    expected = "p_" + hmac.new(key, b"alice@example.com", hashlib.sha256).hexdigest()[:24]
    assert refs == {record["id"]: expected, "t-1": expected}
    staged_or_stored = live.query(
        "SELECT count(*) AS n FROM interactions WHERE customer_ref LIKE '%alice%'"
    )
    assert staged_or_stored == [{"n": 0}]


def test_a_pseudonymising_policy_needs_a_key(settings: Settings) -> None:
    upgrade(settings.resolved_ledger_url)
    ledger = Ledger(settings.resolved_ledger_url)
    try:
        policies.set_policy(ledger, "x", redaction=RedactionPolicy(pseudonymize_customers=True))
        with pytest.raises(ConfigError, match="pseudonym key"):
            policies.redaction_plan(ledger)
        assert policies.redaction_plan(ledger, settings.pseudonym_key()).pseudonymized == {"x"}
        # The key is kept: the same customer keeps one reference across restarts.
        assert Settings(data_dir=settings.data_dir).pseudonym_key() == settings.pseudonym_key()
    finally:
        ledger.dispose()


def test_a_policy_changed_between_two_requests_applies_to_the_second(live: LiveServer) -> None:
    """The door keeps its redaction plan between requests, never past a policy change."""
    headers = {"authorization": f"Bearer {live.key()}", "content-type": "application/x-protobuf"}
    before = httpx.post(live.url + "/v1/traces", content=_span("bob"), headers=headers)
    assert before.status_code == 200
    ledger = live.app.state.ledger
    policies.set_policy(ledger, "care-bot", redaction=RedactionPolicy(pseudonymize_customers=True))
    after = httpx.post(
        live.url + "/v1/traces", content=_span("bob", "t-2", b"\x03" * 8), headers=headers
    )
    assert after.status_code == 200
    live.end_conversations()
    refs = {
        row["interaction_id"]: row["customer_ref"]
        for row in live.query("SELECT interaction_id, customer_ref FROM interactions")
    }
    key = live.app.state.settings.pseudonym_key()
    assert refs == {
        "t-1": "bob",
        "t-2": "p_" + hmac.new(key, b"bob", hashlib.sha256).hexdigest()[:24],
    }
