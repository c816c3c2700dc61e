# ruff: noqa: N999 - PyInstaller names hooks "hook-<module>.py"
"""Hook for ``workstation.inference``: the worker's modules and pip-installed plugins.

* The worker process imports :mod:`workstation.inference.worker` by name (through
  ``workstation.inference._bootstrap``), and plugin code, read from ``plugins/`` beside the
  executable at run time, imports ``workstation.inference.worker`` and
  ``workstation.inference.helpers``: no import statement of the app leads PyInstaller to them.
* Plugins installed as distributions announce themselves through the ``workstation.plugins``
  entry point group, which PyInstaller does not collect by itself: each provider's
  ``.dist-info`` (so the entry point exists in the bundle), its package and the package's data
  files (``plugin.toml``, weights, model cards) are collected.
* torch and MONAI stay out, as the build excludes torch. A torch-based module runs in the bundle
  when the site configuration's ``inference.python_paths`` names a folder holding torch (and
  MONAI) for the bundle's Python; those import parts of the standard library the app never does
  (``cmath``, ``pdb``, ...), so the whole standard library is collected (a few MiB).
* The SEG and SR export reads highdicom's tables of the standard (``highdicom/_standard``).
* ``workstation.inference.testing`` (pytest fixtures) stays out.
"""

from __future__ import annotations

import importlib.util
import pkgutil
import sys
from pathlib import Path

from PyInstaller.utils.hooks import collect_data_files, collect_entry_point, collect_submodules

_GROUP = "workstation.plugins"
_TEST_ONLY = "workstation.inference.testing"
#: Parts of the standard library no module needs in the worker (and the build's exclusions).
_NOT_NEEDED = {
    "antigravity",
    "distutils",
    "ensurepip",
    "idlelib",
    "lib2to3",
    "pydoc_data",
    "test",
    "this",
    "tkinter",
    "turtle",
    "turtledemo",
    "venv",
}


def _standard_library() -> list[str]:
    """Every module of the standard library installed here, found without importing any."""
    names = []
    for name in sorted(sys.stdlib_module_names):
        if name in _NOT_NEEDED or name.startswith("_tkinter"):
            continue
        spec = importlib.util.find_spec(name)
        if spec is None:
            continue  # another platform's (winreg, msvcrt, ...)
        names.append(name)
        names += _submodules(name, list(spec.submodule_search_locations or []))
    return names


def _submodules(package: str, locations: list[str]) -> list[str]:
    found = []
    for module in pkgutil.iter_modules(locations):
        if module.name in ("test", "tests", "idle_test"):
            continue
        name = f"{package}.{module.name}"
        found.append(name)
        if module.ispkg:
            found += _submodules(name, [str(Path(where) / module.name) for where in locations])
    return found


def _collect() -> tuple[list[tuple[str, str]], list[str]]:
    datas, packages = collect_entry_point(_GROUP)
    modules = collect_submodules("workstation.inference", filter=lambda name: name != _TEST_ONLY)
    for package in dict.fromkeys(packages):
        modules += collect_submodules(package)
        datas += collect_data_files(package)
    datas += collect_data_files("highdicom")
    return list(datas), sorted({*modules, *_standard_library()})


datas, hiddenimports = _collect()
excludedimports: list[str] = ["torch", "monai", "pytest"]
