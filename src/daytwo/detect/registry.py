"""The detector registry: every detector is a registered definition.

A definition is a stable string id, a frozen params dataclass (its defaults are the product's
choice), a docstring saying what it finds and how, and a pure calculation
``calculate(data, params) -> list[Finding]`` over an :class:`~daytwo.detect.data.AnalysisData`.
The runner, the API, the UI and the docs all read this one registry.

Register with the decorator::

    @detector("slo_breach", name="SLO breach", params=SloParams())
    def detect_slo_breach(data: AnalysisData, params: SloParams) -> list[Finding]:
        \"\"\"What it finds and how.\"\"\"

The built-in detectors live in the modules listed in :data:`BUILTIN_MODULES`;
:func:`load_detectors` imports them (once) so that their decorators run.
"""

from __future__ import annotations

import dataclasses
import importlib
import inspect
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from daytwo.detect.data import AnalysisData, EngineRead
from daytwo.detect.findings import Finding

P = TypeVar("P")

# Modules whose import registers the built-in detectors, in run order.
# A detector package outside this list (knowledge gaps, say) adds its module here.
BUILTIN_MODULES: tuple[str, ...] = (
    "daytwo.detect.degradation",
    "daytwo.detect.slo",
    "daytwo.detect.trend",
    "daytwo.detect.failure_points",
    "daytwo.detect.drift",
    "daytwo.detect.silent",
    "daytwo.detect.feed",
    "daytwo.detect.gaps.detector",
)

_ID = re.compile(r"^[a-z][a-z0-9_]{1,63}$")


@dataclass(frozen=True, slots=True)
class Needs:
    """What a detector reads beyond the interactions table.

    ``turn_columns`` are loaded for every turn of the analysed interactions (``text`` is the
    costly one: ask only where needed), for the baseline and current windows and, where
    ``turn_days`` is larger, the last ``turn_days`` days; ``deliveries`` loads the deliveries
    log; ``assist_events`` the assist events of the analysed interactions (every raw row:
    prefer ``reads``); ``reads`` the tables the engine computes for the detector
    (:class:`~daytwo.detect.data.EngineRead`: aggregates, or the few rows it judges), read
    once per analysis whichever detectors ask for them.
    """

    turn_columns: tuple[str, ...] = ()
    deliveries: bool = False
    assist_events: bool = False
    turn_days: int = 0
    reads: tuple[EngineRead, ...] = ()


@dataclass(frozen=True, slots=True)
class Detector(Generic[P]):
    """One registered detector (see the module docstring)."""

    id: str
    name: str
    calculate: Callable[[AnalysisData, P], list[Finding]]
    params: P
    needs: Needs = Needs()
    # Its cadence in the analysis: 1 runs it on every look; N runs it on a look only when no
    # earlier run of the deployment judged it on data that ended less than N days before
    # (see "Cadence" in docs/detectors.md).
    every_days: int = 1

    @property
    def paced(self) -> bool:
        """Whether it keeps a cadence longer than one look (``every_days`` above 1)."""
        return self.every_days > 1

    @property
    def doc(self) -> str:
        return inspect.cleandoc(self.calculate.__doc__ or "")

    @property
    def summary(self) -> str:
        """The first paragraph of the docstring."""
        return self.doc.split("\n\n", 1)[0].replace("\n", " ")

    def run(self, data: AnalysisData, params: P | None = None) -> list[Finding]:
        """Run the calculation with ``params`` (default: the registered ones)."""
        return self.calculate(data, self.params if params is None else params)

    def param_values(self) -> dict[str, Any]:
        return dataclasses.asdict(self.params)  # type: ignore[call-overload, no-any-return]


_REGISTRY: dict[str, Detector[Any]] = {}
_loaded = False


def register(definition: Detector[Any]) -> Detector[Any]:
    """Add ``definition`` to the registry; an id can be registered only once."""
    if not _ID.match(definition.id):
        raise ValueError(f"detector id {definition.id!r}: use lower_snake_case, 2-64 chars")
    if not dataclasses.is_dataclass(definition.params) or isinstance(definition.params, type):
        raise TypeError(f"detector {definition.id!r}: params must be a dataclass instance")
    if not type(definition.params).__dataclass_params__.frozen:  # type: ignore[attr-defined]
        raise TypeError(f"detector {definition.id!r}: params must be a frozen dataclass")
    if not definition.doc:
        raise ValueError(f"detector {definition.id!r}: the calculation needs a docstring")
    if definition.every_days < 1:
        raise ValueError(f"detector {definition.id!r}: every_days must be at least 1")
    existing = _REGISTRY.get(definition.id)
    if existing is not None and existing.calculate is not definition.calculate:
        raise ValueError(f"detector id {definition.id!r} is already registered")
    _REGISTRY[definition.id] = definition
    return definition


def detector(
    detector_id: str, *, name: str, params: P, needs: Needs = Needs(), every_days: int = 1
) -> Callable[
    [Callable[[AnalysisData, P], list[Finding]]], Callable[[AnalysisData, P], list[Finding]]
]:
    """Decorator form of :func:`register`; returns the calculation unchanged."""

    def wrap(
        calculate: Callable[[AnalysisData, P], list[Finding]],
    ) -> Callable[[AnalysisData, P], list[Finding]]:
        register(Detector(detector_id, name, calculate, params, needs, every_days))
        return calculate

    return wrap


def load_detectors() -> None:
    """Import the built-in detector modules (idempotent)."""
    global _loaded
    if _loaded:
        return
    for module in BUILTIN_MODULES:
        importlib.import_module(module)
    _loaded = True


def detectors() -> list[Detector[Any]]:
    """Every registered detector: the built-ins in the order of :data:`BUILTIN_MODULES`, then
    the contributed ones in registration order.

    Sorted rather than taken as registered: a plugin imported before the built-ins were loaded
    (by whatever a process imported first) would otherwise come first in one process and last
    in another, and the catalog, its docs and each run's order with it."""
    load_detectors()
    rank = {module: i for i, module in enumerate(BUILTIN_MODULES)}
    return sorted(
        _REGISTRY.values(),
        key=lambda d: rank.get(getattr(d.calculate, "__module__", ""), len(rank)),
    )


def get_detector(detector_id: str) -> Detector[Any]:
    load_detectors()
    try:
        return _REGISTRY[detector_id]
    except KeyError:
        known = ", ".join(sorted(_REGISTRY))
        raise KeyError(f"unknown detector {detector_id!r}; known: {known}") from None


def select(ids: Sequence[str] | None) -> list[Detector[Any]]:
    """The detectors named by ``ids`` (all when None), in registry order."""
    if ids is None:
        return detectors()
    return [get_detector(i) for i in ids]
