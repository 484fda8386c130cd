"""The audit log: every write, append-only, each entry hash-chained to the one before.

An entry's ``hash`` is SHA-256 over the previous entry's hash and the entry's own fields in a
canonical JSON form, so editing an entry breaks its hash, deleting one breaks the link of the
next (and leaves a gap in the ids), and swapping two breaks both links. :func:`verify` walks the
chain and names the first entry that does not hold and what happened to it.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select, text
from sqlalchemy.orm import Session

from daytwo import clock
from daytwo.clock import aware
from daytwo.governance.models import AuditEntry
from daytwo.store.events import EventStore
from daytwo.store.ledger import Ledger

GENESIS = "0" * 64


@dataclass(slots=True)
class RequestTrail:
    """What the services audited while one HTTP request ran (see :data:`REQUEST`)."""

    recorded: int = 0


# Set by the HTTP layer around each request. A request whose services wrote their own
# entries (what changed, where, before → after) needs no generic one from the middleware.
REQUEST: ContextVar[RequestTrail | None] = ContextVar("daytwo_request_audit", default=None)
_APPEND_LOCK = 0x0DA7_A0D1  # the advisory lock key of audit appends (PostgreSQL)

# Who wrote what, where and with what answer: actor, action, target, deployment, address,
# status, path (the fields of a generic entry of an HTTP write).
RequestFields = tuple[str, str, str, str | None, str | None, int, str]
# The key of ``after`` that says up to which staged count an entry folded (see fold_staged_audit).
FOLDED = "staged_upto"


def route_path(scope: Mapping[str, Any]) -> str:
    """The route template an HTTP request matched (its path where none matched)."""
    return str(getattr(scope.get("route"), "path", scope.get("path", "")))


def request_fields(scope: Mapping[str, Any], status: int) -> RequestFields:
    """The fields of the generic entry of an HTTP write answered ``status`` (an ASGI scope)."""
    state: dict[str, Any] = scope.get("state") or {}
    principal = state.get("principal")
    params = {**(scope.get("path_params") or {})}
    query = (scope.get("query_string") or b"").decode(errors="replace")
    deployment = params.get("deployment") or params.get("name")
    for part in query.split("&"):
        key, _, value = part.partition("=")
        if key == "deployment" and value:
            deployment = value
    client = scope.get("client")
    return (
        principal.name if principal is not None else "anonymous",
        f"http.{scope.get('method', '').lower()}",
        route_path(scope),
        str(deployment) if deployment else None,
        client[0] if client else None,
        status,
        scope.get("path", ""),
    )


def _canonical(entry: AuditEntry) -> bytes:
    at = aware(entry.at)
    fields = {
        "id": entry.id,
        "at": at.astimezone(UTC).isoformat(timespec="microseconds"),
        "actor": entry.actor,
        "action": entry.action,
        "target": entry.target,
        "deployment": entry.deployment,
        "ip": entry.ip,
        "before": entry.before,
        "after": entry.after,
    }
    return json.dumps(fields, sort_keys=True, separators=(",", ":"), default=str).encode()


def entry_hash(prev_hash: str, entry: AuditEntry) -> str:
    return hashlib.sha256(prev_hash.encode() + b"\n" + _canonical(entry)).hexdigest()


def _lock_appends(session: Session) -> None:
    """One audit writer at a time until the transaction ends: PostgreSQL's advisory lock,
    SQLite's write lock."""
    dialect = session.get_bind().dialect.name
    if dialect == "postgresql":
        session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _APPEND_LOCK})
    elif dialect == "sqlite":
        session.execute(text("UPDATE audit_log SET id = id WHERE 0 = 1"))


def record(
    session: Session,
    *,
    actor: str,
    action: str,
    target: str = "",
    deployment: str | None = None,
    ip: str | None = None,
    before: dict[str, Any] | None = None,
    after: dict[str, Any] | None = None,
) -> AuditEntry:
    """Append one entry in ``session``'s transaction (so it commits with the write it records).

    Appends are serialised until the transaction ends, so two writers never chain onto the
    same entry: PostgreSQL takes a transaction-scoped advisory lock, SQLite its write lock
    (which an empty update takes before the last entry is read).
    """
    _lock_appends(session)
    last = session.execute(
        select(AuditEntry.id, AuditEntry.hash).order_by(AuditEntry.id.desc()).limit(1)
    ).first()
    prev_id, prev_hash = (last[0], last[1]) if last else (0, GENESIS)
    entry = AuditEntry(
        id=prev_id + 1,
        at=clock.now(),
        actor=actor[:200],
        action=action[:100],
        target=target[:300],
        deployment=deployment,
        ip=ip,
        before=before,
        after=after,
        prev_hash=prev_hash,
    )
    entry.hash = entry_hash(prev_hash, entry)
    session.add(entry)
    session.flush()
    trail = REQUEST.get()
    if trail is not None:
        trail.recorded += 1
    return entry


@dataclass(frozen=True, slots=True)
class Break:
    """Where the chain does not hold: the entry id and what happened there."""

    entry_id: int
    problem: str  # "edited", "deleted", "reordered"
    message: str


@dataclass(frozen=True, slots=True)
class Verification:
    entries: int
    head: str
    breaks: list[Break]

    @property
    def ok(self) -> bool:
        return not self.breaks


