"""Faults get honest answers: a full disk, a read-only or missing data dir, a store another
process holds, a migration that cannot run.

The full disk is real: `daytwo serve` runs with its events store on a 24 MB tmpfs mounted in a
private mount namespace (``unshare``), so nothing outside the test sees it, and the test fills
and frees that disk through ``/proc/PID/root``.
"""

from __future__ import annotations

import errno
import os
import shutil
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.exc import OperationalError

from daytwo.errors import DataDirUnusable, StorageFull, StoreLocked
from daytwo.store.events import open_event_store
from daytwo.store.faults import check_data_dir, storage_fault
from tests.factory import admin_key, interaction, ndjson
from tests.server.serving import stop, wait_until_serving
from tests.server.test_durability import _free_port

NDJSON = {"content-type": "application/x-ndjson"}


def test_storage_faults_are_told_apart_from_bugs() -> None:
    assert isinstance(storage_fault(OSError(errno.ENOSPC, "No space left on device")), StorageFull)
    assert isinstance(storage_fault(OSError(errno.EROFS, "Read-only file system")), DataDirUnusable)
    assert isinstance(storage_fault(PermissionError(errno.EACCES, "denied")), DataDirUnusable)
    duck = RuntimeError(
        'TransactionContext Error: Failed to commit: Could not write file "x.wal": No space '
        "left on device"
    )
    assert isinstance(storage_fault(duck), StorageFull)
    sqlite_full = OperationalError(
        "INSERT", {}, sqlite3.OperationalError("database or disk is full")
    )
    assert isinstance(storage_fault(sqlite_full), StorageFull)
    lock = RuntimeError('IO Error: Could not set lock on file "e.duckdb": Conflicting lock is held')
    assert isinstance(storage_fault(lock), StoreLocked)
    assert storage_fault(ValueError("a bug")) is None
    assert storage_fault(KeyError("x")) is None


def test_a_data_dir_that_is_a_file_or_unwritable_is_named(tmp_path: Path) -> None:
    afile = tmp_path / "file"
    afile.write_text("x")
    with pytest.raises(DataDirUnusable, match=r"Not a directory|is a file"):
        check_data_dir(afile / "data")
    with pytest.raises(DataDirUnusable, match="is a file"):
        check_data_dir(afile)
    check_data_dir(tmp_path / "new" / "data")  # missing folders are created
    assert (tmp_path / "new" / "data").is_dir()


def _daytwo(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "daytwo", *args],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )


def _in_namespace(script: str) -> list[str]:
    """A command that runs ``script`` in a private mount namespace (as root, or mapped)."""
    flags = ["--mount"] if os.geteuid() == 0 else ["--mount", "--map-root-user"]
    return ["unshare", *flags, "sh", "-c", script]


