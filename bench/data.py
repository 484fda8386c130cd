"""Synthetic but realistic interaction exports for throughput benchmarks.

The same records are written as nested JSONL (the wire format) and as a flat one-row-per-turn
Parquet export, so both import paths are measured on identical content.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import orjson
import pyarrow as pa
import pyarrow.parquet as pq

JOURNEYS = [
    "billing",
    "card_lost",
    "address_change",
    "fraud",
    "balance",
    "payments",
    "travel_notice",
    "account_access",
]
TEXTS = [
    "why was I charged twice",
    "I lost my card",
    "how do I change my address",
    "there is a payment I do not recognise",
    "what is my balance",
    "can you help me pay my bill",
    "I am travelling to Spain next week",
    "I cannot log in to my account",
    "Sorry, I did not get that.",
    "Let me check that for you.",
    "Here is what I found in your account.",
]


def build(n_interactions: int, turns_per: int, seed: int = 1) -> pa.Table:
    """A flat table, one row per turn, interaction columns repeated."""
    rng = np.random.default_rng(seed)
    n = n_interactions * turns_per
    base = int(datetime(2026, 6, 1, tzinfo=UTC).timestamp() * 1_000_000)
    inter = np.repeat(np.arange(n_interactions), turns_per)
    seq = np.tile(np.arange(turns_per), n_interactions)
    start = base + np.sort(rng.integers(0, 90 * 86_400_000_000, n_interactions))
    ts = start[inter] + seq * 20_000_000
    roles = np.where(seq % 2 == 0, "user", "assistant")
    text_idx = rng.integers(0, len(TEXTS), n)
    fallback = (roles == "assistant") & (rng.random(n) < 0.12)
    tz = pa.timestamp("us", tz="UTC")
    return pa.table(
        {
            "id": pa.array(np.char.add("b-", inter.astype(str))),
            "deployment": pa.array(np.full(n, "bench-bot")),
            "started_at": pa.array(start[inter], type=tz),
            "ended_at": pa.array(start[inter] + turns_per * 20_000_000, type=tz),
            "channel": pa.array(np.where(inter % 3 == 0, "voice", "chat")),
            "journey": pa.array(np.array(JOURNEYS)[inter % len(JOURNEYS)]),
            "customer_ref": pa.array(np.char.add("u-", (inter % 50_000).astype(str))),
            "outcome": pa.array(np.array(["contained", "escalated", "abandoned"])[inter % 3]),
            "csat": pa.array((inter % 5 + 1).astype(np.float64)),
            "segments.site": pa.array(np.array(["leeds", "cork", "porto"])[inter % 3]),
            "seq": pa.array(seq.astype(np.int32)),
            "ts": pa.array(ts, type=tz),
            "role": pa.array(roles),
            "text": pa.array(np.array(TEXTS)[text_idx]),
            "intent": pa.array(np.array(JOURNEYS)[inter % 8], mask=roles != "assistant"),
            "confidence": pa.array(np.where(roles == "assistant", rng.random(n), np.nan)),
            "fallback": pa.array(fallback),
            "latency_ms": pa.array(np.where(roles == "assistant", rng.gamma(2, 300, n), np.nan)),
        }
    )


def write_parquet(table: pa.Table, path: Path) -> None:
    pq.write_table(table, path, row_group_size=128 * 1024)


def jsonl_lines(table: pa.Table, turns_per: int) -> list[bytes]:
    """Nested wire-format lines from the flat table."""
    cols = table.to_pydict()
    lines: list[bytes] = []
    for i in range(0, table.num_rows, turns_per):
        turns = []
        for k in range(i, i + turns_per):
            t = {
                "seq": cols["seq"][k],
                "ts": cols["ts"][k].isoformat(),
                "role": cols["role"][k],
                "text": cols["text"][k],
            }
            if cols["role"][k] == "assistant":
                t.update(
                    intent=cols["intent"][k],
                    confidence=cols["confidence"][k],
                    fallback=cols["fallback"][k],
                    latency_ms=cols["latency_ms"][k],
                )
            turns.append(t)
        lines.append(
            orjson.dumps(
                {
                    "id": cols["id"][i],
                    "deployment": cols["deployment"][i],
                    "started_at": cols["started_at"][i].isoformat(),
                    "ended_at": cols["ended_at"][i].isoformat(),
                    "channel": cols["channel"][i],
                    "journey": cols["journey"][i],
                    "customer_ref": cols["customer_ref"][i],
                    "outcome": cols["outcome"][i],
                    "csat": cols["csat"][i],
                    "segments": {"site": cols["segments.site"][i]},
                    "turns": turns,
                }
            )
        )
    return lines
