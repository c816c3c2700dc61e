# ruff: noqa: N999 - PyInstaller names hooks "hook-<module>.py"
"""Hook for ``jpeg_ls`` (pyjpegls): the CharLS extension and the metadata it reads on import.

``jpeg_ls/__init__.py`` calls ``importlib.metadata.version("pyjpegls")`` and imports the
top-level extension ``_CharLS``.
"""

from __future__ import annotations

from PyInstaller.utils.hooks import copy_metadata

hiddenimports: list[str] = ["_CharLS"]
datas: list[tuple[str, str]] = list(copy_metadata("pyjpegls"))
