"""daytwo: operations for AI assistants after go-live.

The public Python surface is the SDK client; everything else is reached through the
`daytwo` command, the HTTP API or the web UI.

The SDK loads on first use of one of its names, so that ``daytwo --version`` and the
ledger commands do not pay for an HTTP client they never use.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

__all__ = ["Client", "ClientStats", "UndeliveredRecord", "__version__"]

if TYPE_CHECKING:
    from daytwo.sdk import Client, ClientStats, UndeliveredRecord


def __getattr__(name: str) -> Any:
    if name in ("Client", "ClientStats", "UndeliveredRecord"):
        from daytwo import sdk

        return getattr(sdk, name)
    raise AttributeError(f"module 'daytwo' has no attribute {name!r}")
