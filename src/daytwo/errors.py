"""The one error tree of daytwo.

::

    DaytwoError                      base; carries a machine-readable ``code``
    ├── ConfigError                  settings or environment are unusable
    ├── NotFoundError                a named thing does not exist
    ├── AuthenticationRequired       no valid credentials (sign in, or send an API key)
    ├── PermissionDenied             credentials lack the role, scope or deployment grant
    ├── RateLimited                  too many requests for this key; ``retry_after`` seconds
    ├── Overloaded                   the server cannot take more now; ``retry_after`` seconds
    ├── ConflictError                the request contradicts stored state
    ├── InputError                   the caller sent something unusable (whole request)
    │   ├── PayloadTooLargeError     body or batch over the limits
    │   └── ValidationFailed         one or more records are invalid; ``errors`` lists them
    └── StoreError                   a store could not be opened or written
        ├── DataDirUnusable          the data dir is missing, read-only or not ours to write
        ├── StoreLocked              another process holds the store
        └── StorageFull              the disk under a store is full; ``retry_after`` seconds

Each class maps once to an HTTP status (``http_status``) and a CLI exit code (``exit_code``).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any


@dataclass(frozen=True, slots=True)
class RecordError:
    """One problem with one record of a batch: which record, which field, what is wrong."""

    index: int
    id: str | None
    field: str
    message: str

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    def __str__(self) -> str:
        where = f"record {self.index}" + (f" (id {self.id!r})" if self.id is not None else "")
        return f"{where}, field {self.field!r}: {self.message}"


class DaytwoError(Exception):
    """Base of every error daytwo raises on purpose."""

    code = "error"
    http_status = 500
    exit_code = 1

    def __init__(self, message: str, *, details: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.details = details or {}

    def as_dict(self) -> dict[str, Any]:
        body: dict[str, Any] = {"code": self.code, "message": self.message}
        if self.details:
            body["details"] = self.details
        return body


class ConfigError(DaytwoError):
    code = "config_error"
    http_status = 500
    exit_code = 78


class NotFoundError(DaytwoError):
    code = "not_found"
    http_status = 404
    exit_code = 4


class AuthenticationRequired(DaytwoError):
    code = "unauthenticated"
    http_status = 401
    exit_code = 77


class PermissionDenied(DaytwoError):
    code = "forbidden"
    http_status = 403
    exit_code = 77


class RateLimited(DaytwoError):
    code = "rate_limited"
    http_status = 429
    exit_code = 75

    def __init__(self, message: str, *, retry_after: int) -> None:
        super().__init__(message, details={"retry_after": retry_after})
        self.retry_after = retry_after


class Overloaded(DaytwoError):
    code = "overloaded"
    http_status = 503
    exit_code = 75

    def __init__(self, message: str, *, retry_after: int) -> None:
        super().__init__(message, details={"retry_after": retry_after})
        self.retry_after = retry_after


class ConflictError(DaytwoError):
    code = "conflict"
    http_status = 409
    exit_code = 5


class InputError(DaytwoError):
    code = "invalid_input"
    http_status = 400
    exit_code = 2


class PayloadTooLargeError(InputError):
    code = "payload_too_large"
    http_status = 413


class ValidationFailed(InputError):
    """A batch had invalid records; nothing of it was stored (unless partial mode said so)."""

    code = "invalid_records"
    http_status = 422

    def __init__(self, errors: list[RecordError], *, received: int) -> None:
        bad = len({e.index for e in errors})
        first = str(errors[0]) if errors else "no details"
        super().__init__(
            f"{bad} of {received} records are invalid; nothing was stored. First: {first}"
        )
        self.errors = errors
        self.received = received

    def as_dict(self) -> dict[str, Any]:
        body = super().as_dict()
        body["errors"] = [e.as_dict() for e in self.errors]
        body["received"] = self.received
        return body


class StoreError(DaytwoError):
    code = "store_error"
    http_status = 503
    exit_code = 3


class DataDirUnusable(StoreError):
    code = "data_dir_unusable"
    exit_code = 73  # EX_CANTCREAT


class StoreLocked(StoreError):
    code = "store_locked"
    exit_code = 75  # EX_TEMPFAIL: try again once the other process is done


class StorageFull(StoreError):
    """Nothing was written: the disk (or quota) under a store is full. Retrying can succeed
    once space is freed, so the HTTP answer carries ``Retry-After``."""

    code = "storage_full"
    http_status = 507
    exit_code = 74  # EX_IOERR

    def __init__(self, message: str, *, retry_after: int = 30) -> None:
        super().__init__(message, details={"retry_after": retry_after})
        self.retry_after = retry_after


def _subclasses(cls: type[DaytwoError]) -> list[type[DaytwoError]]:
    found = [cls]
    for sub in cls.__subclasses__():
        found.extend(_subclasses(sub))
    return found


def error_from_body(status: int, body: Any) -> DaytwoError:
    """The error a daytwo server answered (``{"error": {"code", "message"}}``), as the
    :class:`DaytwoError` it was raised as, so a client exits as the server's code did."""
    error = body.get("error") if isinstance(body, dict) else None
    if not isinstance(error, dict):
        return DaytwoError(f"The server answered HTTP {status}.")
    code, message = str(error.get("code", "")), str(error.get("message", ""))
    if code == "invalid_records":
        records = [
            RecordError(
                index=int(e.get("index", 0)),
                id=e.get("id"),
                field=str(e.get("field", "")),
                message=str(e.get("message", "")),
            )
            for e in error.get("errors", [])
            if isinstance(e, dict)
        ]
        return ValidationFailed(records, received=int(error.get("received", len(records))))
    if code == "rate_limited":
        return RateLimited(message, retry_after=int(error.get("details", {}).get("retry_after", 1)))
    if code == "invalid_request":  # the API's own request validation
        fields = "; ".join(
            f"{e.get('field')}: {e.get('message')}"
            for e in error.get("errors", [])
            if isinstance(e, dict)
        )
        return InputError(f"{message} {fields}".strip())
    for cls in _subclasses(DaytwoError):
        if cls.code == code and cls not in (ValidationFailed, RateLimited):
            return cls(message, details=error.get("details"))
    return DaytwoError(message or f"The server answered HTTP {status}.")
