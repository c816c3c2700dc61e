# ruff: noqa: N999 - PyInstaller names hooks "hook-<module>.py"
"""Hook for ``workstation.collab.server``: its Alembic migrations.

Alembic reads the migration scripts (and ``script.py.mako``) as files from the ``migrations``
folder at run time, by path: no import statement leads PyInstaller to them, so they are
collected as data, Python sources included.
"""

from __future__ import annotations

from PyInstaller.utils.hooks import collect_data_files

datas = collect_data_files(
    "workstation.collab.server", include_py_files=True, includes=["migrations/**"]
)
hiddenimports: list[str] = [
    "alembic.runtime.migration",
    "alembic.ddl.sqlite",
    "alembic.ddl.postgresql",
]
