"""The start of daytwo's own worker processes: what they leave out.

The trace door's mapping workers (:mod:`daytwo.ingest.otlp.workers`) use Arrow, never pandas,
but pyarrow imports pandas on its first array whenever pandas is installed, about 40 MB of
memory per worker. A worker runs :func:`without_pandas` before it imports anything of daytwo
(which is why this module sits on its own, importing nothing): pyarrow then finds no pandas
and works without it.

A worker also leaves when its server does: a server stopped with ``kill -9`` (or by the kernel's
out-of-memory killer) cannot shut its pool down, and its workers, each holding 100 MB or more,
would run on as orphans. :func:`start` watches the parent and ends the worker once it is gone.
"""

from __future__ import annotations

import os
import sys
import threading
import time
from collections.abc import Sequence
from importlib.machinery import ModuleSpec
from types import ModuleType


class _NoPandas:
    """A finder that says pandas is not installed."""

    @staticmethod
    def find_spec(
        name: str, path: Sequence[str] | None = None, target: ModuleType | None = None
    ) -> ModuleSpec | None:
        if name == "pandas" or name.startswith("pandas."):
            raise ImportError(f"{name} is left out of daytwo's worker processes")
        return None


def without_pandas() -> None:
    """Make ``import pandas`` fail in this process (see the module's docstring)."""
    if "pandas" not in sys.modules and not any(f is _NoPandas for f in sys.meta_path):
        sys.meta_path.insert(0, _NoPandas)


def _exit_when_orphaned(parent: int, every: float) -> None:
    """End this process once ``parent`` is no longer its parent (it died and the process was
    handed to another)."""
    while os.getppid() == parent:
        time.sleep(every)
    os._exit(0)  # nothing of the server's is left to answer to: no clean-up to wait for


def start(parent: int, every: float = 1.0) -> None:
    """A worker's first step: leave pandas out and leave when the server ``parent`` is gone."""
    without_pandas()
    if os.getppid() != parent:  # the server died before this worker started
        os._exit(0)
    watch = threading.Thread(
        target=_exit_when_orphaned, args=(parent, every), name="parent-watch", daemon=True
    )
    watch.start()
