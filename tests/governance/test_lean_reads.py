"""The lean reads behind `daytwo users list` and `daytwo keys list` (the standard library's
SQLite driver, no SQLAlchemy) answer exactly as the ORM reads on the same ledger, and step
aside for a ledger they cannot read as it is."""

from __future__ import annotations

import contextlib
import shutil
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

from daytwo.errors import AuthenticationRequired
from daytwo.governance import accounts, keys, listing
from daytwo.governance.roles import KeyScope, Role
from daytwo.store.ledger import Ledger
from daytwo.store.ledger.db import downgrade
from daytwo.store.ledger.reader import open_reader


def _filled(path: Path, template: Path) -> str:
    shutil.copyfile(template, path)
    url = f"sqlite:///{path}"
    ledger = Ledger(url)
    try:
        accounts.create_user(ledger, "zoe", "a long enough password", Role.owner, grants=("b", "a"))
        accounts.create_user(ledger, "adam", "a long enough password", Role.admin)
        lockout = accounts.Lockout(free_failures=1)
        with contextlib.suppress(AuthenticationRequired):  # a lockout: an expiry to compare
            accounts.sign_in(ledger, "zoe", "wrong password", lockout=lockout)
        keys.create_key(ledger, scope=KeyScope.admin, deployment=None, name="ops")
        _, public = keys.create_key(
            ledger, scope=KeyScope.ingest, deployment="a", expires_in=timedelta(hours=1)
        )
        keys.create_key(ledger, scope=KeyScope.read, deployment="b", name="dash")
        keys.revoke_key(ledger, public.prefix)
        keys.authenticate(ledger, keys.create_key(ledger, scope=KeyScope.read, deployment="a")[0])
    finally:
        ledger.dispose()
    return url


def test_lean_reads_equal_the_orm_reads(tmp_path: Path, ledger_template: Path) -> None:
    url = _filled(tmp_path / "ledger.sqlite", ledger_template)
    ledger = Ledger(url)
    try:
        users, every_key = accounts.list_users(ledger), keys.list_keys(ledger)
        of_a = keys.list_keys(ledger, "a")
    finally:
        ledger.dispose()
    assert [u.username for u in users] == ["adam", "zoe"]
    assert users[1].grants == ("a", "b")
    assert users[1].locked_until is not None
    assert len(every_key) == 4
    assert {k.status() for k in every_key} == {"active", "revoked"}
    assert any(k.last_used_at is not None for k in every_key)
    with open_reader(url) as reader:
        assert reader is not None
        assert listing.read_users(reader) == users
        assert listing.read_keys(reader) == every_key
        assert listing.read_keys(reader, "a") == of_a
        assert [k.created_at.utcoffset() for k in listing.read_keys(reader)] == [timedelta(0)] * 4


def test_the_reader_steps_aside_for_a_ledger_it_cannot_read_as_is(
    tmp_path: Path, ledger_template: Path
) -> None:
    missing = tmp_path / "none.sqlite"
    with open_reader(f"sqlite:///{missing}") as reader:
        assert reader is None
    assert not missing.exists()  # looking did not create it
    with open_reader("postgresql://someone@localhost/ledger") as reader:
        assert reader is None
    behind = tmp_path / "behind.sqlite"
    shutil.copyfile(ledger_template, behind)
    downgrade(f"sqlite:///{behind}", "-1")
    with open_reader(f"sqlite:///{behind}") as reader:
        assert reader is None


def test_a_list_command_loads_neither_sqlalchemy_nor_argon2(
    tmp_path: Path, ledger_template: Path
) -> None:
    data = tmp_path / "data"
    data.mkdir()
    _filled(data / "ledger.sqlite", ledger_template)
    code = (
        "import sys\n"
        "from daytwo.cli.main import run\n"
        "for argv in (['keys', 'list'], ['users', 'list', '--json']):\n"
        "    assert run(argv) == 0\n"
        "loaded = [m for m in ('sqlalchemy', 'alembic', 'argon2') if m in sys.modules]\n"
        "print('LOADED', loaded)\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code],
        env={"DAYTWO_DATA_DIR": str(data), "PATH": "/usr/bin:/bin", "COLUMNS": "200"},
        capture_output=True,
        text=True,
        check=True,
    )
    assert "LOADED []" in proc.stdout
    assert '"username": "zoe"' in proc.stdout
    assert "dash" in proc.stdout
