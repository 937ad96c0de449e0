"""Deferred loading of the modules `import mesa` brings in that the model never uses.

Mesa 3.3.1's package import runs ``mesa.space`` (which imports networkx, ~0.1 s) and
``mesa.experimental.continuous_space`` (which imports scipy.spatial, ~0.15 s): about a third
of a model process's imports (docs/benchmarks.md, start-up). The model uses neither spaces
nor graphs. `defer` registers a meta-path finder that gives those modules an
`importlib.util.LazyLoader`: the module object is created and bound at once (so
``mesa.experimental.continuous_space`` exists), and its code runs the first time one of its
attributes is used — by Mesa's visualisation (the explorer), a ``NetworkGrid`` or
``ContinuousSpace``, or a second ``import`` statement of it. Nothing else changes: a
deferred module, once used, is the ordinary module.

The package ``model`` calls `defer` on import (``model/__init__.py``), and ``agents``
imports ``model`` first, so the finder is in place before any ``import mesa`` of this
project. A process that imported mesa before (e.g. ``import mesa; import model``) keeps its
eager modules. Python 3.11's LazyLoader is not thread-safe while a deferred module loads;
the explorer loads them in its main thread when it imports Mesa's visualisation.
"""

from __future__ import annotations

import importlib.abc
import importlib.util
import sys
from collections.abc import Iterable, Sequence
from importlib.machinery import ModuleSpec
from types import ModuleType

UNUSED_BY_MODEL = ("networkx", "mesa.experimental.continuous_space")
# Set before a module's code runs and the same after; reading them does not run it. Mesa's
# module loggers call inspect.stack(), and inspect.getmodule reads __file__ of every module in
# sys.modules: with LazyLoader's own module that would load each deferred module at once.
IMPORT_METADATA = frozenset({"__name__", "__file__", "__cached__", "__spec__", "__loader__",
                             "__package__"})


class _DeferredModule(importlib.util._LazyModule):
    """LazyLoader's module, except that reading its import metadata leaves it deferred."""

    def __getattribute__(self, attr: str) -> object:
        if attr in IMPORT_METADATA:
            return ModuleType.__getattribute__(self, attr)
        return super().__getattribute__(attr)


class DeferringLoader(importlib.util.LazyLoader):
    """LazyLoader whose modules are `_DeferredModule`s."""

    def exec_module(self, module: ModuleType) -> None:
        super().exec_module(module)
        module.__class__ = _DeferredModule


class DeferringFinder(importlib.abc.MetaPathFinder):
    """Finds the listed modules with the other finders on ``sys.meta_path`` and wraps their
    loader in a DeferringLoader; any other name is left to the other finders."""

    def __init__(self, names: Iterable[str]) -> None:
        self.names = frozenset(names)

    def find_spec(self, fullname: str, path: Sequence[str] | None,
                  target: ModuleType | None = None) -> ModuleSpec | None:
        if fullname not in self.names:
            return None
        for finder in sys.meta_path:
            if finder is self or not hasattr(finder, "find_spec"):
                continue
            spec = finder.find_spec(fullname, path, target)
            if spec is not None:
                if spec.loader is not None and hasattr(spec.loader, "exec_module"):
                    spec.loader = DeferringLoader(spec.loader)
                return spec
        return None


def defer(names: Iterable[str] = UNUSED_BY_MODEL) -> DeferringFinder:
    """Load `names` lazily from now on (the first finder on ``sys.meta_path``; idempotent:
    an installed finder is extended, not duplicated). Modules already imported stay as
    they are."""
    for finder in sys.meta_path:
        if isinstance(finder, DeferringFinder):
            finder.names = finder.names | frozenset(names)
            return finder
    finder = DeferringFinder(names)
    sys.meta_path.insert(0, finder)
    return finder


def is_deferred(module: ModuleType) -> bool:
    """Whether `module` is a lazily loaded module whose code has not run yet."""
    return issubclass(type(module), importlib.util._LazyModule)   # type(): no attribute read