def test_serve_on_a_read_only_data_dir_says_so_in_one_line(tmp_path: Path) -> None:
    ro = tmp_path / "ro"
    ro.mkdir()
    done = subprocess.run(
        _in_namespace(
            f"mount -t tmpfs -o size=1m,ro tmpfs {ro} && exec {sys.executable} -m daytwo serve"
        ),
        env={**os.environ, "DAYTWO_DATA_DIR": str(ro / "data")},
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    if "mount:" in done.stderr or "unshare:" in done.stderr:
        pytest.fail(f"cannot mount a tmpfs in a private namespace here: {done.stderr}")
    assert done.returncode == DataDirUnusable.exit_code, done.stderr
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, done.stderr
    assert "read-only file system" in lines[0]
    assert "Traceback" not in done.stderr + done.stdout


def test_a_held_store_and_a_migration_that_cannot_run_are_one_line(tmp_path: Path) -> None:
    data = tmp_path / "data"
    env = {"DAYTWO_DATA_DIR": str(data)}
    with open_event_store(f"duckdb:///{data / 'events.duckdb'}"):
        # Another process holds the events store while this one tries to serve.
        held = _daytwo("serve", "--port", str(_free_port()), env=env)
    assert held.returncode == StoreLocked.exit_code, held.stderr
    assert "held by another process" in held.stderr
    assert "Traceback" not in held.stderr
    engine = create_engine(f"sqlite:///{data / 'ledger.sqlite'}")
    with engine.begin() as con:
        con.execute(text("UPDATE alembic_version SET version_num = '9999_from_the_future'"))
    engine.dispose()
    newer = _daytwo("serve", "--port", str(_free_port()), env=env)
    assert newer.returncode == 3, newer.stderr
    assert "written by a newer daytwo" in newer.stderr
    assert "Traceback" not in newer.stderr


@pytest.fixture
def small_disk_server(tmp_path: Path) -> Iterator[tuple[str, subprocess.Popen[str], Path, str]]:
    """`daytwo serve` whose events store sits on a 24 MB tmpfs nearly filled by a file."""
    disk = tmp_path / "disk"
    disk.mkdir()
    ledger_url = f"sqlite:///{tmp_path / 'ledger.sqlite'}"
    key = admin_key(ledger_url)
    port = _free_port()
    env = {
        **os.environ,
        "DAYTWO_DATA_DIR": str(disk / "data"),
        "DAYTWO_EVENTS_URL": f"duckdb:///{disk / 'data' / 'events.duckdb'}",
        "DAYTWO_LEDGER_URL": ledger_url,
        "DAYTWO_RATE_LIMIT_PER_MINUTE": "100000",
    }
    proc = subprocess.Popen(
        _in_namespace(
            f"mount -t tmpfs -o size=24m tmpfs {disk} && "
            f"exec {sys.executable} -m daytwo serve --port {port}"
        ),
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    url = f"http://127.0.0.1:{port}"
    wait_until_serving(url, proc, lambda: proc.stderr.read() if proc.stderr else "")
    # The server's view of the tmpfs (its own mount namespace), through /proc.
    seen = Path(f"/proc/{proc.pid}/root") / str(disk).lstrip("/")
    try:
        yield url, proc, seen, key
    finally:
        stop(proc)
        if proc.stderr:
            proc.stderr.close()
        shutil.rmtree(disk, ignore_errors=True)


def _audit_rows(ledger: Path) -> int:
    with sqlite3.connect(ledger) as con:
        return int(con.execute("SELECT count(*) FROM audit_log").fetchone()[0])


def test_a_full_disk_is_507_naming_it_and_nothing_is_lost(
    small_disk_server: tuple[str, subprocess.Popen[str], Path, str], tmp_path: Path
) -> None:
    url, _, disk, key = small_disk_server
    free = os.statvfs(disk)
    filler = disk / "filler"
    with filler.open("wb") as f:  # leave about 3 MB
        f.write(b"\0" * max(0, free.f_bavail * free.f_frsize - 3 * 1024 * 1024))
    acknowledged = 0
    full: httpx.Response | None = None
    with httpx.Client(base_url=url, timeout=60, headers={"authorization": f"Bearer {key}"}) as api:
        for b in range(40):
            records = [interaction(b * 300 + i, turns=6) for i in range(300)]
            r = api.post("/api/v1/ingest", content=ndjson(records), headers=NDJSON)
            if r.status_code == 200:
                acknowledged += r.json()["accepted"]
                continue
            full = r
            break
        assert full is not None, "the disk never filled"
        assert full.status_code == 507, full.text
        assert full.headers["retry-after"].isdigit()
        body = full.json()["error"]
        assert body["code"] == "storage_full"
        assert "disk" in body["message"]
        assert "full" in body["message"]
        assert "nothing was written" in body["message"]
        health = api.get("/healthz")
        assert health.status_code == 503
        assert any("full" in p for p in health.json()["problems"]), health.json()
        # Retries of the failing request change nothing, the audit log included.
        audited = _audit_rows(tmp_path / "ledger.sqlite")
        for _ in range(5):
            again = api.post("/api/v1/ingest", content=ndjson(records), headers=NDJSON)
            assert again.status_code == 507
        assert _audit_rows(tmp_path / "ledger.sqlite") == audited
        # Reads go on, and once space is freed the same batch is stored.
        assert api.get("/api/v1/deployments").status_code == 200
        filler.unlink()
        stored = api.post("/api/v1/ingest", content=ndjson(records), headers=NDJSON)
        assert stored.status_code == 200, stored.text
        acknowledged += stored.json()["accepted"]
        # The listing reads the rollups as last refreshed: once they caught up, exact.
        deadline = time.monotonic() + 60
        while api.get("/healthz").json()["figures_behind"]:
            assert time.monotonic() < deadline, "the rollups never caught up"
            time.sleep(0.2)
        listed = {d["name"]: d for d in api.get("/api/v1/deployments").json()}
        assert listed["care-bot"]["interactions"] == acknowledged
