"""Finding the DICOM objects under a path: a file, a folder tree, a zip archive, DICOMDIR media."""

from __future__ import annotations

import os
import warnings
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from workstation.core.errors import DicomFileError, ErrorCode, FileError
from workstation.io.limits import DEFAULT_LIMITS, Limits
from workstation.io.reader import parse_with_pydicom
from workstation.io.sources import FileSource, Source, ZipArchive


@dataclass
class Discovery:
    sources: list[Source] = field(default_factory=list)
    errors: list[FileError] = field(default_factory=list)
    archives: list[ZipArchive] = field(default_factory=list)


def discover(path: Path, limits: Limits = DEFAULT_LIMITS) -> Discovery:
    """Every candidate object under ``path`` (nothing is parsed beyond DICOMDIR records)."""
    found = Discovery()
    if path.is_dir():
        for file_path, name in _walk(path):
            if name.upper().endswith(".ZIP"):
                _add_archive(Path(file_path), found, limits)
            else:
                found.sources.append(FileSource(file_path))
            if len(found.sources) > limits.max_files:
                found.errors.append(
                    FileError(str(path), ErrorCode.TOO_LARGE, f"more than {limits.max_files} files")
                )
                break
    elif path.is_file():
        _add_file(path, found, limits)
    else:
        found.errors.append(FileError(str(path), ErrorCode.NOT_DICOM, "no such file or folder"))
    return found


def _walk(root: Path) -> Iterator[tuple[str, str]]:
    """Paths and names of the files below ``root`` in a stable order; symbolic links to folders
    are not followed. Paths stay strings: a Path per file costs more than reading its header."""
    for folder, subfolders, files in os.walk(root, followlinks=False):
        subfolders.sort()
        # Below ".", paths read as Path(".", name) does: "name", "sub/name".
        prefix = "" if folder == "." else os.path.join(folder.removeprefix("./"), "")  # noqa: PTH118
        for name in sorted(files):
            yield prefix + name, name


def _add_file(path: Path, found: Discovery, limits: Limits) -> None:
    """A file named on its own: an archive, a DICOMDIR or one object."""
    name = path.name.upper()
    if name.endswith(".ZIP") or zipfile.is_zipfile(path):
        _add_archive(path, found, limits)
    elif name == "DICOMDIR":
        _add_dicomdir(path, found, limits)
    else:
        found.sources.append(FileSource(path))


def _add_archive(path: Path, found: Discovery, limits: Limits) -> None:
    archive = ZipArchive(path, limits)
    try:
        members = archive.members()
    except DicomFileError as error:
        found.errors.append(error.at(str(path)))
        return
    found.archives.append(archive)
    found.sources.extend(members)


def _add_dicomdir(path: Path, found: Discovery, limits: Limits) -> None:
    """The files a DICOMDIR references (PS3.10 §8, PS3.3 F.5): never outside its folder."""
    try:
        size = path.stat().st_size
        if size > limits.max_inflated_bytes:
            raise DicomFileError(ErrorCode.TOO_LARGE, "DICOMDIR is too large")
        dataset = parse_with_pydicom(path.read_bytes(), force=False)
        file_ids = _referenced_file_ids(dataset)
    except DicomFileError as error:
        found.errors.append(error.at(str(path)))
        return
    except OSError as exc:
        found.errors.append(FileError(str(path), ErrorCode.CORRUPT, f"cannot read: {exc}"))
        return
    root = path.parent.resolve()
    seen: set[Path] = set()
    for file_id in file_ids:
        components = [file_id] if isinstance(file_id, str) else list(file_id)
        target = _resolve_file_id(root, [str(c) for c in components])
        if target is None:
            found.errors.append(
                FileError(
                    f"{path}:{'/'.join(str(c) for c in components)}",
                    ErrorCode.CORRUPT,
                    "DICOMDIR references a file that is missing or outside the media folder",
                )
            )
        elif target not in seen:
            seen.add(target)
            found.sources.append(FileSource(target))


def _referenced_file_ids(dataset: Any) -> list[Any]:
    """Referenced File ID of every record; pydicom's warnings about odd values are ours now."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            records = dataset.get("DirectoryRecordSequence", []) or []
            return [r.ReferencedFileID for r in records if r.get("ReferencedFileID")]
        except Exception as exc:
            raise DicomFileError(ErrorCode.CORRUPT, f"malformed DICOMDIR: {exc}") from exc


def _resolve_file_id(root: Path, components: list[str]) -> Path | None:
    """The file a Referenced File ID names, matched case-insensitively as media often need."""
    current = root
    for component in components:
        if not component or component in (".", "..") or any(c in component for c in "/\\:\0"):
            return None
        candidate = current / component
        if not candidate.exists():
            try:
                matches = [e.name for e in current.iterdir() if e.name.upper() == component.upper()]
            except OSError:
                return None
            if not matches:
                return None
            candidate = current / matches[0]
        current = candidate
    resolved = current.resolve()
    if not resolved.is_file() or not resolved.is_relative_to(root):
        return None
    return resolved
