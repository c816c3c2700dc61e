# ruff: noqa: N999 - PyInstaller names hooks "hook-<module>.py"
"""Hook for ``gdcm`` (python-gdcm): its SWIG extension and its XML dictionaries.

``gdcm.py`` loads ``_gdcm/_gdcmswig.so`` and sets ``GDCM_RESOURCES_PATH`` to ``_gdcm/XML`` next
to itself; in the bundle that is ``_internal/_gdcm/XML``. The ``libgdcm*.so.3.2`` libraries the
extension links are found by PyInstaller's own dependency analysis (through its ``$ORIGIN``
rpath); collecting the folder's libraries as well would add each one a second time under its
unversioned name. The command line tools shipped in ``_gdcm/`` are left out.
"""

from __future__ import annotations

from PyInstaller.utils.hooks import collect_data_files, copy_metadata

hiddenimports: list[str] = ["_gdcm", "_gdcm.gdcmswig", "_gdcm._gdcmswig"]
datas: list[tuple[str, str]] = [
    *collect_data_files("_gdcm", includes=["XML/*.xml"]),
    *copy_metadata("python-gdcm"),
]
