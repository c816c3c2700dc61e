# ruff: noqa: N999 - PyInstaller names hooks "hook-<module>.py"
"""Hook for ``pylibjpeg``: the codecs it discovers through entry points.

pylibjpeg looks its decoders and encoders up with ``importlib.metadata.entry_points`` in groups
named ``pylibjpeg.*`` (``pylibjpeg.pixel_data_decoders``, ``pylibjpeg.jpeg_2000_decoders``, ...),
which pylibjpeg-openjpeg, pylibjpeg-libjpeg and pylibjpeg-rle declare. Each group found among the
installed distributions is collected: the providers' ``.dist-info`` (so the entry points exist in
the bundle) and the modules they name (``openjpeg``, ``libjpeg``, ``rle``).
"""

from __future__ import annotations

from importlib.metadata import distributions

from PyInstaller.utils.hooks import collect_entry_point, copy_metadata

_GROUP_PREFIX = "pylibjpeg."


def _groups() -> list[str]:
    groups = {ep.group for dist in distributions() for ep in dist.entry_points}
    return sorted(group for group in groups if group.startswith(_GROUP_PREFIX))


def _collect() -> tuple[list[tuple[str, str]], list[str]]:
    datas: list[tuple[str, str]] = list(copy_metadata("pylibjpeg"))  # its __version__ reads it
    modules: set[str] = set()
    for group in _groups():
        group_datas, group_modules = collect_entry_point(group)
        datas += [entry for entry in group_datas if entry not in datas]
        modules.update(group_modules)
    return datas, sorted(modules)


datas, hiddenimports = _collect()
