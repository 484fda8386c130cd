"""Where a running ``daytwo serve`` can be reached, kept in its data dir for the command line.

The embedded events store (DuckDB) admits one writing process, and ``daytwo serve`` is it. So
that every ``daytwo`` command still works while the server runs (which is exactly when people
reach for it), ``serve`` records in the data dir, when it starts:

- the loopback address it answers on, its process id and version, and
- a **local credential**: a random token made for this run of the server, never stored in the
  ledger, accepted only by this process, and gone when it stops.

The record is ``serve.json`` in the data dir, created with mode 600: only the data dir's owner
(who could open the stores themselves anyway) can read it. A command that needs the events
store finds the record, checks that the process is alive and answers, and sends its work to the
server's API with the credential (see :mod:`daytwo.cli.link`); without a running server it
opens the stores itself. Both ways run the same services, so a command gives the same result.

A request made with the local credential acts with every permission, as the person named in
its ``X-Daytwo-Actor`` header (``cli:<os user>``), and is audited as such.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import json
import os
import secrets
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path

RECORD = "serve.json"
TOKEN_PREFIX = "dtl_"  # noqa: S105 - the prefix that marks a local credential, not one
ACTOR_HEADER = "x-daytwo-actor"


@dataclass(frozen=True, slots=True)
class ServerRecord:
    """A running server as its data dir knows it."""

    url: str
    pid: int
    token: str
    started_at: str
    version: str

    @property
    def token_hash(self) -> str:
        return token_hash(self.token)


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def token_matches(presented: str, expected_hash: str | None) -> bool:
    """Whether ``presented`` is this server's local credential (constant time)."""
    if expected_hash is None or not presented.startswith(TOKEN_PREFIX):
        return False
    return hmac.compare_digest(token_hash(presented), expected_hash)


def loopback_url(host: str, port: int) -> str:
    """The address a command on this machine reaches a server bound to ``host`` at."""
    if host in ("0.0.0.0", "", "*"):  # noqa: S104 - an address to connect to, not to bind
        host = "127.0.0.1"
    elif host in ("::", "[::]"):
        host = "::1"
    if ":" in host and not host.startswith("["):
        host = f"[{host}]"
    return f"http://{host}:{port}"


def pid_alive(pid: int) -> bool:
    """Whether process ``pid`` runs and (where ``/proc`` says) is a daytwo process: a record
    left by a server killed outright must not be taken for one when its id is reused."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # alive, but someone else's
        return True
    try:
        command = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:  # no /proc here: the process id is all there is to go on
        return True
    return b"daytwo" in command


def publish(data_dir: Path, url: str, version: str) -> ServerRecord:
    """Write this process's record (mode 600, atomically) and return it."""
    record = ServerRecord(
        url=url,
        pid=os.getpid(),
        token=TOKEN_PREFIX + secrets.token_urlsafe(32),
        started_at=datetime.now(UTC).isoformat(timespec="seconds"),
        version=version,
    )
    data_dir.mkdir(parents=True, exist_ok=True)
    tmp = data_dir / f".{RECORD}.{record.pid}"
    with contextlib.suppress(FileNotFoundError):
        tmp.unlink()
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as fh:
        json.dump(asdict(record), fh)
    tmp.replace(data_dir / RECORD)
    return record


def withdraw(data_dir: Path, record: ServerRecord) -> None:
    """Remove the record, if it is still this server's."""
    current = read(data_dir, check_alive=False)
    if current is not None and current.pid == record.pid and current.token == record.token:
        with contextlib.suppress(FileNotFoundError):
            (data_dir / RECORD).unlink()


def read(data_dir: Path, *, check_alive: bool = True) -> ServerRecord | None:
    """The recorded server of ``data_dir``; None when there is none, the record is unreadable
    (another user's), or (with ``check_alive``) its process has gone."""
    try:
        raw = json.loads((data_dir / RECORD).read_text())
        record = ServerRecord(
            url=str(raw["url"]),
            pid=int(raw["pid"]),
            token=str(raw["token"]),
            started_at=str(raw["started_at"]),
            version=str(raw["version"]),
        )
    except (OSError, ValueError, KeyError, TypeError):
        return None
    if check_alive and not pid_alive(record.pid):
        return None
    return record
