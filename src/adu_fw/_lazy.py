"""Deferred imports for the command line: a module is loaded when first used, not when imported.

``adu-fw tags lookup`` must answer in a fraction of a second, and pyarrow alone takes about
0.1 s to import; the modules that use it for columns (``ip``, ``flowtable``, ...) import it at
the top, as they should. ``defer("pyarrow")`` puts a stand-in module in ``sys.modules``: an
``import pyarrow`` binds the stand-in, and the first attribute looked up on it imports the real
module, which then replaces it in ``sys.modules`` and lends it its namespace. (The standard
``importlib.util.LazyLoader`` does not help here: the ``import`` statement itself reads the
module's ``__spec__``, which makes a lazy module load.) Only the CLI entry point calls it; a
library import is unchanged.
"""
from __future__ import annotations

import importlib
import importlib.util
import sys
import types
from typing import Any

__all__ = ["defer"]


class _Deferred(types.ModuleType):
    def __init__(self, name: str, spec: Any) -> None:
        super().__init__(name)
        self.__spec__ = spec  # what `import name` reads (not initializing: the statement returns us)

    def __getattr__(self, attr: str) -> Any:  # only called for names not yet in our namespace
        return getattr(_load(self.__name__), attr)


def _load(name: str) -> types.ModuleType:
    stand_in = sys.modules.get(name)
    if isinstance(stand_in, _Deferred):
        del sys.modules[name]
    real = importlib.import_module(name)
    if isinstance(stand_in, _Deferred):
        stand_in.__dict__.update(real.__dict__)  # modules holding the stand-in now see the real names
    return real


def defer(name: str) -> None:
    """Make ``import name`` cheap until first use (no effect when already imported or not installed)."""
    if name in sys.modules:
        return
    spec = importlib.util.find_spec(name)
    if spec is None:
        return
    sys.modules[name] = _Deferred(name, spec)
