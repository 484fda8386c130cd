"""Python SDK: log interactions to daytwo straight from the AI application.

::

    from datetime import UTC, datetime

    from daytwo.sdk import Client

    daytwo = Client("https://daytwo.example.com", api_key="dt_...")
    daytwo.log_interaction(
        id="c-000123",
        deployment="care-bot",
        started_at=datetime.now(UTC),
        outcome="escalated",
        turns=[{"seq": 0, "role": "user", "text": "why was I charged twice"}],
    )
    daytwo.log({"id": "c-000124", "deployment": "care-bot", "started_at": "2026-03-02T09:14:05Z"})
    daytwo.flush()  # optional: at interpreter exit the queue is flushed anyway

Logging never blocks and never raises; batching, retries and the exit flush happen on one
background thread per client. See :class:`Client`.
"""

from daytwo.sdk._wire import ClientStats, UndeliveredRecord
from daytwo.sdk.client import Client

__all__ = ["Client", "ClientStats", "UndeliveredRecord"]
