"""Storage faults told apart from bugs: a full disk, a read-only file system, a missing or
foreign folder, a store another process holds.

Each engine reports them differently (DuckDB and SQLite in their messages, PostgreSQL by
SQLSTATE, the OS by errno); :func:`storage_fault` reads any of them and returns the
:class:`~daytwo.errors.StoreError` that names the cause in one line, or None for anything else.
"""

from __future__ import annotations

import errno
import shutil
import tempfile
from pathlib import Path

from daytwo.errors import DataDirUnusable, StorageFull, StoreError, StoreLocked

_FULL = ("no space left on device", "disk is full", "disk full", "quota exceeded")
_READ_ONLY = ("read-only file system", "readonly database", "read-only database")
_DENIED = ("permission denied",)
_LOCKED = ("could not set lock on file", "conflicting lock", "database is locked")
# PostgreSQL: class 53 (insufficient resources) 53100 disk_full.
_PG_DISK_FULL = "53100"
# Below this much free space on the data dir's disk, /healthz warns before writes fail.
LOW_SPACE_BYTES = 64 * 1024 * 1024


def _messages(exc: BaseException) -> str:
    parts = []
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        parts.append(str(current))
        orig = getattr(current, "orig", None)  # SQLAlchemy wraps the driver's error
        if isinstance(orig, BaseException):
            parts.append(str(orig))
            if getattr(orig, "sqlstate", None) == _PG_DISK_FULL:
                parts.append("disk full")
        current = current.__cause__ or current.__context__
    return " | ".join(parts).lower()


def storage_fault(exc: BaseException, *, where: str = "a store") -> StoreError | None:
    """The one-line store error ``exc`` amounts to, or None when it is no storage fault."""
    if isinstance(exc, StoreError):
        return exc
    number = getattr(exc, "errno", None)
    text = _messages(exc)
    if number in (errno.ENOSPC, errno.EDQUOT) or any(m in text for m in _FULL):
        return StorageFull(
            f"The disk under {where} is full: nothing was written. Free some "
            "space (or move DAYTWO_DATA_DIR to a larger disk) and try again."
        )
    if number == errno.EROFS or any(m in text for m in _READ_ONLY):
        return DataDirUnusable(
            f"{where[0].upper()}{where[1:]} is on a read-only file system: daytwo needs to "
            "write there. Point DAYTWO_DATA_DIR at a writable folder."
        )
    if number in (errno.EACCES, errno.EPERM) or any(m in text for m in _DENIED):
        return DataDirUnusable(
            f"No permission to write {where}: run daytwo as the owner of the data dir, or "
            "point DAYTWO_DATA_DIR at a folder this user can write."
        )
    if any(m in text for m in _LOCKED):
        return StoreLocked(
            f"{where[0].upper()}{where[1:]} is held by another process (is `daytwo serve` or an "
            "import running on this data dir?): stop it, or send data through its API."
        )
    return None


def check_data_dir(path: Path) -> None:
    """Make sure daytwo can keep its stores in ``path``: created if missing, and writable."""
    try:
        path.mkdir(parents=True, exist_ok=True)
    except FileExistsError:
        raise DataDirUnusable(f"The data dir {path} is a file, not a folder.") from None
    except OSError as exc:
        raise storage_fault(exc, where=f"the data dir {path}") or DataDirUnusable(
            f"Cannot create the data dir {path}: {exc.strerror or exc}."
        ) from None
    try:
        with tempfile.NamedTemporaryFile(dir=path, prefix=".daytwo-probe-"):
            pass
    except OSError as exc:
        raise storage_fault(exc, where=f"the data dir {path}") or DataDirUnusable(
            f"Cannot write in the data dir {path}: {exc.strerror or exc}."
        ) from None


def free_space_problem(path: Path) -> str | None:
    """A sentence when the disk under ``path`` is (almost) full, else None."""
    try:
        usage = shutil.disk_usage(path)
    except OSError:
        return None
    if usage.free < LOW_SPACE_BYTES:
        return (
            f"the disk under {path} has {usage.free / 1e6:.1f} MB free of "
            f"{usage.total / 1e9:.1f} GB: writes will fail when it is full"
        )
    return None


__all__ = ["LOW_SPACE_BYTES", "check_data_dir", "free_space_problem", "storage_fault"]
