"""Realistic wire-format records for tests (the demo generator makes bulk data)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import orjson

BASE = datetime(2026, 3, 2, 9, 14, 5, tzinfo=UTC)


def iso(ts: datetime) -> str:
    return ts.isoformat().replace("+00:00", "Z")


def interaction(
    n: int = 0, *, turns: int = 4, deployment: str = "care-bot", **overrides: Any
) -> dict[str, Any]:
    """One interaction in the wire format, as a dict; ``n`` varies ids and times."""
    start = BASE + timedelta(minutes=7 * n)
    rec: dict[str, Any] = {
        "id": f"c-{n:06d}",
        "deployment": deployment,
        "started_at": iso(start),
        "ended_at": iso(start + timedelta(seconds=30 * turns + 5)),
        "channel": "chat" if n % 3 else "voice",
        "journey": ("billing", "card_lost", "address_change")[n % 3],
        "customer_ref": f"u-{n % 97:05d}",
        "agent_ref": None,
        "segments": {"site": ("leeds", "cork", "porto")[n % 3], "language": "en", "tenure": "0-6m"},
        "outcome": ("contained", "escalated", "abandoned")[n % 3],
        "csat": 1 + n % 5,
        "handle_time_s": 30.0 * turns,
        "cost": 0.031,
        "ai_used": True,
        "turns": [
            {
                "seq": k,
                "ts": iso(start + timedelta(seconds=30 * k)),
                "role": "user" if k % 2 == 0 else "assistant",
                "text": "why was I charged twice" if k % 2 == 0 else "Let me check that.",
                **(
                    {}
                    if k % 2 == 0
                    else {
                        "intent": "billing_dispute",
                        "confidence": 0.82,
                        "fallback": False,
                        "latency_ms": 640,
                        "model": "gpt-4o-mini",
                        "tokens_in": 412,
                        "tokens_out": 18,
                        "cost": 0.0004,
                    }
                ),
            }
            for k in range(turns)
        ],
        "assist_events": [],
    }
    rec.update(overrides)
    return rec


def ndjson(records: list[dict[str, Any]]) -> bytes:
    return b"\n".join(orjson.dumps(r) for r in records) + b"\n"


def admin_key(ledger_url: str) -> str:
    """An admin API key in the ledger at ``ledger_url`` (migrated first), for real servers."""
    from daytwo.governance.keys import create_key
    from daytwo.governance.models import KeyScope
    from daytwo.store.ledger import Ledger, upgrade

    upgrade(ledger_url)
    ledger = Ledger(ledger_url)
    try:
        key, _ = create_key(ledger, scope=KeyScope.admin, deployment=None, name="tests")
    finally:
        ledger.dispose()
    return key
