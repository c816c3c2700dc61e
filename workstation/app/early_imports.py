"""Imports the application orders so that no package is ever imported half-way.

Two hazards, both seen as "cannot import name … from partially initialized module":

* **Threads.** pydicom (and pynetdicom over it) import their own package from inside its
  submodules. When two threads import such a package for the first time at once — the window
  opening the demo on the GUI thread while the storage SCP starts on another — Python's import
  deadlock detection hands one of them the half-built module. :func:`settle_imports` imports
  them under one lock: every thread the application starts calls it first, so the first import
  happens once, whole, and the others wait for it (a no-op once done).
* **Qt's import hook.** PySide6, once its feature machinery has started, reads the source of
  every newly imported module and probes it for ``__wrapped__``; pydantic answers that probe on
  several modules by importing ``pydantic._internal._validators``, which fails while that very
  module is being imported. pydantic is therefore imported past that hook: before Qt by
  :func:`settle_lazy_modules` where the application starts, and by :func:`settle_imports`
  wherever Qt is already there.
"""

from __future__ import annotations

import builtins
import importlib
import sys
import threading

#: Packages that import themselves from their submodules, imported first by several threads.
DICOM = "pydicom"
DIMSE = "pynetdicom"
PYDANTIC = "pydantic._internal._validators"
#: Our DICOM engine and the library's importer: not needed for the window's first paint, so
#: imported just after it (or by the first thread that needs them), whole, under the lock.
ENGINE = "workstation.io.progressive"  # reading, assembling and loading stacks
LIBRARY_IMPORT = "workstation.pacs.importer"  # ... and indexing files into the library

_lock = threading.Lock()


def settle_lazy_modules() -> None:
    """Import what Qt's import hook would otherwise catch half-initialised (about 40 ms)."""
    with _lock:
        _import_past_qt_hook(PYDANTIC)


def _import_past_qt_hook(name: str) -> None:
    """Import ``name`` with Python's own import machinery instead of PySide6's hook.

    PySide6 replaces ``builtins.__import__`` with a function that inspects each new module;
    for pydantic that inspection re-enters pydantic's import (see the module's note). The
    hook only records whether a module uses Qt's optional "features", which none of these
    does, so importing them past it loses nothing. Other threads importing meanwhile also go
    past it, with the same effect.
    """
    hook = builtins.__import__
    builtins.__import__ = importlib.__import__
    try:
        importlib.import_module(name)
    finally:
        builtins.__import__ = hook


def _complete(name: str) -> bool:
    module = sys.modules.get(name)
    spec = getattr(module, "__spec__", None)
    return module is not None and not getattr(spec, "_initializing", False)


def settle_imports(*names: str) -> None:
    """Import ``names`` (e.g. :data:`DICOM`) whole before a thread uses them.

    Call it first in every thread the application starts, with the packages that thread will
    use, and before the GUI thread's first DICOM work; it returns at once when they are already
    imported.
    """
    if all(_complete(name) for name in names):
        return
    with _lock:
        for name in names:
            if name == PYDANTIC:
                _import_past_qt_hook(name)
            else:
                importlib.import_module(name)
