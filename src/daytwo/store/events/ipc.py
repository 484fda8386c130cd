"""Arrow tables as IPC stream bytes and back: how rows cross from a worker process to the server
and how staged rows lie in the staging log."""

from __future__ import annotations

import pyarrow as pa

# Given once: without options pyarrow reads two environment variables for every writer.
_OPTIONS = pa.ipc.IpcWriteOptions()


def to_ipc(rows: pa.Table) -> bytes:
    """``rows`` as Arrow IPC stream bytes."""
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, rows.schema, options=_OPTIONS) as writer:
        writer.write_table(rows)
    out: bytes = sink.getvalue().to_pybytes()
    return out


def from_ipc(ipc: bytes) -> pa.Table:
    """The rows :func:`to_ipc` wrote."""
    table: pa.Table = pa.ipc.open_stream(ipc).read_all()
    return table
