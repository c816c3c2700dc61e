# ruff: noqa: N999 - PyInstaller names hooks "hook-<module>.py"
"""Hook for ``workstation``: pydicom's pixel plugins, which pydicom imports by name at run time.

``pydicom.pixels.decoders.base`` and ``pydicom.pixels.encoders.base`` register their plugins as
strings (``"pydicom.pixels.decoders.gdcm"``) and import them on first use, so no import statement
leads PyInstaller to them. They are listed from pydicom's installed files, without importing
pydicom, so a pydicom release that adds a plugin is covered too.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

_PLUGIN_PACKAGES = ("pydicom.pixels.decoders", "pydicom.pixels.encoders")
_NOT_PLUGINS = {"__init__", "base"}


def _pydicom_root() -> Path:
    spec = importlib.util.find_spec("pydicom")
    if spec is None or spec.origin is None:
        raise ImportError("pydicom is not installed: the workstation cannot read DICOM without it")
    return Path(spec.origin).parent


def _plugin_modules(package: str) -> list[str]:
    folder = _pydicom_root().joinpath(*package.split(".")[1:])
    return sorted(
        f"{package}.{path.stem}" for path in folder.glob("*.py") if path.stem not in _NOT_PLUGINS
    )


hiddenimports: list[str] = [name for pkg in _PLUGIN_PACKAGES for name in _plugin_modules(pkg)]
