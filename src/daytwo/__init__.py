"""daytwo: operations for AI assistants after go-live.

The public Python surface is the SDK client; everything else is reached through the
`daytwo` command, the HTTP API or the web UI.
"""

from daytwo.sdk import Client, ClientStats, UndeliveredRecord

__version__ = "0.1.0"

__all__ = ["Client", "ClientStats", "UndeliveredRecord", "__version__"]
