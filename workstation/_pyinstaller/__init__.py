"""PyInstaller hooks for the workstation bundle (used by ``build_installer.py``).

PyInstaller follows ``import`` statements; what the app reaches another way stays behind unless
a hook names it:

* pydicom loads its pixel decoders and encoders by module name at run time;
* pylibjpeg finds its codecs (pylibjpeg-openjpeg, -libjpeg, -rle) through entry points, which
  live in the distributions' metadata, not in code;
* python-gdcm reads its DICOM dictionaries (``_gdcm/XML``) from files beside the module;
* pyjpegls and pylibjpeg ask ``importlib.metadata`` for their own version on import.

``build_installer.py`` passes this folder with ``--additional-hooks-dir``. A distribution may also
announce it to PyInstaller with the ``pyinstaller40`` entry point
(``hook-dirs = "workstation._pyinstaller:get_hook_dirs"``).
"""

from __future__ import annotations

from pathlib import Path

HOOKS_DIR = Path(__file__).resolve().parent


def get_hook_dirs() -> list[str]:
    """The folders holding this package's hooks (PyInstaller's ``pyinstaller40`` contract)."""
    return [str(HOOKS_DIR)]
