"""The start of daytwo's own worker processes: what they leave out.

The trace door's mapping workers (:mod:`daytwo.ingest.otlp.workers`) use Arrow, never pandas,
but pyarrow imports pandas on its first array whenever pandas is installed, about 40 MB of
memory per worker. A worker runs :func:`without_pandas` before it imports anything of daytwo
(which is why this module sits on its own, importing nothing): pyarrow then finds no pandas
and works without it.
"""

from __future__ import annotations

import sys
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
