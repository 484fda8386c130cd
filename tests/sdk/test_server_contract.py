"""The SDK against the real daytwo app (served by uvicorn on loopback): the contract holds.

Both ingest modes: in partial mode the server stores the valid records and names the rest; in
all-or-nothing mode it refuses the batch (422), the client reports the invalid records and
sends the others again. Either way exactly the valid records are stored, once.
"""

from __future__ import annotations

from typing import Any

import pytest
from fastapi import FastAPI

from daytwo.governance.keys import create_key
from daytwo.governance.models import KeyScope
from daytwo.sdk import Client, UndeliveredRecord
from tests.factory import interaction


def _records() -> list[dict[str, Any]]:
    good = [interaction(n, turns=2) for n in range(20)]
    bad_outcome = interaction(20, outcome="maybe")
    no_start = interaction(21)
    del no_start["started_at"]
    return [*good[:7], bad_outcome, *good[7:15], no_start, *good[15:]]


@pytest.mark.parametrize("partial", [True, False])
def test_only_the_valid_records_are_stored_once(served: tuple[str, FastAPI], partial: bool) -> None:
    url, app = served
    undelivered: list[UndeliveredRecord] = []
    key, _ = create_key(app.state.ledger, scope=KeyScope.ingest, deployment="care-bot")
    client = Client(url, key, batch_size=100, partial=partial, on_error=undelivered.extend)
    for rec in _records():
        client.log(rec)
    assert client.close(timeout=10)
    stats = client.stats
    assert (stats.accepted, stats.rejected, stats.failed, stats.queued) == (20, 2, 0, 0)
    assert sorted((r.id, r.reason) for r in undelivered) == [
        ("c-000020", "invalid"),
        ("c-000021", "invalid"),
    ]
    assert {f for r in undelivered for f in r.fields} >= {"outcome", "started_at"}
    assert app.state.events.count("interactions") == 20
