"""The pipeline's plugins: the product's own consumers and any installed ones, loaded once.

The product's consumers are the modules in :data:`DEFAULT_CONSUMERS`, in the order they run;
an outside package plugs in the same way through a ``daytwo`` entry point::

    [project.entry-points.daytwo]
    my_consumer = "my_package.daytwo_plugin"

Outside consumers run after the product's, ordered by entry-point name.
"""

from __future__ import annotations

import importlib
import threading
from typing import Any

import pluggy

from daytwo.detect.registry import Detector, load_detectors, register
from daytwo.pipeline import hookspecs

# The product's own consumers of an analysis, in the order they run: the backlog first (an
# item per problem), then what reads the backlog. A new domain adds its module here.
DEFAULT_CONSUMERS: tuple[str, ...] = (
    "daytwo.backlog.consumer",
    "daytwo.plan.consumer",
    "daytwo.adoption.plugin",
    "daytwo.notify.consumer",
)
# The entry-point group outside plugins register under.
ENTRY_POINT_GROUP = hookspecs.PROJECT

_lock = threading.Lock()
_manager: pluggy.PluginManager | None = None


def plugin_manager() -> pluggy.PluginManager:
    """The pipeline's plugin manager, built on first use (see :func:`build_plugin_manager`)."""
    global _manager
    with _lock:
        if _manager is None:
            _manager = build_plugin_manager()
        return _manager


def build_plugin_manager() -> pluggy.PluginManager:
    """A plugin manager with the product's consumers, then the installed ``daytwo`` entry
    points, registered the same way; the detectors they contribute join the registry."""
    manager = pluggy.PluginManager(hookspecs.PROJECT)
    manager.add_hookspecs(hookspecs)
    for name in DEFAULT_CONSUMERS:
        manager.register(importlib.import_module(name), name=name)
    manager.load_setuptools_entrypoints(ENTRY_POINT_GROUP)
    _register_detectors(manager)
    return manager


def _register_detectors(manager: pluggy.PluginManager) -> None:
    load_detectors()  # the built-in detectors first, so they keep running first
    for impl in consumers(manager, "register_detectors"):
        contributed: Any = impl.function()
        for definition in contributed or ():
            if not isinstance(definition, Detector):
                raise TypeError(
                    f"plugin {impl.plugin_name!r}: register_detectors must return Detector "
                    f"definitions, not {type(definition).__name__}"
                )
            try:
                register(definition)
            except ValueError as exc:
                raise ValueError(f"plugin {impl.plugin_name!r}: {exc}") from None


def consumers(manager: pluggy.PluginManager, hook: str) -> list[pluggy.HookImpl]:
    """The implementations of ``hook``, in the declared order: :data:`DEFAULT_CONSUMERS`
    first in their listed order, then every other plugin by name."""
    impls: list[pluggy.HookImpl] = getattr(manager.hook, hook).get_hookimpls()

    def position(impl: pluggy.HookImpl) -> tuple[int, str]:
        name = impl.plugin_name
        if name in DEFAULT_CONSUMERS:
            return (DEFAULT_CONSUMERS.index(name), name)
        return (len(DEFAULT_CONSUMERS), name)

    return sorted(impls, key=position)
