"""Packaging written files as a user receives them: a zip archive or DICOM media with a DICOMDIR."""

from __future__ import annotations

import os
import zipfile
from collections.abc import Iterable
from pathlib import Path

from pydicom.fileset import FileSet


def _dicom_files(directory: Path) -> list[Path]:
    """Files under ``directory`` carrying the DICM preamble marker (PS3.10 §7.1), sorted."""
    found = []
    for path in sorted(p for p in directory.rglob("*") if p.is_file()):
        with path.open("rb") as stream:
            if stream.read(132)[128:] == b"DICM":
                found.append(path)
    return found


def make_zip(files_or_dir: Path | Iterable[Path], zip_path: Path) -> Path:
    """Write a deflated zip archive of a folder (recursively) or of a list of files.

    Members keep their path relative to the folder, or to the files' common parent, so a zip
    of a study holds its series folders as the user made them.

    Returns
    -------
    Path
        ``zip_path``.
    """
    if isinstance(files_or_dir, Path | str) and Path(files_or_dir).is_dir():
        root = Path(files_or_dir)
        files = sorted(p for p in root.rglob("*") if p.is_file())
    else:
        files = [
            Path(f)
            for f in ([files_or_dir] if isinstance(files_or_dir, Path | str) else files_or_dir)
        ]
        if not files:
            raise ValueError("make_zip needs at least one file")
        root = Path(os.path.commonpath([f.resolve().parent for f in files]))
    zip_path = Path(zip_path)
    zip_path.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(zip_path, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for file in files:
            archive.write(file, file.resolve().relative_to(root.resolve()).as_posix())
    return zip_path


def make_dicomdir(directory: Path, files: Iterable[Path] | None = None) -> Path:
    """Lay DICOM files out as on real media, with a DICOMDIR (PS3.10 §8, PS3.3 F).

    The files get 8-character upper-case file IDs in a PATIENT/STUDY/SERIES/IMAGE hierarchy
    (``PT000000/ST000000/SE000000/IM000000``), as CDs and USB exports from modalities have.

    Parameters
    ----------
    directory:
        The media root. Without ``files``, the DICOM files already below it are moved into the
        media layout (their old paths disappear).
    files:
        DICOM files to copy onto the media at ``directory`` (left where they are).

    Returns
    -------
    Path
        The ``DICOMDIR`` file.
    """
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    moving = files is None
    sources = _dicom_files(directory) if files is None else [Path(f) for f in files]
    if not sources:
        raise ValueError(f"no DICOM files to put on media at {directory}")
    file_set = FileSet()
    for source in sources:
        file_set.add(source)
    # FileSet.write copies each instance to its file ID under the root.
    file_set.write(directory)
    if moving:
        staged = {Path(instance.path).resolve() for instance in file_set}
        for source in sources:
            if source.resolve() not in staged:
                source.unlink(missing_ok=True)
        _remove_empty_folders(directory)
    return directory / "DICOMDIR"


def _remove_empty_folders(root: Path) -> None:
    for folder in sorted((p for p in root.rglob("*") if p.is_dir()), reverse=True):
        if not any(folder.iterdir()):
            folder.rmdir()
