"""What `daytwo doctor` and the health endpoint report about the events store.

Each engine answers :meth:`~daytwo.store.events.base.EventStore.health` with a few
:class:`Check` results; a check is ``ok``, ``warn`` (degrading: act before queries fail) or
``fail`` (not serving). The thresholds are ClickHouse's own limits with a margin: inserts slow
down at ``parts_to_delay_insert`` (1,000 active parts in a partition by default) and fail at
``parts_to_throw_insert`` (3,000); a query fails past its memory limit.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

from daytwo.clock import aware

Status = Literal["ok", "warn", "fail"]
_RANK = {"ok": 0, "warn": 1, "fail": 2}

# Active parts in one partition: warn well before ClickHouse delays inserts (1,000).
PARTS_WARN = 300
# Share of the memory limit in use at which query-memory pressure is reported.
MEMORY_WARN = 0.8
# Data this much older than its retention means retention is not being applied.
RETENTION_SLACK = timedelta(days=2)


@dataclass(frozen=True, slots=True)
class Check:
    name: str
    status: Status
    value: str
    detail: str = ""


@dataclass(frozen=True, slots=True)
class StoreHealth:
    engine: str
    location: str
    checks: list[Check] = field(default_factory=list)

    @property
    def status(self) -> Status:
        worst: Status = "ok"
        for c in self.checks:
            if _RANK[c.status] > _RANK[worst]:
                worst = c.status
        return worst

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> StoreHealth:
        """The report :meth:`as_dict` wrote (what the health endpoint answers)."""
        checks = [
            Check(c["name"], c["status"], c["value"], c.get("detail", "")) for c in data["checks"]
        ]
        return cls(data["engine"], data["location"], checks)

    def as_dict(self) -> dict[str, object]:
        return {
            "engine": self.engine,
            "location": self.location,
            "status": self.status,
            "checks": [
                {"name": c.name, "status": c.status, "value": c.value, "detail": c.detail}
                for c in self.checks
            ],
        }


def size_text(n: float) -> str:
    for unit in ("B", "KB", "MB", "GB", "TB"):
        if n < 1024 or unit == "TB":
            return f"{n:,.0f} {unit}" if unit == "B" else f"{n:,.1f} {unit}"
        n /= 1024
    raise AssertionError("unreachable")  # pragma: no cover


def retention_check(
    oldest: dict[str, datetime | None], retention_days: dict[str, int], now: datetime | None = None
) -> Check:
    """The oldest conversation of each deployment against its retention (days kept)."""
    now = now or datetime.now(UTC)
    late = []
    parts = []
    for dep, first in sorted(oldest.items()):
        if first is None:
            continue
        first = aware(first)
        age = (now - first).days
        keep = retention_days.get(dep)
        parts.append(f"{dep}: {age} d" + (f" (keeps {keep} d)" if keep else ""))
        if keep and now - first > timedelta(days=keep) + RETENTION_SLACK:
            late.append(f"{dep} holds data {age} days old, past its {keep}-day retention")
    return Check(
        "oldest data vs retention",
        "warn" if late else "ok",
        "; ".join(parts) or "no data",
        "; ".join(late) + (": is the retention schedule running?" if late else ""),
    )