def verify(ledger: Ledger, *, recorded_head: tuple[int, str] | None = None) -> Verification:
    """Walk the whole chain; report every entry that is edited, missing or out of order.

    Deleting the newest entries leaves a shorter chain that holds; ``recorded_head`` (an
    entry id and hash printed by an earlier verification and kept outside daytwo) catches it:
    that entry must still be in the chain, unchanged.
    """
    with ledger.session() as session:
        entries = list(session.scalars(select(AuditEntry).order_by(AuditEntry.id)))
        session.expunge_all()
    hashes = {e.hash: e.id for e in entries}
    breaks: list[Break] = []
    prev_hash = GENESIS
    expected_id = 1
    for entry in entries:
        if entry.id != expected_id:
            missing = (
                f"{expected_id}" if entry.id == expected_id + 1 else f"{expected_id}-{entry.id - 1}"
            )
            breaks.append(
                Break(entry.id, "deleted", f"entries {missing} before entry {entry.id} are missing")
            )
        elif entry.prev_hash != prev_hash:
            if entry.prev_hash in hashes and hashes[entry.prev_hash] != entry.id - 1:
                breaks.append(
                    Break(
                        entry.id,
                        "reordered",
                        f"entry {entry.id} follows entry {hashes[entry.prev_hash]} in the chain, "
                        f"not entry {entry.id - 1}",
                    )
                )
            else:
                breaks.append(
                    Break(
                        entry.id,
                        "edited",
                        f"entry {entry.id - 1} was changed: entry {entry.id} does not chain to it",
                    )
                )
        if entry_hash(entry.prev_hash, entry) != entry.hash:
            breaks.append(
                Break(entry.id, "edited", f"entry {entry.id} was changed after it was written")
            )
        prev_hash = entry.hash
        expected_id = entry.id + 1
    if recorded_head is not None:
        head_id, head_hash = recorded_head
        kept = next((e for e in entries if e.id == head_id), None)
        if kept is None:
            breaks.append(
                Break(
                    head_id,
                    "deleted",
                    f"entry {head_id}, a recorded head, is gone: the chain ends at entry "
                    f"{entries[-1].id if entries else 0}",
                )
            )
        elif kept.hash != head_hash:
            breaks.append(
                Break(head_id, "edited", f"entry {head_id} no longer has the recorded hash")
            )
    return Verification(len(entries), prev_hash, breaks)


def entries(
    ledger: Ledger,
    *,
    actor: str | None = None,
    action: str | None = None,
    deployment: str | None = None,
    since: datetime | None = None,
    limit: int = 200,
) -> list[AuditEntry]:
    """Newest first, filtered."""
    query = select(AuditEntry).order_by(AuditEntry.id.desc()).limit(limit)
    if actor:
        query = query.where(AuditEntry.actor == actor)
    if action:
        query = query.where(AuditEntry.action.startswith(action))
    if deployment:
        query = query.where(AuditEntry.deployment == deployment)
    if since:
        query = query.where(AuditEntry.at >= since)
    with ledger.session() as session:
        rows = list(session.scalars(query))
        session.expunge_all()
    return rows


def folded_upto(session: Session) -> int:
    """The last staged audit count the ledger holds (0 if none): the newest entry that says
    so, among the entries of the targets that stage their counts."""
    below: int | None = None
    while True:  # newest first, a page at a time: the last fold is near the head
        query = (
            select(AuditEntry.id, AuditEntry.after)
            .where(AuditEntry.action == "http.post", AuditEntry.target == "/v1/traces")
            .order_by(AuditEntry.id.desc())
            .limit(200)
        )
        if below is not None:
            query = query.where(AuditEntry.id < below)
        page = session.execute(query).all()
        for entry_id, after in page:
            if isinstance(after, dict) and FOLDED in after:
                return int(after[FOLDED])
            below = entry_id
        if len(page) < 200:
            return 0


def fold_staged_audit(ledger: Ledger, events: EventStore) -> int:
    """Append the audit counts staged with their requests' rows to the hash chain; returns
    how many requests the new entries count.

    One entry per caller (actor, target, deployment, address, status), its ``after`` saying
    how many requests it stands for, when the first and last of them were staged, and the
    last staged id folded (:data:`FOLDED`). The entries commit before the counts are removed
    from the events store; a process killed between the two leaves counts the ledger already
    holds, which the next fold (at the next start) removes without folding them again.
    """
    staged = events.staged_audit()
    if staged.num_rows == 0:
        return 0
    with ledger.session() as session:
        _lock_appends(session)  # the watermark read and the appends, one writer at a time
        done = folded_upto(session)
        groups: dict[RequestFields, list[Any]] = {}
        upto = done
        for row in staged.to_pylist():
            if row["id"] <= done:
                continue
            key: RequestFields = (
                row["actor"],
                row["action"],
                row["target"],
                row["deployment"],
                row["ip"],
                row["status"],
                row["path"],
            )
            group = groups.setdefault(key, [0, row["staged_at"], row["staged_at"]])
            group[0] += row["requests"]
            group[1], group[2] = min(group[1], row["staged_at"]), max(group[2], row["staged_at"])
            upto = max(upto, row["id"])
        requests = 0
        for (actor, action, target, deployment, ip, status, path), (
            n,
            first,
            last,
        ) in groups.items():
            record(
                session,
                actor=actor,
                action=action,
                target=target,
                deployment=deployment,
                ip=ip,
                after={
                    "status": status,
                    "path": path,
                    "requests": n,
                    "first": first.astimezone(UTC).isoformat(timespec="microseconds"),
                    "last": last.astimezone(UTC).isoformat(timespec="microseconds"),
                    FOLDED: upto,
                },
            )
            requests += n
    events.unstage_audit(upto)
    return requests
