"""The events store on ClickHouse: a server over HTTP(S) (clickhouse-connect), or chDB.

``DAYTWO_EVENTS_URL`` chooses it:

- ``clickhouse://user:password@host:8123/database`` (``clickhouses://`` for HTTPS, default
  port 8443); ``?cluster=NAME`` creates the schema on a cluster (see :mod:`.schema`);
- ``chdb:///relative/folder`` or ``chdb:////absolute/folder`` (``?database=NAME``): the same
  engine in this process, no server.

``?ttl_days=N`` on either sets a table TTL (whole conversations past N days are dropped).
"""

from __future__ import annotations

from urllib.parse import parse_qs, unquote, urlsplit

from daytwo.errors import ConfigError
from daytwo.store.events.clickhouse.schema import Layout
from daytwo.store.events.clickhouse.sql import READ_SETTINGS
from daytwo.store.events.clickhouse.store import ClickHouseEventStore
from daytwo.store.events.clickhouse.transport import ChdbTransport, HttpTransport, Transport

__all__ = ["ClickHouseEventStore", "open_clickhouse", "transport_for"]


def _options(query: str) -> dict[str, str]:
    return {k: v[-1] for k, v in parse_qs(query).items()}


def _layout(options: dict[str, str]) -> Layout:
    try:
        ttl = int(options["ttl_days"]) if options.get("ttl_days") else None
    except ValueError:
        raise ConfigError(
            f"ttl_days must be a whole number of days, not {options['ttl_days']!r}"
        ) from None
    return Layout(cluster=options.get("cluster") or None, ttl_days=ttl)


def transport_for(url: str) -> tuple[Transport, Layout]:
    """The transport and schema layout a ``clickhouse://``, ``clickhouses://`` or ``chdb://``
    URL names."""
    parts = urlsplit(url)
    options = _options(parts.query)
    if parts.scheme == "chdb":
        # As for DuckDB: chdb:///relative/path, chdb:////absolute/path.
        path = url.split("://", 1)[1].split("?", 1)[0].removeprefix("/")
        if not path:
            raise ConfigError("A chdb:// events URL needs a folder: chdb:///path/to/folder")
        transport: Transport = ChdbTransport(path, options.get("database", "daytwo"), READ_SETTINGS)
        return transport, _layout(options)
    if parts.scheme not in ("clickhouse", "clickhouses"):
        raise ConfigError(f"Not a ClickHouse URL: {url!r}")
    secure = parts.scheme == "clickhouses" or options.get("secure") in ("1", "true")
    try:
        port = parts.port or (8443 if secure else 8123)
    except ValueError:
        raise ConfigError(f"The port in {url!r} is not a number.") from None
    layout = _layout(options)
    transport = HttpTransport(
        host=parts.hostname or "localhost",
        port=port,
        username=unquote(parts.username or "default"),
        password=unquote(parts.password or ""),
        database=parts.path.strip("/") or "daytwo",
        secure=secure,
        settings=READ_SETTINGS,
        connect_timeout=float(options.get("connect_timeout", 10)),
        query_timeout=float(options.get("query_timeout", 300)),
        retries=int(options.get("retries", 3)),
        on_cluster=layout.on_cluster(),
    )
    return transport, layout


def open_clickhouse(url: str, *, read_only: bool = False) -> ClickHouseEventStore:
    transport, layout = transport_for(url)
    try:
        return ClickHouseEventStore(transport, read_only=read_only, layout=layout)
    except Exception:
        transport.close()
        raise
