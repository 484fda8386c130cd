"""The events store: interactions, turns and assist events.

One interface (:class:`EventStore`), one embedded implementation (DuckDB); queries are written
once in a portable SQL form and transpiled per engine with SQLGlot.
"""

from daytwo.store.events.base import DeploymentVolume, EventStore, WriteResult, open_event_store

__all__ = ["DeploymentVolume", "EventStore", "WriteResult", "open_event_store"]
